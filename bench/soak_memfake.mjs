#!/usr/bin/env node
// soak_memfake.mjs -- the hostile memory source of `bench/soak.sh --hostile`:
// a loopback HTTP endpoint that leakproxy's memory.url and gc_url point at.
// Most of the time it forwards each read (GET /__mem, /__mem?gc=1) to the
// real app's /__mem and relays the answer, so readings and attribution work;
// every PERIOD seconds, for WINDOW seconds, it misbehaves instead, one way per
// window in rotation (the red team's memory-source cases, docs/hardening.md
// "Memory sources and internal HTTP clients"):
//   head     endless header lines (bounded here at 4 MB per answer)
//   body     an endless chunked body (bounded at 4 MB per answer)
//   hang_gc  the forced-GC read (gc=1) is never answered (socket dropped
//            after 70 s); plain reads are forwarded
//   huge     the app's reading with "rss" near 2^63
//   utf8     a JSON key of multi-byte characters (quoted, cut, in leakproxy's
//            error message) or invalid UTF-8
//   gc_hour  forced-GC reads answered with "gc_ms": 3600000 (one hour)
//   badjson  invalid JSON (cut in the middle, or not JSON at all)
// Prints "memfake: listening 127.0.0.1:PORT", a line per window, and on
// SIGTERM/SIGINT one JSON line of counts per mode to stdout (and --json FILE).
//
//   node bench/soak_memfake.mjs --app HOST:PORT [--period S] [--window S]
//                               [--first S] [--json FILE]
import net from 'node:net';
import http from 'node:http';
import fs from 'node:fs';

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const app = opt('--app');
if (!app) { console.error('usage: soak_memfake.mjs --app HOST:PORT [--period S] [--window S] [--first S] [--json FILE]'); process.exit(2); }
const [appHost, appPort] = [app.slice(0, app.lastIndexOf(':')), +app.slice(app.lastIndexOf(':') + 1)];
const PERIOD = +opt('--period', 60) * 1000;
const WINDOW = +opt('--window', 5) * 1000;
const FIRST = +opt('--first', 30) * 1000;
const jsonOut = opt('--json');
const MODES = ['head', 'body', 'hang_gc', 'huge', 'utf8', 'gc_hour', 'badjson'];
const CAP = 4 * 1024 * 1024;
const HANG_MS = 70000;

const t0 = Date.now();
let mode = 'good', windowNo = 0;
const stats = { windows: {}, hostile_answers: {}, forwarded: 0, forward_errors: 0, last_forward_error: null,
  client_closed_early: 0, hung: 0 };
for (const m of MODES) { stats.windows[m] = 0; stats.hostile_answers[m] = 0; }

function schedule() {
  const t = setTimeout(() => {
    mode = MODES[windowNo++ % MODES.length];
    stats.windows[mode]++;
    console.log(`memfake: ${new Date().toISOString()} +${((Date.now() - t0) / 1000).toFixed(0)}s window ${windowNo}: ${mode} for ${WINDOW / 1000}s`);
    setTimeout(() => { mode = 'good'; }, WINDOW).unref();
    schedule();
  }, windowNo === 0 ? FIRST : PERIOD);
  t.unref();
}

// the app's own answer to the same target: {status, body (Buffer)}
function fromApp(target) {
  return new Promise((resolve) => {
    const req = http.get({ host: appHost, port: appPort, path: target, timeout: 30000, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('app /__mem: no answer within 30 s')));
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

const answer = (sock, status, body, type = 'application/json') => {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  sock.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Error'}\r\nContent-Type: ${type}\r\n` +
    `Content-Length: ${b.length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`), b]));
};

// write pieces until CAP bytes or the reader goes away, respecting back-pressure
async function pump(sock, piece) {
  let sent = 0;
  while (sent < CAP && !sock.destroyed) {
    const ok = sock.write(piece);
    sent += piece.length;
    if (!ok) await new Promise((r) => { sock.once('drain', r); sock.once('close', r); });
  }
  sock.destroy();
}

const HEADER_LINES = Buffer.from(`X-Pad: ${'a'.repeat(90)}\r\n`.repeat(700));
const CHUNK = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(0x10000, ' '), Buffer.from('\r\n')]);
let variant = 0;

async function serve(sock, target) {
  const gc = /[?&]gc=1/.test(target);
  const m = mode;
  const hostile = m === 'head' || m === 'body' || m === 'huge' || m === 'utf8' || m === 'badjson' ||
    ((m === 'hang_gc' || m === 'gc_hour') && gc);
  if (hostile) stats.hostile_answers[m]++;
  if (m === 'head') {
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n');
    return pump(sock, HEADER_LINES);
  }
  if (m === 'body') {
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    return pump(sock, CHUNK);
  }
  if (m === 'hang_gc' && gc) {
    stats.hung++;
    setTimeout(() => sock.destroy(), HANG_MS).unref();
    return;
  }
  if (m === 'utf8') {
    const k = variant++ % 5;
    if (k === 4) return answer(sock, 200, Buffer.concat([Buffer.from('{"rss": '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('}')]));
    return answer(sock, 200, JSON.stringify({ ['x'.repeat(k) + (k % 2 ? '€'.repeat(60) : 'é'.repeat(40))]: { foo: 1 } }));
  }
  if (m === 'badjson') {
    const v = variant++ % 3;
    return answer(sock, 200, v === 0 ? '{"pid": 1, "rss": 12345, "heapUsed":' : v === 1 ? 'not json at all' : '{"rss": 1e999999, }');
  }
  const r = await fromApp(target);
  if (r.error) {
    stats.forward_errors++;
    stats.last_forward_error = `${new Date().toISOString()} ${r.error}`;
    return answer(sock, 502, JSON.stringify({ error: r.error }));
  }
  stats.forwarded++;
  let body = r.body;
  if (r.status === 200 && m === 'huge') {
    body = Buffer.from(body.toString('utf8').replace(/"rss":\s*\d+/, '"rss":9223372036854775807'));
  } else if (r.status === 200 && m === 'gc_hour' && gc) {
    const s = body.toString('utf8');
    body = Buffer.from(/"gc_ms"\s*:/.test(s) ? s.replace(/"gc_ms":\s*[-0-9.e]+/, '"gc_ms":3600000')
      : s.replace(/^\s*\{/, '{"gc_ms":3600000,'));
  }
  return answer(sock, r.status, body);
}

const server = net.createServer((sock) => {
  let head = Buffer.alloc(0);
  sock.on('error', () => {});
  sock.on('close', () => { if (!sock.answered) stats.client_closed_early++; });
  const onData = (d) => {
    head = Buffer.concat([head, d]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) { if (head.length > 65536) sock.destroy(); return; }
    sock.off('data', onData);
    sock.answered = true;
    const line = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
    const target = line.split(' ')[1] || '/';
    serve(sock, target).catch((e) => { console.error(`memfake: ${e.stack}`); sock.destroy(); });
  };
  sock.on('data', onData);
  setTimeout(() => sock.destroy(), HANG_MS + 5000).unref();   // no exchange lives longer
});
server.listen(0, '127.0.0.1', () => {
  console.log(`memfake: listening 127.0.0.1:${server.address().port} (app ${app}; every ${PERIOD / 1000}s a ${WINDOW / 1000}s window, first after ${FIRST / 1000}s; modes ${MODES.join(' ')})`);
  schedule();
});
const done = () => {
  const line = JSON.stringify(stats);
  if (jsonOut) fs.writeFileSync(jsonOut, line + '\n');
  console.log(line);
  process.exit(0);
};
process.on('SIGTERM', done);
process.on('SIGINT', done);
