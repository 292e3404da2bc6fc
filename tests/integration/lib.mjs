// lib.mjs -- helpers for leakproxy's integration tests (Node built-ins only).
//
// Each test starts its own fake upstream (a raw node:net server, so the test
// controls every byte it sends and sees every byte the proxy forwarded), its
// own leakproxy on port 0 (ports read back from stderr), and raw-socket
// clients. Everything a test starts is registered with its context and torn
// down in reverse order when the test ends, passes or fails; a process-exit
// hook kills whatever is left if the runner itself dies.

import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test as nodeTest } from 'node:test';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.resolve(ROOT, process.env.LEAKPROXY_BIN || './leakproxy');
export const VERBOSE = !!process.env.LEAKPROXY_IT_VERBOSE;

// Prints a measurement when LEAKPROXY_IT_VERBOSE is set.
export function note(msg) { if (VERBOSE) console.log(`  # ${msg}`); }

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------
// Cases are node:test tests (run with `node --test`, any reporter,
// --test-name-pattern). Each gets a Ctx that owns what it starts; the case's
// own timeout races it so that cleanup runs even when it hangs, and whatever
// the cleanup finds (a sanitizer report, a proxy that would not stop) fails
// the case. skip(msg) inside a case marks it skipped with the reason.
// opts.long: the case runs only in `make test-long` (LEAKPROXY_IT_LONG=1);
// `make test` does not register it at all (it is neither run nor skipped).

export const LONG = !!process.env.LEAKPROXY_IT_LONG;

export function test(name, fn, opts = {}) {
  if (opts.long && !LONG) return;
  const timeout = opts.timeout ?? 20000;
  // node:test's own timeout is a backstop behind ours and the cleanup's
  nodeTest(name, { timeout: timeout + 60000 }, async (t) => {
    const ctx = new Ctx(name);
    const start = Date.now();
    let err = null, skipped = null, todo = null, timer;
    try {
      await Promise.race([
        Promise.resolve().then(() => fn(ctx)),
        new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${timeout} ms`)), timeout); }),
      ]);
    } catch (e) {
      if (e && e.skip) skipped = e.message;
      else if (e && e.todo) todo = e.message;
      else err = e;
    } finally { clearTimeout(timer); }
    await ctx.cleanup();
    if (VERBOSE) t.diagnostic(`${Date.now() - start} ms`);
    if (!err && !skipped && ctx.problems.length) err = new Error(ctx.problems.join('; '));
    if (err && VERBOSE)
      for (const p of ctx.proxies) t.diagnostic(`proxy stderr:\n${p.stderrTail(15)}`);
    if (err) throw err;
    if (skipped) t.skip(skipped);
    if (todo) t.todo(todo);
  });
}

// ---------------------------------------------------------------------------
// Last-resort cleanup: children and temp dirs left when the runner exits.

const liveChildren = new Set();
const liveTmpDirs = new Set();
process.on('exit', () => {
  for (const c of liveChildren) { try { c.kill('SIGKILL'); } catch {} }
  for (const d of liveTmpDirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch {} }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { process.exit(130); });
}

export function makeTmpDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'leakproxy-it-'));
  liveTmpDirs.add(d);
  return { dir: d, remove() { fs.rmSync(d, { recursive: true, force: true }); liveTmpDirs.delete(d); } };
}

// ---------------------------------------------------------------------------
// Incremental HTTP/1.1 message parser, strict on purpose: it is the judge of
// what leakproxy emits (to the upstream and to clients), so bare LFs, bad
// chunk sizes or CL+TE in a message are reported as errors, not tolerated.

export class ParseError extends Error {}

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

function parseHeaderLines(lines, where) {
  const headers = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line)) throw new ParseError(`${where}: obs-fold header line ${JSON.stringify(line)}`);
    const i = line.indexOf(':');
    if (i <= 0) throw new ParseError(`${where}: bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, i);
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new ParseError(`${where}: bad header name ${JSON.stringify(name)}`);
    const value = line.slice(i + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new ParseError(`${where}: control byte in header ${name}`);
    headers.push([name, value]);
  }
  return headers;
}

export function hdrAll(msg, name) {
  const n = name.toLowerCase();
  return msg.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}
export function hdr(msg, name) {
  const all = hdrAll(msg, name);
  return all.length ? all.join(', ') : undefined;
}

// kind: 'request' | 'response'. For responses, nextMethod() says which method
// the response answers (HEAD has no body). Emits messages through onMessage,
// 1xx responses through onInterim, and the head of each message through onHead.
export class H1Parser {
  constructor(kind, { onMessage, onInterim, onHead, nextMethod, maxHead = 1 << 20 } = {}) {
    this.kind = kind;
    this.onMessage = onMessage || (() => {});
    this.onInterim = onInterim || (() => {});
    this.onHead = onHead || (() => {});
    this.nextMethod = nextMethod || (() => 'GET');
    this.maxHead = maxHead;
    this.buf = Buffer.alloc(0);
    this.state = 'head';
    this.msg = null;
    this.error = null;
    this.eof = false;
  }

  feed(chunk) {
    if (this.error) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    try { this._run(); } catch (e) { this.error = e; }
  }

  // The peer closed. Completes a close-delimited body; anything else
  // unfinished is an error (reported as `truncated`).
  end() {
    if (this.error || this.eof) return;
    this.eof = true;
    if (this.state === 'close-body') {
      this.msg.bodyChunks.push(this.buf);
      this.buf = Buffer.alloc(0);
      this._finish();
    } else if (this.state !== 'head' || this.buf.length) {
      this.truncated = { state: this.state, msg: this.msg, pending: this.buf.length };
      this.error = new ParseError(`connection closed in the middle of a message (state ${this.state})`);
      this.error.truncated = true;
    }
  }

  _finish() {
    const m = this.msg;
    m.body = Buffer.concat(m.bodyChunks);
    delete m.bodyChunks;
    m.endTime = Date.now();
    this.msg = null;
    this.state = 'head';
    this.onMessage(m);
  }

  _run() {
    for (;;) {
      switch (this.state) {
        case 'head': {
          if (this.kind === 'request') {
            // tolerate CRLFs between requests (RFC 9112 2.2)
            while (this.buf.length >= 2 && this.buf[0] === 13 && this.buf[1] === 10) this.buf = this.buf.subarray(2);
          }
          const end = this.buf.indexOf(CRLFCRLF);
          if (end < 0) {
            if (this.buf.length > this.maxHead) throw new ParseError(`header block over ${this.maxHead} bytes`);
            // a bare LF terminator would never match: detect it early
            if (this.buf.indexOf('\n\n') >= 0 && this.buf.indexOf('\r\n') < 0) throw new ParseError('bare LF line endings');
            return;
          }
          const rawHead = this.buf.subarray(0, end + 4);
          const text = rawHead.subarray(0, end).toString('latin1');
          this.buf = this.buf.subarray(end + 4);
          const lines = text.split('\r\n');
          for (const l of lines) if (l.includes('\n') || l.includes('\r')) throw new ParseError(`bare LF/CR inside the head: ${JSON.stringify(l)}`);
          const first = lines.shift();
          const m = { rawHead: rawHead.toString('latin1'), bodyChunks: [], startTime: Date.now() };
          if (this.kind === 'request') {
            const r = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(\d\.\d)$/.exec(first);
            if (!r) throw new ParseError(`bad request line ${JSON.stringify(first)}`);
            m.method = r[1]; m.target = r[2]; m.version = r[3];
          } else {
            const r = /^HTTP\/(\d\.\d) (\d{3}) ?(.*)$/.exec(first);
            if (!r) throw new ParseError(`bad status line ${JSON.stringify(first)}`);
            m.version = r[1]; m.status = +r[2]; m.reason = r[3];
          }
          m.headers = parseHeaderLines(lines, this.kind);
          const te = hdr(m, 'transfer-encoding');
          const cls = hdrAll(m, 'content-length');
          if (te !== undefined && cls.length) throw new ParseError(`${this.kind} has both Transfer-Encoding and Content-Length`);
          if (this.kind === 'response' && m.status >= 100 && m.status < 200) {
            this.onInterim(m);
            continue;
          }
          this.msg = m;
          const method = this.kind === 'response' ? this.nextMethod() : m.method;
          m.forMethod = method;
          this.onHead(m);
          const noBody = this.kind === 'response' &&
            (method === 'HEAD' || m.status === 204 || m.status === 304);
          if (noBody) { m.framing = 'none'; this._finish(); continue; }
          if (te !== undefined) {
            const codings = te.split(',').map((s) => s.trim().toLowerCase());
            if (codings[codings.length - 1] !== 'chunked' || codings.filter((c) => c === 'chunked').length !== 1)
              throw new ParseError(`unsupported Transfer-Encoding ${JSON.stringify(te)}`);
            m.framing = 'chunked';
            this.state = 'chunk-size';
            continue;
          }
          if (cls.length) {
            const vals = new Set(cls.flatMap((v) => v.split(',').map((s) => s.trim())));
            if (vals.size !== 1) throw new ParseError(`conflicting Content-Length ${JSON.stringify(cls)}`);
            const v = [...vals][0];
            if (!/^\d{1,15}$/.test(v)) throw new ParseError(`bad Content-Length ${JSON.stringify(v)}`);
            m.framing = 'length';
            this.remaining = Number(v);
            if (this.remaining === 0) { this._finish(); continue; }
            this.state = 'length-body';
            continue;
          }
          if (this.kind === 'request') { m.framing = 'none'; this._finish(); continue; }
          m.framing = 'close';
          this.state = 'close-body';
          continue;
        }
        case 'length-body': {
          if (!this.buf.length) return;
          const n = Math.min(this.remaining, this.buf.length);
          this.msg.bodyChunks.push(this.buf.subarray(0, n));
          this.buf = this.buf.subarray(n);
          this.remaining -= n;
          if (this.remaining === 0) this._finish();
          continue;
        }
        case 'close-body': {
          if (this.buf.length) { this.msg.bodyChunks.push(this.buf); this.buf = Buffer.alloc(0); }
          return;
        }
        case 'chunk-size': {
          const e = this.buf.indexOf(CRLF);
          if (e < 0) {
            if (this.buf.length > 4096) throw new ParseError('chunk-size line too long');
            if (this.buf.indexOf(10) >= 0) throw new ParseError('bare LF after chunk size');
            return;
          }
          const line = this.buf.subarray(0, e).toString('latin1');
          this.buf = this.buf.subarray(e + 2);
          const r = /^([0-9a-fA-F]{1,15})[ \t]*(;.*)?$/.exec(line);
          if (!r) throw new ParseError(`bad chunk size line ${JSON.stringify(line)}`);
          const size = parseInt(r[1], 16);
          this.msg.chunkSizes = this.msg.chunkSizes || [];
          this.msg.chunkSizes.push(size);
          if (size === 0) { this.state = 'trailers'; this.msg.trailers = []; continue; }
          this.remaining = size;
          this.state = 'chunk-data';
          continue;
        }
        case 'chunk-data': {
          if (!this.buf.length) return;
          const n = Math.min(this.remaining, this.buf.length);
          this.msg.bodyChunks.push(this.buf.subarray(0, n));
          this.buf = this.buf.subarray(n);
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'chunk-crlf';
          continue;
        }
        case 'chunk-crlf': {
          if (this.buf.length < 2) return;
          if (this.buf[0] !== 13 || this.buf[1] !== 10) throw new ParseError('missing CRLF after chunk data');
          this.buf = this.buf.subarray(2);
          this.state = 'chunk-size';
          continue;
        }
        case 'trailers': {
          const e = this.buf.indexOf(CRLF);
          if (e < 0) return;
          const line = this.buf.subarray(0, e).toString('latin1');
          this.buf = this.buf.subarray(e + 2);
          if (line === '') { this._finish(); continue; }
          this.msg.trailers.push(...parseHeaderLines([line], 'trailer'));
          continue;
        }
        default:
          throw new Error(`parser state ${this.state}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Fake upstream: a raw TCP server that parses what the proxy forwards,
// records it, and lets a per-request handler answer with arbitrary bytes.
//
// handler(req, res) may be async; requests on one connection are handled in
// order. res: write(bytes), end(), destroy(), reset() (RST), send(status,
// headers, body), sendChunked(status, headers, chunks), conn (connection id).

export function respond(status, headers = [], body = '', { reason } = {}) {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const hasLen = headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k));
  let head = `HTTP/1.1 ${status} ${reason ?? REASONS[status] ?? 'X'}\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  if (!hasLen && status !== 204 && status !== 304) head += `Content-Length: ${b.length}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), b]);
}

export function chunked(chunks) {
  const parts = [];
  for (const c of chunks) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
    if (!b.length) continue;
    parts.push(Buffer.from(b.length.toString(16) + '\r\n'), b, CRLF);
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

const REASONS = { 100: 'Continue', 200: 'OK', 201: 'Created', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found', 304: 'Not Modified', 400: 'Bad Request', 404: 'Not Found', 500: 'Internal Server Error', 503: 'Service Unavailable' };

export async function defaultHandler(req, res) {
  res.send(200, [['Content-Type', 'text/plain']], `ok ${req.method} ${req.target}`);
}

export async function startUpstream(handler = defaultHandler, { host = '127.0.0.1' } = {}) {
  const up = {
    requests: [],        // every complete request, in arrival order
    heads: [],           // every request head seen (even if its body never completed)
    conns: [],           // { id, socket, closed, requests }
    errors: [],          // parse errors on the upstream side (what the proxy sent was malformed)
    rawBytes: 0,
    handler,
    waiters: new Set(),
    get connections() { return this.conns.length; },
  };
  const notify = () => { for (const w of up.waiters) w(); };
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const conn = { id: up.conns.length + 1, socket: sock, closed: false, requests: 0, raw: [] };
    up.conns.push(conn);
    let chain = Promise.resolve();
    const parser = new H1Parser('request', {
      onHead: (m) => {
        m.conn = conn.id; up.heads.push(m); notify();
        // like Node's http server: answer Expect: 100-continue if the proxy forwarded it
        if (/^100-continue$/i.test(hdr(m, 'expect') || '') && (hdr(m, 'transfer-encoding') || +(hdr(m, 'content-length') || 0) > 0) && !up.no100) sock.write('HTTP/1.1 100 Continue\r\n\r\n');
      },
      onMessage: (m) => {
        m.conn = conn.id;
        m.index = conn.requests++;
        up.requests.push(m);
        notify();
        chain = chain.then(async () => {
          if (sock.destroyed) return;
          const res = makeRes(sock, conn);
          try { await up.handler(m, res); } catch (e) { up.errors.push(e); sock.destroy(); }
        });
      },
    });
    sock.on('data', (d) => {
      up.rawBytes += d.length;
      conn.raw.push(d);
      parser.feed(d);
      if (parser.error) { up.errors.push(parser.error); sock.destroy(); }
    });
    sock.on('error', () => {});
    sock.on('close', () => { conn.closed = true; notify(); });
    notify();
  });
  function makeRes(sock, conn) {
    return {
      conn: conn.id,
      socket: sock,
      write(b) { if (!sock.destroyed) sock.write(b); },
      end() { if (!sock.destroyed) sock.end(); },
      destroy() { sock.destroy(); },
      reset() { if (!sock.destroyed) sock.resetAndDestroy(); },
      send(status, headers, body, o) { this.write(respond(status, headers, body, o)); },
      sendChunked(status, headers, chunks) {
        this.write(respond(status, [...headers, ['Transfer-Encoding', 'chunked']]));
        this.write(chunked(chunks));
      },
    };
  }
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  up.port = server.address().port;
  up.server = server;
  // Waits until cond() is true (re-checked on every upstream event).
  up.waitFor = (cond, timeout = 3000, what = 'condition') => waitOn(up.waiters, cond, timeout, `upstream: ${what}`);
  up.waitRequests = (n, timeout = 3000) => up.waitFor(() => up.requests.length >= n, timeout, `${n} request(s) (got ${up.requests.length})`);
  up.close = () => new Promise((resolve) => {
    for (const c of up.conns) c.socket.destroy();
    server.close(() => resolve());
    setTimeout(resolve, 1000).unref();
  });
  return up;
}

function waitOn(waiters, cond, timeout, what) {
  return new Promise((resolve, reject) => {
    if (cond()) return resolve(true);
    let timer;
    const w = () => {
      let ok;
      try { ok = cond(); } catch (e) { cleanup(); return reject(e); }
      if (ok) { cleanup(); resolve(true); }
    };
    const cleanup = () => { clearTimeout(timer); waiters.delete(w); };
    timer = setTimeout(() => { cleanup(); reject(new Error(`timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}`)); }, timeout);
    waiters.add(w);
  });
}

// A port on which nothing listens (bound, then released).
export async function deadPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

// ---------------------------------------------------------------------------
// Raw client: a socket plus a response parser and bounded waits.

export class Client {
  constructor(sock) {
    this.sock = sock;
    this.responses = [];       // parsed, not yet read
    this.interim = [];         // 1xx responses
    this.methods = [];         // methods of requests sent, for HEAD framing
    this.ended = false;        // peer sent FIN
    this.closed = false;       // socket fully closed
    this.error = null;         // socket error (ECONNRESET, ...)
    this.bytes = 0;
    this.firstByteAt = null;
    this.dataLog = [];         // [time, length]
    this.waiters = new Set();
    this.parser = new H1Parser('response', {
      nextMethod: () => this.methods.shift() || 'GET',
      onMessage: (m) => { this.responses.push(m); },
      onInterim: (m) => { this.interim.push(m); },
    });
    this.raw = [];
    sock.on('data', (d) => {
      if (this.firstByteAt === null) this.firstByteAt = Date.now();
      this.bytes += d.length;
      this.raw.push(d);
      this.dataLog.push([Date.now(), d.length]);
      this.parser.feed(d);
      this._notify();
    });
    sock.on('end', () => { this.ended = true; this.parser.end(); this._notify(); });
    sock.on('error', (e) => { this.error = e; this._notify(); });
    sock.on('close', () => { this.closed = true; this.parser.end(); this._notify(); });
  }

  static connect(port, host = '127.0.0.1', timeout = 3000) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host });
      const t = setTimeout(() => { sock.destroy(); reject(new Error(`connect to ${host}:${port} timed out`)); }, timeout);
      sock.once('connect', () => { clearTimeout(t); sock.setNoDelay(true); resolve(new Client(sock)); });
      sock.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  _notify() { for (const w of this.waiters) w(); }
  get isClosed() { return this.ended || this.closed || !!this.error; }
  rawText() {
    if (this.raw.length > 1) this.raw = [Buffer.concat(this.raw)];
    return this.raw.length ? this.raw[0].toString('latin1') : '';
  }

  // Sends raw bytes. <methods> lists the methods of the requests inside, so
  // responses to HEAD are parsed without a body (default: parsed from bytes).
  write(data, methods) {
    const b = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
    if (methods) this.methods.push(...methods);
    else {
      const s = b.toString('latin1');
      const re = /(?:^|\r\n\r\n|\n\n)([A-Z]+) \S+ HTTP\/\d\.\d\r?\n/g;
      let r; while ((r = re.exec(s))) this.methods.push(r[1]);
    }
    return new Promise((resolve) => {
      if (this.sock.destroyed) return resolve(false);
      this.sock.write(b, (err) => resolve(!err));
    });
  }

  waitFor(cond, timeout, what) { return waitOn(this.waiters, cond, timeout, what); }

  // Next complete response. Rejects on a parse error, on close before a
  // complete response (message says how much arrived), or on timeout.
  async readResponse(timeout = 5000) {
    await this.waitFor(() => this.responses.length > 0 || this.parser.error || this.isClosed, timeout,
      () => `a response (received ${this.bytes} bytes: ${JSON.stringify(this.rawText().slice(0, 120))})`);
    if (this.responses.length) return this.responses.shift();
    if (this.parser.error) throw this.parser.error;
    throw new Error(`connection closed without a (complete) response${this.error ? ` (${this.error.code})` : ''}; received ${this.bytes} bytes: ${JSON.stringify(this.rawText().slice(0, 160))}`);
  }

  // True if the peer closed the connection within <timeout> ms.
  async waitClosed(timeout = 1000) {
    try { await this.waitFor(() => this.isClosed, timeout, 'close'); return true; } catch { return false; }
  }

  async waitInterim(timeout = 2000) {
    await this.waitFor(() => this.interim.length > 0 || this.isClosed || this.responses.length, timeout,
      () => `an interim (1xx) response (received ${JSON.stringify(this.rawText().slice(0, 120))})`);
    if (!this.interim.length) throw new Error(`no 1xx response; received ${JSON.stringify(this.rawText().slice(0, 160))}`);
    return this.interim.shift();
  }

  close() { this.sock.destroy(); }
}

// Builds a raw request. headers: array of [name, value] (Host added if absent).
export function rawRequest(method, target, headers = [], body) {
  let h = headers;
  if (!h.some(([k]) => k.toLowerCase() === 'host')) h = [['Host', 'test.local'], ...h];
  const b = body === undefined ? undefined : (Buffer.isBuffer(body) ? body : Buffer.from(body));
  if (b && !h.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k))) h = [...h, ['Content-Length', String(b.length)]];
  let s = `${method} ${target} HTTP/1.1\r\n`;
  for (const [k, v] of h) s += `${k}: ${v}\r\n`;
  s += '\r\n';
  return b ? Buffer.concat([Buffer.from(s, 'latin1'), b]) : Buffer.from(s, 'latin1');
}

// One request on a new connection; returns the response (connection closed after).
export async function request(port, method, target, { headers = [], body, timeout = 5000 } = {}) {
  const c = await Client.connect(port);
  try {
    await c.write(rawRequest(method, target, headers, body), [method]);
    return await c.readResponse(timeout);
  } finally { c.close(); }
}

export async function get(port, target, opts) { return request(port, 'GET', target, opts); }

export async function getJson(port, target, opts) {
  const r = await get(port, target, opts);
  let json;
  try { json = JSON.parse(r.body.toString('utf8')); } catch (e) {
    throw new Error(`GET ${target}: status ${r.status}, body is not JSON: ${JSON.stringify(r.body.toString('utf8').slice(0, 200))}`);
  }
  return { status: r.status, json, res: r };
}

// ---------------------------------------------------------------------------
// leakproxy process

export function baseConfig(upstreamPort, overrides = {}) {
  return {
    listen: '127.0.0.1:0',
    upstream: `http://127.0.0.1:${upstreamPort}`,
    admin: '127.0.0.1:0',
    routes: [
      { name: 'home', match: '/' },
      { name: 'detail', match: '/detail/:id' },
      { name: 'static', match: '/static/*' },
    ],
    ...overrides,
  };
}

// Pretty JSON, one key per line, so tests can compute the line of a key.
export function configText(cfg) { return JSON.stringify(cfg, null, 2) + '\n'; }

// 1-based line of the first line matching <re> in <text>.
export function lineOf(text, re) {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) if (re.test(lines[i])) return i + 1;
  throw new Error(`no line matches ${re}`);
}

export function runSync(args, { timeout = 10000, env } = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout, env: { ...process.env, ...env } });
  if (r.error && r.error.code !== 'ETIMEDOUT') throw new Error(`running ${BIN} ${args.join(' ')}: ${r.error.message}`);
  return { code: r.status, signal: r.signal, stdout: r.stdout || '', stderr: r.stderr || '', timedOut: !!r.error };
}

// Environment for tests that measure the proxy's RSS: under ASan, freed
// memory sits in a quarantine (up to 256 MB) and would read as growth, so
// these runs turn the quarantine off (no effect on a normal build).
export function memEnv() {
  const extra = 'quarantine_size_mb=0:thread_local_quarantine_size_kb=0';
  return { ASAN_OPTIONS: process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:${extra}` : extra };
}

export const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer/;

export class Proxy {
  constructor(proc, configPath) {
    this.proc = proc;
    this.configPath = configPath;
    this.stderrText = '';
    this.stdoutText = '';
    this.exit = null;           // { code, signal } once exited
    this.waiters = new Set();
    proc.stderr.setEncoding('utf8');
    proc.stdout.setEncoding('utf8');
    proc.stderr.on('data', (d) => { this.stderrText += d; this._notify(); });
    proc.stdout.on('data', (d) => { this.stdoutText += d; this._notify(); });
    proc.on('exit', (code, signal) => { this.exit = { code, signal }; liveChildren.delete(proc); this._notify(); });
    // 'exit' can fire before stdio is drained: 'close' fires after both.
    proc.on('close', () => { this.closedStdio = true; this._notify(); });
  }
  _notify() { for (const w of this.waiters) w(); }
  get pid() { return this.proc.pid; }
  get alive() { return this.exit === null; }
  waitFor(cond, timeout, what) { return waitOn(this.waiters, cond, timeout, what); }
  waitStderr(re, timeout = 3000) {
    return this.waitFor(() => re.test(this.stderrText), timeout, () => `stderr to match ${re} (stderr: ${JSON.stringify(this.stderrText.slice(-400))})`);
  }
  signal(sig) { if (this.alive) this.proc.kill(sig); }
  async waitExit(timeout = 5000) {
    await this.waitFor(() => this.exit !== null && this.closedStdio, timeout, () => `proxy exit (stderr tail: ${JSON.stringify(this.stderrText.slice(-300))})`);
    return this.exit;
  }
  writeConfig(text) { fs.writeFileSync(this.configPath, text); }
  sanitizerReport() {
    const m = SANITIZER_RE.exec(this.stderrText);
    if (!m) return null;
    return this.stderrText.slice(Math.max(0, m.index - 200), m.index + 1500);
  }
  // Graceful stop: SIGTERM, wait <timeout>, then SIGKILL. Returns a list of
  // problems (empty when it exited 0 without sanitizer reports).
  async stop(timeout = 5000) {
    const problems = [];
    if (this.alive) {
      this.proc.kill('SIGTERM');
      try { await this.waitExit(timeout); } catch {
        problems.push(`did not exit within ${timeout} ms of SIGTERM`);
        this.proc.kill('SIGKILL');
        try { await this.waitExit(2000); } catch {}
      }
      if (this.exit && !problems.length && (this.exit.code !== 0))
        problems.push(`exited with ${this.exit.signal ? 'signal ' + this.exit.signal : 'code ' + this.exit.code} after SIGTERM`);
    } else {
      try { await this.waitExit(1000); } catch {}
    }
    const san = this.sanitizerReport();
    if (san) problems.push(`sanitizer report in proxy stderr:\n${san}`);
    return problems;
  }
  stderrTail(n = 12) { return this.stderrText.trimEnd().split('\n').slice(-n).join('\n'); }
}

// Spawns leakproxy with <config> (object or text) in <dir>; resolves when
// both listeners are announced. Rejects (with stderr) if it exits first.
// <prefix>: a command the binary runs under, e.g. ['sh', '-c', 'ulimit -n 256; exec "$0" "$@"'].
export async function spawnProxy(config, dir, { args = [], timeout = 5000, env, needAdmin = true, prefix } = {}) {
  const text = typeof config === 'string' ? config : configText(config);
  const configPath = path.join(dir, `leakproxy-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.json`);
  fs.writeFileSync(configPath, text);
  if (!fs.existsSync(BIN)) throw new Error(`binary ${BIN} does not exist (set LEAKPROXY_BIN or run make)`);
  const argv = [...(prefix || []), BIN, '-c', configPath, ...args];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  liveChildren.add(proc);
  const p = new Proxy(proc, configPath);
  proc.on('error', (e) => { p.spawnError = e; p._notify(); });
  const listenRe = /proxy listening on (\[[^\]]+\]|[^\s:]+):(\d+)/;
  const adminRe = /admin listening on (\[[^\]]+\]|[^\s:]+):(\d+)/;
  try {
    await p.waitFor(() => p.spawnError || !p.alive || (listenRe.test(p.stderrText) && (!needAdmin || adminRe.test(p.stderrText))),
      timeout, '"proxy listening on" / "admin listening on" in stderr');
  } catch (e) {
    p.proc.kill('SIGKILL');
    throw new Error(`${e.message}; stderr: ${JSON.stringify(p.stderrText.slice(-600))}`);
  }
  if (p.spawnError) throw p.spawnError;
  if (!p.alive) {
    throw new Error(`leakproxy exited (${JSON.stringify(p.exit)}) before listening; stderr: ${JSON.stringify(p.stderrText.slice(-800))}`);
  }
  const lm = listenRe.exec(p.stderrText);
  p.host = lm[1].replace(/^\[|\]$/g, '');
  if (p.host === '0.0.0.0') p.host = '127.0.0.1';
  if (p.host === '::') p.host = '::1';
  p.port = +lm[2];
  const am = adminRe.exec(p.stderrText);
  if (am) {
    p.adminHost = am[1].replace(/^\[|\]$/g, '');
    if (p.adminHost === '0.0.0.0') p.adminHost = '127.0.0.1';
    if (p.adminHost === '::') p.adminHost = '::1';
    p.adminPort = +am[2];
  }
  return p;
}

// ---------------------------------------------------------------------------
// Prometheus text parsing (enough to look samples up by name and labels)

export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const r = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!r) { samples.push({ bad: line }); continue; }
    const labels = {};
    if (r[3]) {
      const lr = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/g;
      let m; while ((m = lr.exec(r[3]))) labels[m[1]] = m[2];
    }
    samples.push({ name: r[1], labels, value: Number(r[4] === '+Inf' ? Infinity : r[4]), line });
  }
  return samples;
}

export function metric(samples, name, labels = {}) {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found;
}

// ---------------------------------------------------------------------------
// Test context: owns what one test starts; cleanup() tears it down in reverse.

export class Ctx {
  constructor(name) {
    this.name = name;
    this.cleanups = [];
    this.problems = [];       // failures found during cleanup (sanitizer, exit code)
    this.proxies = [];
    this._tmp = null;
  }
  defer(fn) { this.cleanups.push(fn); }
  tmp() {
    if (!this._tmp) { this._tmp = makeTmpDir(); this.defer(() => this._tmp.remove()); }
    return this._tmp.dir;
  }
  async upstream(handler, opts) {
    const up = await startUpstream(handler, opts);
    this.defer(() => up.close());
    return up;
  }
  // Starts leakproxy with <cfg> (a config object or text; see baseConfig).
  // At cleanup it gets SIGTERM and must exit 0 without sanitizer reports.
  async proxy(cfg, opts = {}) {
    const dir = this.tmp();
    const p = await spawnProxy(cfg, dir, opts);
    this.proxies.push(p);
    this.defer(async () => {
      const probs = await p.stop();
      for (const x of probs) this.problems.push(`proxy pid ${p.pid}: ${x}`);
    });
    return p;
  }
  async client(port, host) {
    const c = await Client.connect(port, host);
    this.defer(() => c.close());
    return c;
  }
  async cleanup() {
    while (this.cleanups.length) {
      const fn = this.cleanups.pop();
      try {
        await Promise.race([Promise.resolve().then(fn), sleep(8000).then(() => { throw new Error('cleanup step timed out'); })]);
      } catch (e) { this.problems.push(`cleanup: ${e.message}`); }
    }
  }
}

// ---------------------------------------------------------------------------
// Small assertion helpers with readable messages.

export function fail(msg) { throw new Error(msg); }
// A case that cannot run here (a tool or a kernel feature missing) fails
// with the reason: `make test` skips nothing. LEAKPROXY_ALLOW_SKIP=1
// reports such cases as skipped instead (containers without cgroups, say).
export function skip(msg) {
  if (!process.env.LEAKPROXY_ALLOW_SKIP)
    throw new Error(`cannot run here: ${msg} (LEAKPROXY_ALLOW_SKIP=1 reports this as a skip)`);
  const e = new Error(msg); e.skip = true; throw e;
}
// A case that fails because of a known bug: reported as todo, not a failure.
export function knownBug(msg) { const e = new Error(msg); e.todo = true; throw e; }
export function check(cond, msg) { if (!cond) throw new Error(msg); }
export function eq(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

// Seeded PRNG (mulberry32) for reproducible random bodies.
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export function randomBytes(rand, n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) {
    const v = (rand() * 4294967296) >>> 0;
    b[i] = v & 255; if (i + 1 < n) b[i + 1] = (v >>> 8) & 255;
    if (i + 2 < n) b[i + 2] = (v >>> 16) & 255; if (i + 3 < n) b[i + 3] = v >>> 24;
  }
  return b;
}

// Polls the admin API until route <name> has <field> >= n (bounded), then
// returns that route object (the caller asserts exact values).
export async function routeStats(adminPort, name, { until, timeout = 1500, headers } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    const { status, json } = await getJson(adminPort, `/api/routes/${encodeURIComponent(name)}`, { headers });
    last = { status, json };
    if (status === 200 && (!until || until(json))) return json;
    if (Date.now() > deadline) {
      if (status !== 200) throw new Error(`GET /api/routes/${name}: status ${status} ${JSON.stringify(json)}`);
      return json;
    }
    await sleep(50);
  }
}

// After a fault: a normal request on a new connection still gets a normal answer.
export async function assertStillServes(proxy, target = '/detail/ok', expectStatus = 200) {
  const r = await get(proxy.port, target);
  if (r.status !== expectStatus) throw new Error(`follow-up GET ${target}: expected ${expectStatus}, got ${r.status}`);
  return r;
}

// ---------------------------------------------------------------------------
// Demo apps, fake memory endpoints and load (t_memory.mjs, t_attrib.mjs).
// A demo app runs in its own process group (cluster workers included), so
// teardown and the exit hook below kill the whole group.

import http from 'node:http';

export const DEMO_DIR = path.join(ROOT, 'demo');
const liveGroups = new Set();
process.on('exit', () => { for (const pid of liveGroups) { try { process.kill(-pid, 'SIGKILL'); } catch {} } });

// Why demo/<app> cannot run here (missing node_modules or a package), or null.
export function demoMissing(app, packages = []) {
  const nm = path.join(DEMO_DIR, app, 'node_modules');
  if (!fs.existsSync(nm)) return `demo/${app}/node_modules missing (run: cd demo/${app} && npm ci)`;
  for (const p of packages)
    if (!fs.existsSync(path.join(nm, p, 'package.json'))) return `demo/${app}: package ${p} not installed (run: cd demo/${app} && npm ci)`;
  return null;
}

export function pidAlive(pid) {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}

// Starts demo/<app>/server.js (PORT=0, --expose-gc, plus <env>) and waits for
// "listening on". Returns { proc, port, pid (primary or only process),
// workers: [pids] (cluster mode; [] otherwise), output(), stop() }.
// <prefix>: argv run before node (e.g. a shell that joins a cgroup, then execs).
export async function startDemo(ctx, app, env = {}, { timeout = 30000, prefix = [] } = {}) {
  const missing = demoMissing(app);
  if (missing) skip(missing);
  const argv = [...prefix, process.execPath, '--expose-gc', 'server.js'];
  const proc = spawn(argv[0], argv.slice(1), {
    cwd: path.join(DEMO_DIR, app), env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  liveGroups.add(proc.pid);
  let out = '', err = '', exited = null;
  const waiters = new Set();
  const notify = () => { for (const w of waiters) w(); };
  proc.stdout.on('data', (d) => { out += d; if (out.length > 100000) out = out.slice(-50000); notify(); });
  proc.stderr.on('data', (d) => { err += d; if (err.length > 100000) err = err.slice(-50000); notify(); });
  proc.on('exit', (code, sig) => { exited = { code, sig }; notify(); });
  proc.on('error', (e) => { exited = { error: e.message }; notify(); });
  const d = {
    proc, app, output: () => ({ stdout: out, stderr: err }),
    get exited() { return exited; },
    async stop() {
      if (exited === null) {
        try { process.kill(-proc.pid, 'SIGTERM'); } catch {}
        try { await waitOn(waiters, () => exited !== null, 4000, 'demo app exit'); } catch {}
      }
      try { process.kill(-proc.pid, 'SIGKILL'); } catch {}
      liveGroups.delete(proc.pid);
    },
  };
  ctx.defer(() => d.stop());
  const cluster = !!(env.WORKERS && +env.WORKERS > 0);
  const ready = cluster ? /cluster: primary (\d+), \d+ workers ([\d ]+),/ : new RegExp(`${app}: pid (\\d+),`);
  try {
    await waitOn(waiters, () => exited !== null || (/listening on [\d.]+:\d+/.test(out) && ready.test(out)), timeout,
      `demo/${app} to listen`);
  } catch (e) { throw new Error(`${e.message}; stdout ${JSON.stringify(out.slice(-300))} stderr ${JSON.stringify(err.slice(-600))}`); }
  if (exited !== null) throw new Error(`demo/${app} exited (${JSON.stringify(exited)}): ${err.slice(-800)}`);
  d.port = +/listening on [\d.]+:(\d+)/.exec(out)[1];
  const m = ready.exec(out);
  d.pid = +m[1];
  d.workers = cluster ? m[2].trim().split(/\s+/).map(Number) : [];
  return d;
}

// GET <target> on the admin port; the parsed JSON (throws unless 200).
export async function adminJson(p, target) {
  const { status, json } = await getJson(p.adminPort, target);
  if (status !== 200) throw new Error(`GET ${target}: status ${status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

// Calls fn() every <interval> ms until it returns a truthy value (returned), or
// throws after <timeout> ms with <what> and, if given, describe(last value).
export async function pollUntil(fn, { timeout = 5000, interval = 100, what = 'condition', describe } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) {
      let extra = '';
      try { if (describe) extra = `; last: ${describe()}`; } catch {}
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${extra}`);
    }
    await sleep(interval);
  }
}

// Load through <port>: keep-alive GETs on <concurrency> connections. <next>(i)
// gives the i-th path (requests are issued in order i = 0, 1, ...), or null to
// stop. Bounded by <requests> and <maxMs>; <rate> caps requests per second.
// Resolves { sent, done, statuses: {code: n}, errors, byPath: {prefix: n} }.
export async function drive(port, next, { requests = 100, concurrency = 4, rate = 0, maxMs = 60000, headers = {}, onResponse } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const res = { sent: 0, done: 0, statuses: {}, errors: 0, lastError: null };
  const t0 = Date.now();
  let i = 0;
  const one = (p) => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent, headers }, (r) => {
      r.on('data', () => {});
      r.on('end', () => { res.statuses[r.statusCode] = (res.statuses[r.statusCode] || 0) + 1; if (onResponse) onResponse(p, r); resolve(); });
      r.on('error', (e) => { res.errors++; res.lastError = e.message; resolve(); });
    });
    req.setTimeout(15000, () => req.destroy(new Error('request timed out')));
    req.on('error', (e) => { res.errors++; res.lastError = e.message; resolve(); });
  });
  const loop = async () => {
    for (;;) {
      if (i >= requests || Date.now() - t0 > maxMs) return;
      if (rate > 0) {
        const due = t0 + (i * 1000) / rate;
        if (due > Date.now()) await sleep(due - Date.now());
        if (Date.now() - t0 > maxMs) return;
      }
      const p = next(i++);
      if (p == null) { i = requests; return; }
      res.sent++;
      await one(p);
      res.done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  agent.destroy();
  res.ms = Date.now() - t0;
  return res;
}

// A node:http server on 127.0.0.1 whose handler the test can swap; stop() and
// start() take it down and bring it back on the same port (open connections
// are destroyed). Returns { port, hits, handler, stop(), start() }.
export async function startHttp(ctx, handler) {
  const h = { handler, hits: 0, port: 0, server: null };
  const listen = () => new Promise((resolve, reject) => {
    const s = http.createServer((req, res) => { h.hits++; Promise.resolve().then(() => h.handler(req, res)).catch(() => res.destroy()); });
    s.keepAliveTimeout = 30000;
    s.once('error', reject);
    s.listen(h.port, '127.0.0.1', () => { h.server = s; h.port = s.address().port; resolve(); });
  });
  h.start = () => listen();
  h.stop = () => new Promise((resolve) => {
    if (!h.server) return resolve();
    const s = h.server; h.server = null;
    s.closeAllConnections();
    s.close(() => resolve());
    setTimeout(resolve, 1000).unref();
  });
  await listen();
  ctx.defer(() => h.stop());
  return h;
}

// ---------------------------------------------------------------------------
// The SSR switch, probes and bisection (t_switch, t_probe, t_bisect, t_ctl).

export const VUE_SHELL = path.join(DEMO_DIR, 'vue', 'dist', 'index.html');

// <method> <target> on the admin port of proxy <p>, with <body> (an object is
// sent as JSON, a string as is). Resolves { status, json (null when the body
// is not JSON), text, res }.
export async function adminCall(p, method, target, body, { timeout = 10000 } = {}) {
  const b = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers = b === undefined ? [] : [['Content-Type', 'application/json']];
  const r = await request(p.adminPort, method, target, { headers, body: b, timeout });
  const text = r.body.toString('utf8');
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, json, text, res: r };
}

// PUT /api/routes/NAME/mode {"mode": mode}.
export function setMode(p, name, mode) {
  return adminCall(p, 'PUT', `/api/routes/${encodeURIComponent(name)}/mode`, { mode });
}

// {name: route object} from GET /api/routes.
export async function routesByName(p) {
  const j = await adminJson(p, '/api/routes');
  return Object.fromEntries(j.routes.map((r) => [r.name, r]));
}

// The forced-GC http memory source of demo <d> (from startDemo), paced as
// the staging examples: a reading every 100 ms, a forced GC at most every
// 100 ms and at most 10 % of the time, requests held 50 ms before each GC.
export function demoMemory(d, extra = {}) {
  const base = `http://127.0.0.1:${d.port}`;
  return { source: 'http', url: `${base}/__mem`, gc_url: `${base}/__mem?gc=1`, interval_ms: 100,
    gc_interval_ms: 100, max_gc_duty: 0.1, quiesce_ms: 50, ...extra };
}

// demo/<app>/leakproxy.json pointed at demo <d>, ports 0, no access log, then <extra>.
export function demoProxyConfig(d, extra = {}) {
  const cfg = JSON.parse(fs.readFileSync(path.join(DEMO_DIR, d.app, 'leakproxy.json'), 'utf8'));
  return { ...cfg, upstream: `http://127.0.0.1:${d.port}`, listen: '127.0.0.1:0', admin: '127.0.0.1:0',
    access_log: null, ...extra };
}

// Steady heap bytes per request of <route> (and <variant>) in demo/<app>/truth.json.
export function truthSteadyHeap(app, route, variant = null) {
  const t = JSON.parse(fs.readFileSync(path.join(DEMO_DIR, app, 'truth.json'), 'utf8'));
  const r = t.routes.find((x) => x.route === route && (x.variant ?? null) === variant);
  if (!r) throw new Error(`no ${route}${variant ? ` (${variant})` : ''} in demo/${app}/truth.json`);
  return r.measured.steady.heap_per_req;
}

// A fake memory endpoint (node:http) answering process.memoryUsage()-like
// JSON for pid <pid>, the same after "?gc=1"; heapUsed is <heap>() (default
// constant 20 MB). Returns the startHttp handle plus url and gc_url.
export async function startFakeMemory(ctx, { pid = 4242, heap = () => 20 * 1024 * 1024 } = {}) {
  const h = await startHttp(ctx, (req, res) => {
    const heapUsed = Math.round(heap());
    const body = JSON.stringify({ pid, rss: heapUsed + 60 * 1024 * 1024, heapTotal: heapUsed + 8 * 1024 * 1024,
      heapUsed, external: 2 * 1024 * 1024, arrayBuffers: 100000 });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  h.url = `http://127.0.0.1:${h.port}/__mem`;
  h.gc_url = `http://127.0.0.1:${h.port}/__mem?gc=1`;
  return h;
}

// Runs demo/load.mjs with <args> (--quiet added) in the background; SIGTERM,
// then SIGKILL, at cleanup. Returns { proc, output(), get exited, done (a
// promise of the exit), stop() }.
export function startLoad(ctx, args) {
  const proc = spawn(process.execPath, [path.join(DEMO_DIR, 'load.mjs'), ...args, '--quiet'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(proc);
  let out = '', err = '', exited = null;
  proc.stdout.on('data', (d) => { out += d; if (out.length > 100000) out = out.slice(-50000); });
  proc.stderr.on('data', (d) => { err += d; if (err.length > 100000) err = err.slice(-50000); });
  const done = new Promise((resolve) => proc.on('exit', (code, sig) => { exited = { code, sig }; liveChildren.delete(proc); resolve(exited); }));
  const l = {
    proc, done, output: () => ({ stdout: out, stderr: err }),
    get exited() { return exited; },
    async stop() {
      if (exited) return exited;
      proc.kill('SIGTERM');
      const r = await Promise.race([done, sleep(3000)]);
      if (!r) { proc.kill('SIGKILL'); await Promise.race([done, sleep(2000)]); }
      return exited;
    },
  };
  ctx.defer(() => l.stop());
  return l;
}

// Runs `leakproxy ctl --admin HOST:PORT <args>` without blocking the event
// loop; killed after <timeout> ms. Resolves { code, signal, stdout, stderr, timedOut }.
export function runCtl(p, args, { timeout = 30000, env } = {}) {
  const admin = `${p.adminHost.includes(':') ? `[${p.adminHost}]` : p.adminHost}:${p.adminPort}`;
  return runBin(['ctl', '--admin', admin, ...args], { timeout, env });
}

export function runBin(args, { timeout = 30000, env } = {}) {
  return new Promise((resolve) => {
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    liveChildren.add(proc);
    let stdout = '', stderr = '', timedOut = false;
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { timedOut = true; proc.kill('SIGKILL'); }, timeout);
    proc.on('error', (e) => { stderr += `spawn error: ${e.message}`; });
    proc.on('close', (code, signal) => {
      clearTimeout(t);
      liveChildren.delete(proc);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

// The forced-GC floors in /api/memory samples ([t_ms, rss, heap_used,
// heap_total, external, floor, gc], gc = 1 on a forced-GC reading) of one
// worker, as [t_ms, floor] with t_ms in [from, to].
export function gcFloors(samples, from = 0, to = Infinity) {
  return samples.filter((s) => s[6] === 1 && s[5] !== null && s[0] >= from && s[0] <= to).map((s) => [s[0], s[5]]);
}

// Least-squares slope of [t_ms, bytes] points, in bytes per second (NaN below two points).
export function slopePerSecond(points) {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, p) => s + p[0], 0) / n, my = points.reduce((s, p) => s + p[1], 0) / n;
  let sxy = 0, sxx = 0;
  for (const [x, y] of points) { sxy += (x - mx) * (y - my); sxx += (x - mx) * (x - mx); }
  return sxx > 0 ? (sxy / sxx) * 1000 : NaN;
}

// Writes <cfg> (object or text) as proxy <p>'s config file, sends SIGHUP and
// waits until /api/status counts the reload (ok or failed).
export async function reloadWith(p, cfg, timeout = 3000) {
  const st = async () => (await adminJson(p, '/api/status')).reloads;
  const before = await st();
  p.writeConfig(typeof cfg === 'string' ? cfg : configText(cfg));
  p.signal('SIGHUP');
  let now;
  await pollUntil(async () => { now = await st(); return now.ok + now.failed > before.ok + before.failed; },
    { timeout, interval: 30, what: 'the SIGHUP reload to be counted in /api/status', describe: () => JSON.stringify(now) });
  if (now.failed > before.failed) throw new Error(`reload failed: ${p.stderrTail(3)}`);
}

// A raw TCP server the test fully controls: onConn(socket) per connection;
// its sockets are destroyed and it closes when the test ends.
export async function rawServer(ctx, onConn) {
  const socks = new Set();
  const s = net.createServer((sock) => { socks.add(sock); sock.on('close', () => socks.delete(sock)); sock.on('error', () => {}); onConn(sock); });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  ctx.defer(() => new Promise((r) => { for (const x of socks) x.destroy(); s.close(() => r()); setTimeout(r, 500).unref(); }));
  return s.address().port;
}
