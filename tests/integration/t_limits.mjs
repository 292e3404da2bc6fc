// Limits: what one client (or many) may take. Request sizes (head, header
// count, request line, body: 431/414/413), the client-side deadlines
// (header_ms, client_idle_ms: 408), slowloris at scale, max_connections and
// descriptors (RLIMIT_NOFILE raised, idle connections closed when out of
// them), no fd or memory left behind by a flood of connections, bounded
// memory for clients or upstreams that do not read (backpressure both ways,
// pipelined read-ahead), many distinct paths and a 2 GiB response.
// docs/hardening.md lists each limit, its default and its case.

import fs from 'node:fs';
import net from 'node:net';
import {
  test, note, sleep, sha256, Client, rawRequest, request, get, getJson, baseConfig, memEnv, parseMetrics,
  metric, skip, check, eq, routeStats, assertStillServes, adminCall,
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

// The route's errors object, once its inflight count is back to 0.
async function settledRoute(p, name) {
  return routeStats(p.adminPort, name, { until: (j) => j.inflight === 0, timeout: 3000 });
}

// --- request sizes -------------------------------------------------------------

test('limits: header block over max_header_bytes -> 431', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_header_bytes: 4096, max_request_line: 2048 } }));
  const c = await ctx.client(p.port);
  let h = '';
  for (let i = 0; i < 8; i++) h += `X-Big-${i}: ${'v'.repeat(1000)}\r\n`;
  await c.write(`GET /detail/1 HTTP/1.1\r\nHost: a\r\n${h}\r\n`);
  const r = await c.readResponse(2000);
  eq(r.status, 431, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 431');
  eq(up.heads.length, 0, 'requests at upstream');
  // just under the limit passes
  const ok = await get(p.port, '/detail/2', { headers: [['X-Fits', 'v'.repeat(3000)]] });
  eq(ok.status, 200, 'status of a request under the limit');
});

test('limits: more headers than max_headers -> 431', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_headers: 20 } }));
  const c = await ctx.client(p.port);
  let h = '';
  for (let i = 0; i < 30; i++) h += `X-H-${i}: ${i}\r\n`;
  await c.write(`GET /detail/1 HTTP/1.1\r\nHost: a\r\n${h}\r\n`);
  const r = await c.readResponse(2000);
  eq(r.status, 431, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 431');
  eq(up.heads.length, 0, 'requests at upstream');
  const headers = [];
  for (let i = 0; i < 15; i++) headers.push([`X-H-${i}`, String(i)]);
  const ok = await get(p.port, '/detail/2', { headers });
  eq(ok.status, 200, 'status with 16 headers (under the limit)');
});

test('limits: request line too long -> 414', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(`GET /detail/${'a'.repeat(70 * 1024)} HTTP/1.1\r\nHost: a\r\n\r\n`);
  const r = await c.readResponse(3000);
  eq(r.status, 414, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 414');
  eq(up.heads.length, 0, 'requests at upstream');
  await assertStillServes(p);
});

test('limits: Content-Length over max_body_bytes -> 413', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_body_bytes: 1000 } }));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n' + 'z'.repeat(100));
  const r = await c.readResponse(2000);
  eq(r.status, 413, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 413');
  eq(up.requests.length, 0, 'complete requests at upstream');
  const ok = await request(p.port, 'POST', '/detail/2', { body: 'y'.repeat(1000) });
  eq(ok.status, 200, 'status with a body exactly at the limit');
});

test('limits: chunked body over max_body_bytes -> 413 or closed, never forwarded whole', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_body_bytes: 1000 } }));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
  for (let i = 0; i < 5; i++) { await c.write(`258\r\n${'q'.repeat(600)}\r\n`); await sleep(5); }
  await c.write('0\r\n\r\n');
  let r = null;
  try { r = await c.readResponse(2000); } catch { /* closed without a response is acceptable */ }
  if (r) eq(r.status, 413, 'status');
  check(await c.waitClosed(1000), 'connection not closed after an oversized chunked body');
  eq(up.requests.length, 0, 'complete requests at upstream (3000-byte body forwarded whole)');
  await assertStillServes(p);
});

test('limits: Expect: 100-continue with an oversized body -> 413', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_body_bytes: 100 } }));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 413, 'status');
  eq(up.heads.length, 0, 'requests at upstream');
});

// --- client deadlines and slow clients -----------------------------------------

test('limits: header_ms deadline for the header block -> 408', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { header_ms: 300 } }));
  const c = await ctx.client(p.port);
  const t0 = Date.now();
  await c.write('GET /detail/1 HTTP/1.1\r\nHost: a\r\n');
  for (let i = 0; i < 6 && !c.isClosed; i++) { await sleep(100); await c.write('X-Slow: 1\r\n'); }
  let r = null;
  try { r = await c.readResponse(2000); } catch (e) { throw new Error(`no 408 response: ${e.message}`); }
  eq(r.status, 408, 'status');
  const ms = Date.now() - t0;
  check(ms < 1500, `408 after ${ms} ms, want ~300 ms`);
  check(await c.waitClosed(1000), 'connection not closed after 408');
  eq(up.heads.length, 0, 'requests at upstream');
});

test('limits: idle keep-alive client closed after client_idle_ms', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { client_idle_ms: 300 } }));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/1'));
  eq((await c.readResponse()).status, 200, 'status');
  const t0 = Date.now();
  check(await c.waitClosed(2000), 'idle connection still open 2 s after the response (client_idle_ms 300)');
  const ms = Date.now() - t0;
  check(ms >= 200, `idle connection closed after only ${ms} ms`);
});

test('limits: client stalls in the middle of its body -> 408 after client_idle_ms, upstream connection dropped', async (ctx) => {
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

test('limits: 1,000 slowloris connections (a byte a second each) delay a normal client by < 5 ms', async (ctx) => {
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
  check(ml < 50, `median latency ${ml.toFixed(1)} ms with 1,000 slowloris connections`);
}, { timeout: 30000 });

// --- connections and descriptors -----------------------------------------------

test('limits: max_connections, excess connections wait or get 503, then service resumes', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_connections: 4 } }));
  const first = [];
  for (let i = 0; i < 4; i++) {
    const c = await ctx.client(p.port);
    await c.write(rawRequest('GET', `/detail/${i}`));
    eq((await c.readResponse()).status, 200, `status on connection ${i}`);
    first.push(c);
  }
  const extra = [];
  for (let i = 0; i < 3; i++) {
    const c = await ctx.client(p.port).catch(() => null);
    if (c) { c.write(rawRequest('GET', `/detail/extra${i}`)); extra.push(c); }
  }
  await sleep(300);
  for (const c of first) c.close();
  for (const [i, c] of extra.entries()) {
    let r = null;
    try { r = await c.readResponse(3000); } catch { /* closed without response: acceptable for an over-limit connection */ }
    if (r) check(r.status === 200 || r.status === 503, `extra connection ${i}: status ${r.status}`);
  }
  for (const c of extra) c.close();
  await sleep(100);
  await assertStillServes(p);
});

test('limits: no fd leak after 300 connections opened and closed in all states', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/detail/slow') await sleep(100);
    res.send(200, [], 'ok');
  });
  const p = await ctx.proxy(baseConfig(up.port));
  await get(p.port, '/detail/warm');
  await sleep(100);
  const openUp = () => up.conns.filter((c) => !c.closed).length;   // pooled upstream sockets are not leaks
  const base = fdCount(p.pid) - openUp();
  const kinds = [
    async (c) => {},                                                      // connect, close
    async (c) => { await c.write('GET /detail/1 HTTP/1.1\r\nHost: a\r\n'); }, // partial head
    async (c) => { await c.write(rawRequest('GET', '/detail/slow')); },      // in flight
    async (c) => { await c.write(rawRequest('GET', '/detail/1')); await c.readResponse(2000); }, // idle keep-alive
    async (c) => { await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc'); }, // partial body
    async (c) => { await c.write('BAD\r\n\r\n'); },                        // error
  ];
  for (let round = 0; round < 50; round++) {
    await Promise.all(kinds.map(async (k) => {
      const c = await Client.connect(p.port);
      try { await k(c); } finally { c.close(); }
    }));
  }
  const deadline = Date.now() + 3000;
  let n;
  do { await sleep(100); n = fdCount(p.pid) - openUp(); } while (n > base && Date.now() < deadline);
  check(n <= base, `proxy has ${n - base} more fds (not counting ${openUp()} open upstream connections) than before 300 client connections came and went`);
  await assertStillServes(p);
});

test('limits: a flood of 6,000 connection opens/closes in every state leaves no fds and no memory behind', async (ctx) => {
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

test('limits: a low soft descriptor limit is raised to what max_connections needs; 300 clients at once all served', async (ctx) => {
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

test('limits: out of descriptors, idle keep-alive connections are closed (oldest first) so new clients are served', async (ctx) => {
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

// --- bounded memory ------------------------------------------------------------

test('limits: slow reader, bounded buffering of a 64 MB response', async (ctx) => {
  const size = 64 * 1024 * 1024;
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/x') return res.send(200, [], 'x');
    res.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
    const block = Buffer.alloc(1024 * 1024, 0x61);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += block.length;
        if (!res.socket.write(block)) { res.socket.once('drain', pump); return; }
      }
    };
    pump();
  });
  const p = await ctx.proxy(baseConfig(up.port), { env: memEnv() });
  await get(p.port, '/x', { timeout: 3000 });     // warm-up before the baseline
  const base = rssKb(p.pid);
  const sock = net.connect(p.port, '127.0.0.1');
  ctx.defer(() => sock.destroy());
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  let got = 0;
  sock.on('data', (d) => { got += d.length; });
  sock.pause();
  sock.write('GET /static/big HTTP/1.1\r\nHost: a\r\n\r\n');
  await sleep(1500);
  const growthMb = (rssKb(p.pid) - base) / 1024;
  note(`RSS growth ${growthMb.toFixed(1)} MB`);
  check(growthMb < 24, `proxy RSS grew by ${growthMb.toFixed(1)} MB while the client did not read a 64 MB response (no backpressure?)`);
  sock.resume();
  const deadline = Date.now() + 15000;
  while (got < size && Date.now() < deadline && !sock.destroyed) await sleep(20);
  check(got > size, `client received ${got} bytes of ${size} + head`);
});

test('limits: 40 clients that never read an 8 MB response -> bounded buffering per connection, all complete later', async (ctx) => {
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

test('limits: client pipelines 64 MB of requests without reading -> bounded memory', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], 'r'.repeat(200)));
  const p = await ctx.proxy(baseConfig(up.port), { env: memEnv() });
  await get(p.port, '/detail/warm');
  const base = rssKb(p.pid);
  const s = net.connect(p.port, '127.0.0.1');
  ctx.defer(() => s.destroy());
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.pause();
  const one = Buffer.from('GET /detail/p HTTP/1.1\r\nHost: a\r\n\r\n');
  const block = Buffer.concat(Array(1000).fill(one));
  let written = 0;
  const t0 = Date.now();
  while (written < 64 * 1024 * 1024 && Date.now() - t0 < 3000) {
    if (!s.write(block)) {
      await new Promise((r) => {
        const done = () => { clearTimeout(t); s.off('drain', done); r(); };
        const t = setTimeout(done, 100);
        s.once('drain', done);
      });
    }
    written += block.length;
  }
  await sleep(500);
  const growthMb = (rssKb(p.pid) - base) / 1024;
  note(`RSS growth ${growthMb.toFixed(1)} MB`);
  note(`wrote ${(written / 1048576).toFixed(0)} MB, ${(s.writableLength / 1048576).toFixed(1)} MB not taken by the kernel`);
  check(growthMb < 24, `proxy RSS grew ${growthMb.toFixed(1)} MB while a client pipelined ${(written / 1048576).toFixed(0)} MB of requests without reading responses (input not bounded)`);
  s.destroy();
  await sleep(100);
  await assertStillServes(p);
});

test('limits: upstream not reading a 64 MB upload -> bounded memory, body intact', async (ctx) => {
  const size = 64 * 1024 * 1024;
  let hold = true;
  const up = await ctx.upstream((req, res) => res.send(200, [], `${req.body.length} ${sha256(req.body)}`));
  // pause reading on the upstream side for the first 1.5 s of every connection
  up.server.on('connection', (sock) => { sock.pause(); const t = setInterval(() => { if (!hold) { sock.resume(); clearInterval(t); } }, 20); });
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_body_bytes: 128 * 1024 * 1024 } }), { env: memEnv() });
  const base = rssKb(p.pid);
  const s = net.connect(p.port, '127.0.0.1');
  ctx.defer(() => s.destroy());
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  let resp = '';
  s.on('data', (d) => { resp += d.toString('latin1'); });
  const chunk = Buffer.alloc(1024 * 1024, 0x62);
  s.write(`POST /detail/up HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
  const hash = (await import('node:crypto')).createHash('sha256');
  let sent = 0;
  const writer = (async () => {
    while (sent < size) {
      hash.update(chunk);
      sent += chunk.length;
      if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
    }
  })();
  await sleep(1500);
  const growthMb = (rssKb(p.pid) - base) / 1024;
  note(`RSS growth ${growthMb.toFixed(1)} MB`);
  hold = false;
  await Promise.race([writer, sleep(15000)]);
  const deadline = Date.now() + 15000;
  while (!/\r\n\r\n\d+ [0-9a-f]{64}$/.test(resp) && Date.now() < deadline) await sleep(20);
  check(growthMb < 24, `proxy RSS grew ${growthMb.toFixed(1)} MB while the upstream did not read the upload (no backpressure?)`);
  check(resp.endsWith(`${size} ${hash.digest('hex')}`), `upstream did not get the 64 MB body intact: ${JSON.stringify(resp.slice(-120))}`);
});

test('limits: pipelined read-ahead is bounded over all clients (16 MiB), and every pipelined request is answered', async (ctx) => {
  // 600 clients each pipeline 128 KiB of requests behind a slow one: without
  // a global budget the proxy reads ~80 KiB ahead per client (~48 MB).
  const up = await ctx.upstream(async (req, res) => {
    if (req.target.startsWith('/detail/slow')) await sleep(2500);
    res.send(200, [], 'ok');
  });
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_connections: 2000 } }));
  const rss = () => +((/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8')) || [0, 0])[1]) * 1024;
  const pad = 'x'.repeat(4000);
  const one = `GET /detail/p HTTP/1.1\r\nHost: x\r\nX-Pad: ${pad}\r\n\r\n`;
  const clients = [];
  for (let i = 0; i < 20; i++) clients.push(await ctx.client(p.port));
  await sleep(100);
  const base = rss();
  for (let i = 0; i < 580; i++) clients.push(await ctx.client(p.port));
  for (let i = 0; i < clients.length; i++) {
    clients[i].sock.write(rawRequest('GET', `/detail/slow${i}`));
    clients[i].sock.write(one.repeat(32));
  }
  await sleep(1500);
  const grew = rss() - base;
  const m = parseMetrics((await adminCall(p, 'GET', '/metrics')).text);
  const ahead = metric(m, 'leakproxy_pipelined_bytes')[0]?.value;
  check(ahead <= 16 * 1024 * 1024 + 16384, `leakproxy_pipelined_bytes with 600 pipelining clients: ${ahead}`);
  check(ahead >= 8 * 1024 * 1024, `leakproxy_pipelined_bytes with 600 pipelining clients: ${ahead} (the load did not pipeline)`);
  note(`RSS growth ${(grew / 1048576).toFixed(1)} MB`);
  // the first client's 33 requests all get answers
  for (let k = 0; k < 33; k++) eq((await clients[0].readResponse(15000)).status, 200, `pipelined answer ${k}`);
}, { timeout: 60000 });

test('limits: 20,000 distinct paths -> no new routes, memory flat', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], 'k'));
  const p = await ctx.proxy(baseConfig(up.port), { env: memEnv() });
  const c = await ctx.client(p.port);
  const batch = async (from, n) => {
    let s = '';
    for (let i = from; i < from + n; i++) s += `GET /u${i}/x${i}?q=${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
    await c.write(s);
    for (let i = 0; i < n; i++) await c.readResponse(5000);
  };
  await batch(0, 2000);
  const base = rssKb(p.pid);
  for (let k = 1; k < 10; k++) await batch(k * 2000, 2000);
  const growthMb = (rssKb(p.pid) - base) / 1024;
  note(`RSS growth ${growthMb.toFixed(2)} MB over 18,000 distinct paths`);
  check(growthMb < 3, `RSS grew ${growthMb.toFixed(1)} MB over 18,000 distinct paths`);
  const { json } = await getJson(p.adminPort, '/api/routes');
  eq(json.routes.length, 4, 'number of routes');
  eq(json.routes.find((r) => r.name === '_other').requests, 20000, '_other.requests');
});

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

test('limits: 2 GiB response (Content-Length 2^31) relayed intact, proxy RSS grows < 64 MB', (ctx) => hugeResponseCase(ctx, 2 ** 31), { timeout: 120000 });
