// Hardening: the hostile cases of docs/hardening.md that the other files do not
// cover. Slow and hostile clients at scale (1,000 slowloris connections,
// many clients that never read, a flood of connections), upstream faults with
// the counter each must bump (accept-then-close, reset mid-body, a byte a
// second in the head and in the body, connect timeout, restarts under load,
// a 2 GiB response), the client-body deadline, and admin security (methods,
// body size, CORS, token, non-loopback without a token, injection).
// docs/hardening.md lists every case with its expected behaviour and anchor;
// the minutes-long ones (soak, 1M distinct paths) are bench/soak.sh, run by
// make test-long.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  test, baseConfig, rawRequest, get, request, getJson, hdr, check, eq, sleep, assertStillServes, routeStats,
  Client, memEnv, note, skip, runSync, configText, parseMetrics, metric, adminCall, deadPort,
} from './lib.mjs';

const rssKb = (pid) => +/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1];
const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const quantile = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

// ms taken by one GET on a new connection (status checked)
async function timedGet(port, target) {
  const t0 = process.hrtime.bigint();
  const r = await get(port, target);
  eq(r.status, 200, `status of ${target}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

// A raw TCP server the test fully controls: onConn(socket) per connection.
async function rawServer(ctx, onConn) {
  const socks = new Set();
  const s = net.createServer((sock) => { socks.add(sock); sock.on('close', () => socks.delete(sock)); sock.on('error', () => {}); onConn(sock); });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  ctx.defer(() => new Promise((r) => { for (const x of socks) x.destroy(); s.close(() => r()); setTimeout(r, 500).unref(); }));
  return s.address().port;
}

// The route's errors object, once its inflight count is back to 0.
async function settledRoute(p, name) {
  return routeStats(p.adminPort, name, { until: (j) => j.inflight === 0, timeout: 3000 });
}

// ---------------------------------------------------------------------------
// Upstream faults, each with the counter it must bump

test('hard: upstream accepts the connection then closes it unread -> 502, errors.reset', async (ctx) => {
  let n = 0;
  const port = await rawServer(ctx, (sock) => { n++; sock.destroy(); });
  const p = await ctx.proxy(baseConfig(port));
  const r = await get(p.port, '/detail/1');
  eq(r.status, 502, 'status');
  eq(hdr(r, 'x-leakproxy-error'), 'reset', 'X-Leakproxy-Error');
  const d = await settledRoute(p, 'detail');
  eq(d.errors.reset, 1, 'detail.errors.reset');
  eq(d.upstream_errors, 1, 'detail.upstream_errors');
  eq(d.status['5xx'], 1, 'detail.status.5xx');
  check(n >= 1, 'the upstream saw no connection');
});

test('hard: upstream resets (RST) mid-body -> client connection closed, errors.reset, others served', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target !== '/detail/rst') return res.send(200, [], `ok ${req.target}`);
    res.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + 'r'.repeat(5000));
    await sleep(100);
    res.reset();
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/rst'));
  let complete = null;
  try { complete = await c.readResponse(3000); } catch { /* expected: closed mid-body */ }
  check(complete === null, `a complete response reached the client (${complete && complete.body.length} bytes) although the upstream reset after 5000 of 100000`);
  check(c.isClosed, 'client connection still open after the upstream reset mid-body');
  check(c.bytes >= 5000 && c.rawText().startsWith('HTTP/1.1 200'), `client got ${c.bytes} bytes: the 200 head and the first 5000 body bytes were not streamed`);
  await assertStillServes(p);
  const d = await settledRoute(p, 'detail');
  eq(d.errors.reset, 1, 'detail.errors.reset');
  eq(d.errors.client_abort, 0, 'detail.errors.client_abort (the upstream failed, not the client)');
  eq(d.requests, 2, 'detail.requests');
});

test('hard: upstream trickles the response head a byte a second -> 504 at response_ms, others not delayed', async (ctx) => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  const up = await ctx.upstream(async (req, res) => {
    if (req.target !== '/detail/trickle') return res.send(200, [], 'fast');
    for (const ch of head) { if (res.socket.destroyed) return; res.write(ch); await sleep(1000); }
  });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 2000 } }));
  const c = await ctx.client(p.port);
  const t0 = Date.now();
  await c.write(rawRequest('GET', '/detail/trickle'));
  await sleep(300);
  const others = [];
  for (let i = 0; i < 5; i++) others.push(await timedGet(p.port, `/detail/o${i}`));
  const r = await c.readResponse(6000);
  const ms = Date.now() - t0;
  eq(r.status, 504, 'status (the head did not complete within response_ms)');
  check(ms >= 1900 && ms < 4000, `504 after ${ms} ms, want ~2000 (response_ms: the whole head, not per byte)`);
  check(Math.max(...others) < 500, `requests on other connections took up to ${Math.max(...others).toFixed(0)} ms during the trickle`);
  const d = await settledRoute(p, 'detail');
  eq(d.errors.timeout, 1, 'detail.errors.timeout');
  await assertStillServes(p);
}, { timeout: 30000 });

test('hard: upstream trickles the body a byte a second -> relayed intact (response_ms is per silence), others not delayed', async (ctx) => {
  const body = 'slow!';
  const up = await ctx.upstream(async (req, res) => {
    if (req.target !== '/detail/trickle') return res.send(200, [], 'fast');
    res.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (const ch of body) { await sleep(1000); res.write(ch); }
  });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 2500 } }));
  const c = await ctx.client(p.port);
  const t0 = Date.now();
  await c.write(rawRequest('GET', '/detail/trickle'));
  await sleep(1500);
  check(c.bytes > 0 && c.bytes < 60 + body.length, `the head was not streamed before the body finished (${c.bytes} bytes after 1.5 s)`);
  const others = [];
  for (let i = 0; i < 5; i++) others.push(await timedGet(p.port, `/detail/o${i}`));
  const r = await c.readResponse(8000);
  const ms = Date.now() - t0;
  eq(r.status, 200, 'status'); eq(r.body.toString(), body, 'body');
  check(ms >= 4500, `whole body after ${ms} ms? (5 bytes a second apart)`);
  check(Math.max(...others) < 500, `requests on other connections took up to ${Math.max(...others).toFixed(0)} ms during the trickle`);
  await c.write(rawRequest('GET', '/detail/next'));
  eq((await c.readResponse(2000)).body.toString(), 'fast', 'next request on the same connection');
  const d = await settledRoute(p, 'detail');
  eq(d.upstream_errors, 0, 'detail.upstream_errors');
}, { timeout: 30000 });

test('hard: upstream connect hangs (SYN not answered) -> 502 at connect_ms, errors.connect', async (ctx) => {
  // A listener with a full accept queue that never accepts: the kernel drops
  // further SYNs, so connect() hangs like a black-holed host.
  const py = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'time.sleep(60)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'ignore'] });
  ctx.defer(() => py.kill('SIGKILL'));
  const port = await new Promise((resolve, reject) => {
    py.stdout.once('data', (d) => resolve(+d.toString().trim()));
    py.once('error', () => reject(new Error('python3 not available')));
    setTimeout(() => reject(new Error('python3 listener did not start')), 5000);
  }).catch((e) => skip(e.message));
  const fillers = [];
  ctx.defer(() => fillers.forEach((s) => s.destroy()));
  for (let i = 0; i < 4; i++) { const s = net.connect(port, '127.0.0.1'); s.on('error', () => {}); fillers.push(s); }
  await sleep(200);
  const p = await ctx.proxy(baseConfig(port, { timeouts: { connect_ms: 300 } }));
  const t0 = Date.now();
  const r = await get(p.port, '/detail/1', { timeout: 5000 });
  const ms = Date.now() - t0;
  eq(r.status, 502, 'status');
  check(ms >= 250 && ms < 2500, `502 after ${ms} ms, want ~300 (connect_ms)`);
  const d = await settledRoute(p, 'detail');
  eq(d.errors.connect, 1, 'detail.errors.connect');
});

test('hard: client stalls in the middle of its body -> 408 after client_idle_ms, upstream connection dropped', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { client_idle_ms: 400 } }));
  const c = await ctx.client(p.port);
  const t0 = Date.now();
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n' + 'b'.repeat(10));
  const r = await c.readResponse(3000);
  const ms = Date.now() - t0;
  eq(r.status, 408, 'status');
  check(ms >= 350 && ms < 2000, `408 after ${ms} ms, want ~400 (client_idle_ms)`);
  check(await c.waitClosed(1000), 'connection not closed after 408');
  eq(up.requests.length, 0, 'complete requests at the upstream');
  const partial = up.heads.find((h) => h.target === '/detail/1');
  if (partial) await up.waitFor(() => up.conns[partial.conn - 1].closed, 2000, 'the proxy to close the upstream connection holding half a body');
  await assertStillServes(p, '/detail/after');
  if (partial) check(up.requests.find((q) => q.target === '/detail/after').conn !== partial.conn, 'the upstream connection with half a body was reused');
});

// The exact answer where t_framing/t_edge/t_faults accept a range (their
// cases hold for any RFC-conforming proxy; these pin what leakproxy does, as
// docs/hardening.md states it).
test('hard: exact answers: unknown/odd transfer codings 400, HTTP/2.0 505, CONNECT 400, HTTP/1.0 + TE 400, chunked over the limit 413', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_body_bytes: 1000 } }));
  const cases = [
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff0\r\nhello\r\n0\r\n\r\n', 400],
    ['GET /detail/1 HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n' + 'q'.repeat(1000) + '\r\n1\r\nq\r\n0\r\n\r\n', 413],
    ['GET /detail/1 HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n', 417],
  ];
  for (const [raw, status] of cases) {
    const c = await ctx.client(p.port);
    await c.write(raw, []);
    const r = await c.readResponse(2000);
    eq(r.status, status, `status for ${JSON.stringify(raw.slice(0, 70))}`);
    check(await c.waitClosed(1000), `connection not closed after ${r.status} for ${JSON.stringify(raw.slice(0, 50))}`);
    c.close();
  }
  eq(up.requests.length, 0, 'complete requests at the upstream');
  await assertStillServes(p);
});

test('hard: exact answers from upstream faults: refused 502 (connect), reset mid-head 502 (reset), garbage 502 (bad_response), bad chunk 502 before any byte went out, else a cut', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/detail/reset') { res.write('HTTP/1.1 200 OK\r\nContent-Le'); await sleep(30); return res.reset(); }
    if (req.target === '/detail/garbage') return res.write('SSH-2.0-OpenSSH_9.2\r\n\r\n');
    // head, a good chunk and a broken one in one write: nothing has reached the client yet
    if (req.target === '/detail/badchunk') return res.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n');
    // the same, the broken chunk 100 ms later: the head and "hello" are out
    if (req.target === '/detail/badlater') {
      res.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await sleep(100);
      return res.write('zz\r\n');
    }
    res.send(200, [], 'ok');
  });
  const p = await ctx.proxy(baseConfig(up.port));
  for (const [t, kind] of [['/detail/reset', 'reset'], ['/detail/garbage', 'bad_response'], ['/detail/badchunk', 'bad_response']]) {
    const c = await ctx.client(p.port);
    await c.write(rawRequest('GET', t));
    const r = await c.readResponse(2000);
    eq(r.status, 502, `${t} status`);
    eq(hdr(r, 'x-leakproxy-error'), kind, `${t} X-Leakproxy-Error`);
    await c.write(rawRequest('GET', '/detail/next'));
    eq((await c.readResponse(2000)).body.toString(), 'ok', `the next request on the connection after ${t}`);
  }
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/badlater'));
  check(await c.waitClosed(2000), 'client connection open after a bad chunk mid-body');
  check(c.rawText().startsWith('HTTP/1.1 200') && c.rawText().includes('hello'), `client got ${JSON.stringify(c.rawText().slice(0, 120))}`);
  const d = await settledRoute(p, 'detail');
  eq(JSON.stringify([d.errors.reset, d.errors.bad_response, d.errors.connect, d.errors.timeout, d.errors.client_abort]),
    JSON.stringify([1, 3, 0, 0, 0]), 'detail errors [reset, bad_response, connect, timeout, client_abort]');
  eq(d.status['5xx'], 3, 'detail.status.5xx (the cut response has no status class)');
  eq(d.status['2xx'], 3, 'detail.status.2xx');
  const p2 = await ctx.proxy(baseConfig(await deadPort()));
  const r = await get(p2.port, '/detail/1');
  eq(r.status, 502, 'refused: status');
  eq(hdr(r, 'x-leakproxy-error'), 'connect', 'refused: X-Leakproxy-Error');
  eq((await settledRoute(p2, 'detail')).errors.connect, 1, 'refused: detail.errors.connect');
});

test('hard: drain_ms bounds a SIGTERM: a request the upstream never answers is cut at drain_ms, exit 0', async (ctx) => {
  const up = await ctx.upstream((req, res) => { if (req.target !== '/detail/hang') res.send(200, [], 'ok'); });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { drain_ms: 500 } }));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/hang'));
  await up.waitRequests(1);
  const t0 = Date.now();
  p.signal('SIGTERM');
  const exit = await p.waitExit(5000);
  const ms = Date.now() - t0;
  eq(exit.code, 0, 'exit code');
  check(ms >= 400 && ms < 2500, `exited ${ms} ms after SIGTERM, want ~500 (drain_ms)`);
  check(await c.waitClosed(1000), 'the hanging client connection was left open');
});

test('hard: upstream_idle bounds the keep-alive pool: 20 concurrent requests leave at most 3 idle upstream connections', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => { await sleep(100); res.send(200, [], 'ok'); });
  const p = await ctx.proxy(baseConfig(up.port, { limits: { upstream_idle: 3 } }));
  const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => get(p.port, `/detail/${i}`)));
  check(rs.every((r) => r.status === 200), 'a request failed');
  await sleep(100);
  const st = (await getJson(p.adminPort, '/api/status')).json;
  eq(st.upstream_pool.idle, 3, 'upstream_pool.idle');
  eq(up.conns.filter((c) => !c.closed).length, 3, 'upstream connections left open');
});

// ---------------------------------------------------------------------------
// Slow and hostile clients

test('hard: 1,000 slowloris connections (a byte a second each) delay a normal client by < 5 ms', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], 'ok'));
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { header_ms: 60000, client_idle_ms: 60000 } }));
  for (let i = 0; i < 5; i++) await timedGet(p.port, '/detail/warm');
  const base = [];
  for (let i = 0; i < 40; i++) base.push(await timedGet(p.port, `/detail/b${i}`));
  const slow = [];
  ctx.defer(() => slow.forEach((s) => s.destroy()));
  let closed = 0;
  for (let i = 0; i < 1000; i++) {
    const s = net.connect(p.port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => { closed++; });
    s.write('GET /detail/1 HTTP/1.1\r\nHost: a\r\n');
    slow.push(s);
    if (i % 100 === 99) await sleep(20);
  }
  // a byte a second per connection: 10 connections every 10 ms
  let k = 0;
  const timer = setInterval(() => { for (let j = 0; j < 10; j++) slow[k++ % slow.length].write('X'); }, 10);
  ctx.defer(() => clearInterval(timer));
  await sleep(1500);
  const st = await getJson(p.adminPort, '/api/status');
  check(st.json.connections.current >= 1000, `proxy holds ${st.json.connections.current} connections, want the 1,000 slowloris ones`);
  const loaded = [];
  for (let i = 0; i < 40; i++) loaded.push(await timedGet(p.port, `/detail/n${i}`));
  eq(closed, 0, 'slowloris connections closed by the proxy before header_ms');
  const mb = median(base), ml = median(loaded);
  note(`median ${mb.toFixed(2)} ms alone, ${ml.toFixed(2)} ms with 1,000 slowloris; p90 ${quantile(base, 0.9).toFixed(2)} / ${quantile(loaded, 0.9).toFixed(2)} ms`);
  check(ml - mb < 5, `median latency ${ml.toFixed(2)} ms with 1,000 slowloris connections, ${mb.toFixed(2)} ms without`);
}, { timeout: 30000 });

test('hard: 40 clients that never read an 8 MB response -> bounded buffering per connection, all complete later', async (ctx) => {
  const size = 8 * 1024 * 1024;
  const block = Buffer.alloc(size, 0x6b);
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/detail/small') return res.send(200, [], 'small');
    res.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
    res.write(block);
  });
  const p = await ctx.proxy(baseConfig(up.port), { env: memEnv() });
  await get(p.port, '/detail/small');
  const base = rssKb(p.pid);
  const socks = [];
  ctx.defer(() => socks.forEach((s) => s.destroy()));
  for (let i = 0; i < 40; i++) {
    const s = net.connect(p.port, '127.0.0.1');
    s.on('error', () => {});
    s.got = 0;
    s.on('data', (d) => { s.got += d.length; });
    s.pause();
    s.write(`GET /static/big${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
    socks.push(s);
  }
  await sleep(2000);
  const growthMb = (rssKb(p.pid) - base) / 1024;
  note(`RSS growth ${growthMb.toFixed(1)} MB with 40 non-reading clients of an 8 MB response (${(40 * 8)} MB pending)`);
  check(growthMb < 40 * 0.5, `proxy RSS grew ${growthMb.toFixed(1)} MB for 40 clients that do not read (${(growthMb * 1024 / 40).toFixed(0)} KB per connection; want < 512 KB)`);
  // a normal client is served meanwhile
  eq((await get(p.port, '/detail/small')).body.toString(), 'small', 'a normal request while 40 clients stall');
  for (const s of socks) s.resume();
  const deadline = Date.now() + 30000;
  while (socks.some((s) => s.got < size) && Date.now() < deadline) await sleep(50);
  check(socks.every((s) => s.got > size), `not every stalled client got its whole response: ${socks.filter((s) => s.got <= size).length} short`);
}, { timeout: 45000 });

test('hard: a flood of 6,000 connection opens/closes in every state leaves no fds and no memory behind', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/detail/slow') await sleep(50);
    res.send(200, [], 'ok');
  });
  const p = await ctx.proxy(baseConfig(up.port), { env: memEnv() });
  const openUp = () => up.conns.filter((c) => !c.closed).length;
  const kinds = [
    async () => {},
    async (c) => { await c.write('GET /detail/1 HTTP/1.1\r\nHost: a\r\n'); },
    async (c) => { await c.write(rawRequest('GET', '/detail/slow')); },
    async (c) => { await c.write(rawRequest('GET', '/detail/1')); await c.readResponse(3000); },
    async (c) => { await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc'); },
    async (c) => { await c.write('BAD\r\n\r\n'); },
    async (c) => { c.sock.resetAndDestroy(); },
  ];
  const flood = async (n) => {
    for (let done = 0; done < n; done += 100) {
      await Promise.all(Array.from({ length: 100 }, async (_, i) => {
        const c = await Client.connect(p.port);
        try { await kinds[i % kinds.length](c); } catch {} finally { c.close(); }
      }));
    }
  };
  const settle = async (base) => {
    const deadline = Date.now() + 4000;
    let n;
    do { await sleep(100); n = fdCount(p.pid) - openUp(); } while (n > base && Date.now() < deadline);
    return n;
  };
  await get(p.port, '/detail/warm');
  await sleep(100);
  const fd0 = fdCount(p.pid) - openUp();
  await flood(3000);
  const fd1 = await settle(fd0);
  const rss1 = rssKb(p.pid);
  await flood(3000);
  const fd2 = await settle(fd0);
  const rss2 = rssKb(p.pid);
  note(`fds ${fd0} -> ${fd1} -> ${fd2} (not counting open upstream connections); RSS after flood 1 ${rss1} KB, after flood 2 ${rss2} KB`);
  check(fd1 <= fd0 && fd2 <= fd0, `proxy kept fds: ${fd0} before, ${fd1} after 3,000, ${fd2} after 6,000 connections`);
  check(rss2 - rss1 < 1024, `RSS grew ${((rss2 - rss1) / 1024).toFixed(2)} MB over the second flood of 3,000 connections`);
  const st = await getJson(p.adminPort, '/api/status');
  eq(st.json.connections.current, 0, 'connections.current after the flood');
  await assertStillServes(p);
  const { json } = await getJson(p.adminPort, '/api/routes');
  for (const r of json.routes) eq(r.inflight, 0, `${r.name}.inflight after the flood`);
}, { timeout: 60000 });

// ---------------------------------------------------------------------------
// An upstream that restarts under load

// A real upstream process (node:http, like an SSR server) on <port> (0: any).
async function startNodeUpstream(ctx, port = 0) {
  const src = `
    const http = require('http');
    const s = http.createServer((q, r) => { r.writeHead(200, { 'Content-Type': 'text/plain' }); r.end('up ' + q.url); });
    s.keepAliveTimeout = 30000;
    s.listen(${port}, '127.0.0.1', () => console.log('listening ' + s.address().port));`;
  const proc = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'pipe'] });
  ctx.defer(() => proc.kill('SIGKILL'));
  const got = await new Promise((resolve, reject) => {
    let out = '', err = '';
    proc.stdout.on('data', (d) => { out += d; const m = /listening (\d+)/.exec(out); if (m) resolve(+m[1]); });
    proc.stderr.on('data', (d) => { err += d; });
    proc.on('exit', (code) => reject(new Error(`upstream exited ${code}: ${err.slice(0, 300)}`)));
    setTimeout(() => reject(new Error('upstream did not start')), 10000);
  });
  const exited = new Promise((r) => proc.on('exit', r));
  return { proc, port: got, kill: async () => { proc.kill('SIGKILL'); await exited; } };
}

test('hard: upstream killed and restarted under load -> every request 200 or 502, none hangs or is cut; counters match', async (ctx) => {
  let up = await startNodeUpstream(ctx);
  const port = up.port;
  const shell = path.join(ctx.tmp(), 'shell.html');
  fs.writeFileSync(shell, '<!doctype html><div id=app></div>');
  const cfg = baseConfig(port, { fallback: { file: shell } });
  cfg.routes[0].mode = 'csr';                       // home: served by the fallback file
  const p = await ctx.proxy(cfg);
  const seen = { 200: 0, 502: 0, other: [], failures: [], home: 0, sent: 0 };
  let state = 'up';                                  // 'up', 'down', 'changing'
  const events = [];
  let stop = false;
  const loop = async (k) => {
    let c = null;
    for (let i = 0; !stop; i++) {
      if (!c || c.isClosed) c = await Client.connect(p.port);
      const home = k === 0 && i % 3 === 0;
      const target = home ? '/' : `/detail/${k}-${i}`;
      const before = state;
      seen.sent++;
      await c.write(rawRequest('GET', target));
      let r;
      try { r = await c.readResponse(5000); } catch (e) {
        seen.failures.push(`client ${k} ${target} (upstream ${before}): ${e.message}`);
        c.close(); c = null;
        continue;
      }
      if (home) {
        seen.home++;
        if (r.status !== 200 || !r.body.toString().includes('<div id=app>')) seen.failures.push(`home (csr, fallback file) got ${r.status} while the upstream was ${before}`);
        continue;
      }
      if (r.status === 200 || r.status === 502) seen[r.status]++;
      else seen.other.push(r.status);
      if (before === 'up' && state === 'up' && r.status !== 200) seen.failures.push(`${target}: ${r.status} while the upstream was up (${hdr(r, 'x-leakproxy-error')})`);
      if (before === 'down' && state === 'down' && r.status !== 502) seen.failures.push(`${target}: ${r.status} while the upstream was down`);
    }
    if (c) c.close();
  };
  const loops = Array.from({ length: 8 }, (_, k) => loop(k));
  for (let round = 0; round < 3; round++) {
    await sleep(700);
    state = 'changing'; await up.kill(); events.push('kill'); await sleep(100); state = 'down';
    await sleep(500);
    state = 'changing'; up = await startNodeUpstream(ctx, port); events.push('restart'); await sleep(300); state = 'up';
  }
  await sleep(700);
  stop = true;
  await Promise.all(loops);
  note(`sent ${seen.sent}: 200 ${seen[200]}, 502 ${seen[502]}, home (fallback) ${seen.home}, other ${seen.other.length}`);
  check(!seen.failures.length, `${seen.failures.length} failures: ${seen.failures.slice(0, 4).join('; ')}`);
  check(!seen.other.length, `statuses other than 200/502: ${seen.other.slice(0, 10)}`);
  check(seen[502] > 0 && seen[200] > 0, `no 502 while the upstream was down, or no 200 while up (200 ${seen[200]}, 502 ${seen[502]})`);
  await assertStillServes(p, '/detail/after');
  const by = Object.fromEntries((await getJson(p.adminPort, '/api/routes')).json.routes.map((r) => [r.name, r]));
  const d = by.detail;
  eq(d.inflight, 0, 'detail.inflight');
  eq(d.requests, seen[200] + seen[502] + 1, 'detail.requests (every request counted once)');
  eq(d.status['5xx'], seen[502], 'detail.status.5xx = the 502s the clients saw');
  eq(d.status['2xx'], seen[200] + 1, 'detail.status.2xx');
  const failed = d.errors.connect + d.errors.reset + d.errors.timeout + d.errors.bad_response;
  eq(failed, seen[502], `detail.errors (connect ${d.errors.connect}, reset ${d.errors.reset}) sum to the 502s`);
  check(d.errors.connect > 0, 'no connect error counted while the upstream was down');
  eq(d.errors.client_abort, 0, 'detail.errors.client_abort');
  eq(by.home.status['5xx'], 0, 'home (csr) 5xx');
  eq(by.home.requests, seen.home, 'home.requests');
  const m = parseMetrics((await get(p.adminPort, '/metrics')).body.toString());
  const sum = metric(m, 'leakproxy_upstream_errors_total', { route: 'detail' }).reduce((a, x) => a + x.value, 0);
  eq(sum, seen[502], 'leakproxy_upstream_errors_total{route="detail"} summed over kinds');
}, { timeout: 40000 });

// ---------------------------------------------------------------------------
// A 2 GiB response (Content-Length 2^31): generated, streamed, counted.

const PERIOD = 65521;                               // prime: a dropped or repeated 16 KiB read shows
// <len> bytes of a pseudo-random sequence with period PERIOD
function patternBuffer(len) {
  const b = Buffer.alloc(len);
  let x = 12345;
  for (let i = 0; i < PERIOD; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; }
  for (let i = PERIOD; i < len; i += PERIOD) b.copy(b, i, 0, Math.min(PERIOD, len - i));
  return b;
}

async function hugeResponseCase(ctx, size) {
  const big = patternBuffer(PERIOD + 1024 * 1024);   // any PERIOD-offset slice of up to 1 MiB
  const up = await ctx.upstream((req, res) => {
    if (req.target !== '/static/huge') return res.send(200, [], 'small');
    res.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(1024 * 1024, size - sent);
        const off = sent % PERIOD;
        sent += n;
        if (!res.socket.write(big.subarray(off, off + n))) { res.socket.once('drain', pump); return; }
      }
    };
    pump();
  });
  const p = await ctx.proxy(baseConfig(up.port), { env: memEnv() });
  eq((await get(p.port, '/static/small')).status, 200, 'warm-up');
  const base = rssKb(p.pid);
  let peak = base;
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssKb(p.pid)); } catch {} }, 100);
  ctx.defer(() => clearInterval(sampler));
  const sock = net.connect(p.port, '127.0.0.1');
  ctx.defer(() => sock.destroy());
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  const t0 = Date.now();
  let head = null, headBuf = Buffer.alloc(0), got = 0, bad = -1, after = Buffer.alloc(0);
  const done = new Promise((resolve) => {
    sock.on('data', (d) => {
      if (head === null) {
        headBuf = Buffer.concat([headBuf, d]);
        const e = headBuf.indexOf('\r\n\r\n');
        if (e < 0) return;
        head = headBuf.subarray(0, e).toString('latin1');
        d = headBuf.subarray(e + 4);
      }
      if (got + d.length > size) { after = Buffer.concat([after, d.subarray(size - got)]); d = d.subarray(0, size - got); }
      // compare with the pattern at this offset (memcmp speed)
      for (let o = 0; o < d.length && bad < 0;) {
        const off = (got + o) % PERIOD;
        const n = Math.min(d.length - o, 1024 * 1024);
        if (d.compare(big, off, off + n, o, o + n) !== 0) bad = got + o;
        o += n;
      }
      got += d.length;
      if (got >= size && !sock.wroteNext) {
        sock.wroteNext = true;
        sock.write('GET /static/small HTTP/1.1\r\nHost: a\r\n\r\n');   // the framing ended exactly
      }
      if (got >= size && after.toString('latin1').endsWith('small')) resolve();
    });
    sock.on('close', resolve);
  });
  sock.write('GET /static/huge HTTP/1.1\r\nHost: a\r\n\r\n');
  await done;
  clearInterval(sampler);
  const secs = (Date.now() - t0) / 1000;
  const growthMb = (peak - base) / 1024;
  note(`${(size / 2 ** 30).toFixed(2)} GiB in ${secs.toFixed(1)} s (${(size / 2 ** 20 / secs).toFixed(0)} MiB/s), proxy RSS ${base} KB -> peak ${peak} KB (+${growthMb.toFixed(1)} MB)`);
  check(head && /^HTTP\/1\.1 200 /.test(head), `status line: ${JSON.stringify((head || headBuf.toString('latin1')).slice(0, 60))}`);
  check(new RegExp(`\\r\\ncontent-length: ${size}(\\r|$)`, 'i').test(head), `Content-Length ${size} not relayed: ${JSON.stringify(head)}`);
  eq(got, size, 'body bytes received');
  eq(bad, -1, 'offset of the first corrupted body byte');
  check(/^HTTP\/1\.1 200 [^]*\r\n\r\nsmall$/.test(after.toString('latin1')), `the next response on the same connection: ${JSON.stringify(after.toString('latin1').slice(0, 100))}`);
  check(growthMb < 64, `proxy RSS grew ${growthMb.toFixed(1)} MB while relaying ${size} bytes`);
  const s = await settledRoute(p, 'static');
  check(s.bytes_out >= size, `static.bytes_out ${s.bytes_out} < ${size} (a 32-bit counter?)`);
  eq(s.status['2xx'], 3, 'static.status.2xx');
}

test('hard: 2 GiB response (Content-Length 2^31) relayed intact, proxy RSS grows < 64 MB', (ctx) => hugeResponseCase(ctx, 2 ** 31), { timeout: 120000 });

// ---------------------------------------------------------------------------
// Admin security

test('hard: admin mutating endpoints refuse GET (405) and change nothing; read-only ones refuse PUT/POST/DELETE', async (ctx) => {
  const up = await ctx.upstream();
  const shell = path.join(ctx.tmp(), 'shell.html');
  fs.writeFileSync(shell, '<!doctype html>');
  const p = await ctx.proxy(baseConfig(up.port, { fallback: { file: shell } }));
  for (const t of ['/api/routes/detail/mode', '/api/routes/detail/mode?mode=csr']) {
    const r = await get(p.adminPort, t);
    eq(r.status, 405, `GET ${t}`);
  }
  eq((await getJson(p.adminPort, '/api/routes/detail')).json.mode, 'ssr', 'detail.mode after GETs on its mode endpoint');
  for (const t of ['/api/probe?route=detail', '/api/bisect?routes=detail']) {
    const r = await getJson(p.adminPort, t);
    eq(r.status, 200, `GET ${t} (watch)`);
    check(!/running|testing/.test(JSON.stringify(r.json.state ?? r.json.status ?? '')), `GET ${t} started something: ${JSON.stringify(r.json).slice(0, 200)}`);
  }
  for (const t of ['/api/routes', '/api/routes/detail', '/api/status', '/api/memory', '/api/report', '/metrics', '/healthz']) {
    for (const m of ['PUT', 'POST', 'DELETE']) {
      const r = await adminCall(p, m, t, m === 'DELETE' ? undefined : { mode: 'csr' });
      eq(r.status, 405, `${m} ${t}`);
    }
  }
  eq((await getJson(p.adminPort, '/api/routes/detail')).json.mode, 'ssr', 'detail.mode at the end');
});

test('hard: admin JSON bodies over 64 KB -> 413, nothing changed', async (ctx) => {
  const up = await ctx.upstream();
  const shell = path.join(ctx.tmp(), 'shell.html');
  fs.writeFileSync(shell, '<!doctype html>');
  const p = await ctx.proxy(baseConfig(up.port, { fallback: { file: shell } }));
  const big = JSON.stringify({ mode: 'csr', pad: 'x'.repeat(70 * 1024) });
  for (const [m, t] of [['PUT', '/api/routes/detail/mode'], ['POST', '/api/probe'], ['POST', '/api/bisect']]) {
    const r = await adminCall(p, m, t, big);
    eq(r.status, 413, `${m} ${t} with a ${big.length}-byte body`);
  }
  eq((await getJson(p.adminPort, '/api/routes/detail')).json.mode, 'ssr', 'detail.mode');
  // just under the limit is parsed (and this one is valid)
  const ok = await adminCall(p, 'PUT', '/api/routes/detail/mode', JSON.stringify({ mode: 'csr' }) + ' '.repeat(60 * 1024));
  eq(ok.status, 200, 'PUT with a 60 KB body');
  eq((await getJson(p.adminPort, '/api/routes/detail')).json.mode, 'csr', 'detail.mode after the valid PUT');
  await get(p.adminPort, '/healthz');   // the listener still answers
});

test('hard: no admin response carries CORS headers (every endpoint, errors, preflight, with a token)', async (ctx) => {
  const up = await ctx.upstream();
  const token = 'cors-test-token-0123456789';
  const p = await ctx.proxy(baseConfig(up.port, { admin_token: token }));
  const auth = [['Authorization', `Bearer ${token}`]];
  const origin = [['Origin', 'http://evil.example']];
  const calls = [
    ['GET', '/', []], ['GET', '/app.js', []], ['GET', '/api/routes', auth], ['GET', '/api/routes/detail', auth],
    ['GET', '/api/status', auth], ['GET', '/api/memory', auth], ['GET', '/api/report', auth], ['GET', '/metrics', auth],
    ['GET', '/healthz', auth], ['GET', '/api/routes', []], ['GET', '/api/nope', auth], ['PUT', '/api/routes/detail/mode', auth],
    ['DELETE', '/api/probe', auth], ['OPTIONS', '/api/routes', [['Access-Control-Request-Method', 'PUT']]],
    ['OPTIONS', '/api/routes/detail/mode', [...auth, ['Access-Control-Request-Method', 'PUT']]],
  ];
  for (const [m, t, h] of calls) {
    const r = await request(p.adminPort, m, t, { headers: [...origin, ...h], body: m === 'PUT' ? '{"mode":"ssr"}' : undefined });
    for (const name of ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods', 'access-control-allow-headers'])
      eq(hdr(r, name), undefined, `${name} on ${m} ${t} (status ${r.status})`);
    if (m === 'OPTIONS') check(r.status >= 400, `OPTIONS ${t} answered ${r.status}: preflight must fail`);
  }
});

test('hard: non-loopback admin without a token (IPv4, IPv6, or a short token) refuses to start, naming admin_token', async (ctx) => {
  const up = await ctx.upstream();
  for (const [label, over] of [
    ['[::]:0 without admin_token', { admin: '[::]:0' }],
    ['0.0.0.0:0 with a 6-character token', { admin: '0.0.0.0:0', admin_token: 'abc123' }],
  ]) {
    const file = path.join(ctx.tmp(), `adm-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, configText(baseConfig(up.port, over)));
    const r = runSync(['-c', file], { timeout: 4000 });
    check(r.signal === null, `${label}: leakproxy kept running (killed by ${r.signal}); stderr ${JSON.stringify(r.stderr.slice(0, 300))}`);
    check(r.code !== 0, `${label}: exit code 0`);
    check(/admin_token/.test(r.stderr), `${label}: stderr does not name admin_token: ${JSON.stringify(r.stderr.slice(0, 300))}`);
    check(!/listening/.test(r.stderr), `${label}: a listener started: ${JSON.stringify(r.stderr.slice(0, 300))}`);
  }
  // loopback without a token, and non-loopback with a long token, start
  const p = await ctx.proxy(baseConfig(up.port, { admin: '[::1]:0' }));
  eq((await get(p.port, '/detail/1')).status, 200, 'proxied request with a [::1] admin');
});

test('hard: dashboard and API are safe against HTML/JS injection (CSP, nosniff, JSON types, nothing reflected)', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const page = await get(p.adminPort, '/');
  eq(page.status, 200, 'GET / (dashboard)');
  const csp = hdr(page, 'content-security-policy') || '';
  check(/default-src 'none'/.test(csp) && /script-src 'self'(;|$)/.test(csp), `CSP of the dashboard: ${JSON.stringify(csp)}`);
  check(!/unsafe-inline|unsafe-eval|\*/.test(csp), `CSP allows inline/eval/any source: ${csp}`);
  check(/frame-ancestors 'none'/.test(csp), `CSP without frame-ancestors 'none': ${csp}`);
  eq(hdr(page, 'x-content-type-options'), 'nosniff', 'X-Content-Type-Options of the dashboard');
  check(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(page.body.toString()), 'the dashboard page has an inline <script>');
  // traffic with hostile paths and headers, then every API answer is JSON (never HTML) and holds no raw markup
  const evil = '<script>alert(1)</script>';
  await get(p.port, `/detail/${encodeURIComponent(evil)}`);
  await get(p.port, `/x"><img src=x onerror=alert(1)>`.replace(/ /g, '%20'), { headers: [['User-Agent', evil], ['Referer', evil]] });
  for (const t of ['/api/routes', '/api/status', '/api/memory', '/api/report', `/api/routes/${encodeURIComponent(evil)}`, `/api/${encodeURIComponent(evil)}`]) {
    const r = await get(p.adminPort, t);
    check(/^application\/json/.test(hdr(r, 'content-type') || ''), `${t}: Content-Type ${hdr(r, 'content-type')} (status ${r.status})`);
    check(!r.body.toString().includes('<script>') && !r.body.toString().includes('<img'), `${t}: raw markup in the answer: ${r.body.toString().slice(0, 200)}`);
  }
  const text = await get(p.adminPort, '/api/report?format=text');
  check(!/^text\/html/.test(hdr(text, 'content-type') || ''), `/api/report?format=text served as ${hdr(text, 'content-type')}`);
});

// Descriptors: each proxied connection needs two (client + upstream). Under a
// soft RLIMIT_NOFILE below what max_connections needs, leakproxy raises it (as
// far as the hard limit allows; it warns, naming limits.max_connections, when
// the hard limit is too low).
const nofileLimit = (pid) => +/Max open files\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))[1];
async function openKeepAlive(port, n, target) {
  const socks = [];
  const answered = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d) => { buf += d; if (/^HTTP\/1\.1 \d+/.test(buf) && !answered[i]) answered[i] = +buf.slice(9, 12); });
    s.write(`GET ${target}${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    socks.push(s);
  }
  return { socks, answered, close: () => socks.forEach((s) => s.destroy()) };
}

test('hard: a low soft descriptor limit is raised to what max_connections needs; 300 clients at once all served', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => res.send(200, [], 'ok'));
  const cfg = baseConfig(up.port, { limits: { max_connections: 300 } });
  const p = await ctx.proxy(cfg, { prefix: ['sh', '-c', 'ulimit -Sn 256 && exec "$0" "$@"'] });
  if (nofileLimit(p.pid) < 664) { skip('the hard descriptor limit here is below 664'); return; }
  await p.waitStderr(/raised the descriptor limit \(RLIMIT_NOFILE\) from 256 to 664 for limits\.max_connections 300/);
  eq(nofileLimit(p.pid), 664, 'the proxy\'s soft RLIMIT_NOFILE');
  const k = await openKeepAlive(p.port, 300, '/detail/');
  try {
    for (let t = 0; t < 150 && k.answered.filter((x) => x === 200).length < 300; t++) await sleep(100);
    eq(k.answered.filter((x) => x === 200).length, 300, '200 answers with 300 connections open at once');
  } finally { k.close(); }
  const m = parseMetrics((await adminCall(p, 'GET', '/metrics')).text);
  eq(metric(m, 'leakproxy_accept_fd_exhausted_total')[0].value, 0, 'leakproxy_accept_fd_exhausted_total');
});

test('hard: out of descriptors, idle keep-alive connections are closed (oldest first) so new clients are served', async (ctx) => {
  // 64 descriptors for the whole proxy, clients that each make one request and then stay
  // connected (keep-alive, idle for client_idle_ms = 60 s): without draining, the 60th or so
  // client would wait in the kernel's backlog for a minute.
  const up = await ctx.upstream(async (req, res) => res.send(200, [], 'ok'));
  const p = await ctx.proxy(baseConfig(up.port, {}), { prefix: ['sh', '-c', 'ulimit -n 64 && exec "$0" "$@"'] });
  eq(nofileLimit(p.pid), 64, 'the proxy\'s RLIMIT_NOFILE');
  const socks = [], closedBy = [];
  try {
    for (let i = 0; i < 100; i++) {
      const s = net.connect(p.port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => closedBy.push(i));
      socks.push(s);
      const status = await new Promise((resolve) => {
        let buf = '';
        const t = setTimeout(() => resolve(`no answer within 5 s (client ${i})`), 5000);
        s.on('data', (d) => { buf += d; if (/^HTTP\/1\.1 \d+/.test(buf)) { clearTimeout(t); resolve(+buf.slice(9, 12)); } });
        s.write(`GET /detail/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      });
      eq(status, 200, `client ${i} of 100 (each keeps its connection open)`);
    }
    const m = parseMetrics((await adminCall(p, 'GET', '/metrics')).text);
    const drained = metric(m, 'leakproxy_idle_connections_closed_total')[0].value;
    note(`${drained} idle connections closed; first closed: ${closedBy.slice(0, 5).join(', ')}`);
    check(drained > 0 && metric(m, 'leakproxy_accept_fd_exhausted_total')[0].value > 0, `drained ${drained}`);
    // the proxy closes up to 32 at once; Node may report one batch's closes
    // in any order, so look at the first batch as a set
    const batch = closedBy.slice(0, 32);
    check(batch.length > 0 && Math.min(...batch) < 10 && !batch.some((i) => i >= 90),
      `the oldest idle connections go first: first closed ${closedBy.slice(0, 10)}`);
    await p.waitStderr(/closed \d+ idle keep-alive connection/);
  } finally { socks.forEach((s) => s.destroy()); }
});
