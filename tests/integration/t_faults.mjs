// Faults: an upstream that refuses, never answers, hangs in connect, closes
// or resets (before the head, mid-head, mid-body), trickles, sends garbage,
// answers late, or restarts under load; the counter each must bump (errors.*,
// X-Leakproxy-Error); retries on a pooled connection the upstream closed
// (a GET once, never a POST); clients that abort mid-body or mid-response.
// After each fault a normal request must still work.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  test, note, sleep, hdr, deadPort, Client, rawRequest, request, get, getJson, baseConfig, parseMetrics,
  metric, skip, check, eq, prng, randomBytes, routeStats, assertStillServes,
  rawServer,
} from './lib.mjs';

// Upstream that misbehaves on /fault/* (per <faults>) and answers normally otherwise.
function faultyUpstream(ctx, fault) {
  return ctx.upstream(async (req, res) => {
    if (req.target.startsWith('/fault')) return fault(req, res);
    res.send(200, [], `ok ${req.target}`);
  });
}

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

// --- refused, closed, reset, garbage -------------------------------------------

test('faults: upstream refuses (nothing listening) -> 502', async (ctx) => {
  const port = await deadPort();
  const p = await ctx.proxy(baseConfig(port));
  const r = await get(p.port, '/detail/1');
  eq(r.status, 502, 'status');
  const r2 = await get(p.port, '/detail/2');
  eq(r2.status, 502, 'second request status');
  const h = await get(p.adminPort, '/healthz');
  eq(h.status, 200, 'healthz after refused upstream');
});

test('faults: upstream connect hangs (SYN not answered) -> 502 at connect_ms, errors.connect', async (ctx) => {
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

test('faults: upstream accepts the connection then closes it unread -> 502, errors.reset', async (ctx) => {
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

test('faults: upstream closes right after accepting the request -> 502', async (ctx) => {
  const up = await faultyUpstream(ctx, (req, res) => res.end());
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/fault/close');
  eq(r.status, 502, 'status');
  await assertStillServes(p);
});

test('faults: upstream resets mid-headers -> 502', async (ctx) => {
  const up = await faultyUpstream(ctx, async (req, res) => {
    res.write('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Le');
    await sleep(30);
    res.reset();
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/fault/reset');
  eq(r.status, 502, 'status');
  await assertStillServes(p);
});

test('faults: upstream sends garbage instead of a status line -> 502', async (ctx) => {
  const up = await faultyUpstream(ctx, (req, res) => { res.write('SSH-2.0-OpenSSH_9.2 garbage\r\n\r\n'); });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 2000 } }));
  const r = await get(p.port, '/fault/garbage');
  eq(r.status, 502, 'status');
  await assertStillServes(p);
});

test('faults: upstream sends an invalid status code -> 502', async (ctx) => {
  const up = await faultyUpstream(ctx, (req, res) => { res.write('HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'); });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 2000 } }));
  const r = await get(p.port, '/fault/status');
  eq(r.status, 502, 'status');
  await assertStillServes(p);
});

test('faults: exact answers from upstream faults: refused 502 (connect), reset mid-head 502 (reset), garbage 502 (bad_response), bad chunk 502 before any byte went out, else a cut', async (ctx) => {
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

for (const [label, cfgOver, handler] of [
  ['502 (refused)', null, null],
  ['504 (timeout)', { timeouts: { response_ms: 200 } }, () => {}],
]) {
  test(`faults: proxy-generated ${label} to HEAD has no body`, async (ctx) => {
    let port;
    if (handler) port = (await ctx.upstream(handler)).port;
    else port = await deadPort();
    const p = await ctx.proxy(baseConfig(port, cfgOver || {}));
    const c = await ctx.client(p.port);
    await c.write(rawRequest('HEAD', '/detail/1') + rawRequest('GET', '/detail/2'), ['HEAD', 'GET']);
    const r = await c.readResponse(3000);
    eq(r.status, +label.slice(0, 3), 'HEAD status');
    if (!(await c.waitClosed(100))) {
      const r2 = await c.readResponse(3000);      // a body after the HEAD response would break this parse
      eq(r2.status, +label.slice(0, 3), 'status of the GET pipelined after HEAD');
    }
  });
}

// --- mid-body and slow upstreams -----------------------------------------------

test('faults: upstream closes mid-body -> client connection closed, body truncated', async (ctx) => {
  const up = await faultyUpstream(ctx, async (req, res) => {
    res.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100));
    await sleep(100);
    res.end();
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/fault/midbody'));
  let complete = null;
  try { complete = await c.readResponse(3000); } catch (e) {
    check(c.isClosed, `no complete response and connection not closed: ${e.message}`);
  }
  check(complete === null, `client got a complete response (status ${complete && complete.status}, ${complete && complete.body.length} bytes) although upstream sent 100 of 1000 bytes`);
  const raw = c.rawText();
  check(raw.startsWith('HTTP/1.1 200') || raw.startsWith('HTTP/1.1 502'), `client saw ${JSON.stringify(raw.slice(0, 60))}`);
  await assertStillServes(p);
});

test('faults: upstream resets (RST) mid-body -> client connection closed, errors.reset, others served', async (ctx) => {
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

test('faults: upstream never answers -> 504 after response_ms', async (ctx) => {
  const up = await faultyUpstream(ctx, () => { /* never answer */ });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 300 } }));
  const c = await ctx.client(p.port);
  const t0 = Date.now();
  await c.write(rawRequest('GET', '/fault/hang'));
  const r = await c.readResponse(4000);
  const ms = Date.now() - t0;
  eq(r.status, 504, 'status');
  check(ms >= 250 && ms < 2500, `504 after ${ms} ms, want ~300 ms`);
  await assertStillServes(p);
});

test('faults: late upstream response after a 504 never reaches the next request', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/detail/late') { await sleep(600); return res.send(200, [], 'LATE RESPONSE'); }
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 300 } }));
  eq((await get(p.port, '/detail/late')).status, 504, 'status of the slow request');
  await sleep(500);   // the late response arrives at the upstream side
  for (let i = 0; i < 3; i++) {
    const r = await get(p.port, `/detail/n${i}`);
    eq(r.body.toString(), `ok /detail/n${i}`, `response ${i} after the 504`);
  }
});

test('faults: upstream stalls mid-body -> client connection closed within a bound', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/detail/stall') return res.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'p'.repeat(100));
    res.send(200, [], 'ok');
  });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 300 } }));
  const c = await ctx.client(p.port);
  const t0 = Date.now();
  await c.write(rawRequest('GET', '/detail/stall'));
  check(await c.waitClosed(3000), 'client still connected 3 s after the upstream stalled mid-body (response_ms 300)');
  note(`closed after ${Date.now() - t0} ms`);
  await assertStillServes(p);
  const d = await routeStats(p.adminPort, 'detail', { until: (j) => j.inflight === 0 });
  eq(d.inflight, 0, 'detail.inflight');
});

test('faults: upstream trickles the response head a byte a second -> 504 at response_ms, others not delayed', async (ctx) => {
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

test('faults: upstream trickles the body a byte a second -> relayed intact (response_ms is per silence), others not delayed', async (ctx) => {
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

// --- retries on a pooled connection --------------------------------------------

test('faults: pooled connection closed by the upstream on reuse -> GET retried, not 502', async (ctx) => {
  // The keep-alive race: the upstream closes a reused connection as the next
  // request arrives, without answering. A GET is safe to retry on a new connection.
  const up = await ctx.upstream((req, res) => {
    if (req.index >= 1) return res.destroy();
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  eq((await get(p.port, '/detail/1')).status, 200, 'first request');
  const r = await get(p.port, '/detail/2');
  eq(r.status, 200, 'GET on a pooled connection the upstream closed without answering');
  eq(r.body.toString(), 'ok /detail/2', 'body');
});

test('faults: a bodiless POST (also DELETE, PATCH) on a pooled connection the upstream closes is never sent twice', async (ctx) => {
  for (const method of ['POST', 'DELETE', 'PATCH']) {
    const up = await ctx.upstream((req, res) => {
      if (req.index >= 1) return res.destroy();     // reads the request, then closes unanswered
      res.send(200, [], `ok ${req.target}`);
    });
    const p = await ctx.proxy(baseConfig(up.port));
    eq((await get(p.port, '/detail/1')).status, 200, `${method}: first request pools the connection`);
    const r = await request(p.port, method, '/detail/act', { headers: [['Content-Length', '0']] });
    eq(r.status, 502, `${method} on the pooled connection the upstream closed`);
    await sleep(100);
    eq(up.requests.filter((q) => q.method === method).length, 1, `${method} requests received by the upstream`);
  }
  // a GET in the same situation is still retried (safe method)
  const up = await ctx.upstream((req, res) => {
    if (req.index >= 1) return res.destroy();
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  await get(p.port, '/detail/1');
  eq((await get(p.port, '/detail/2')).status, 200, 'GET retried on a fresh connection');
});

// --- clients that abort --------------------------------------------------------

for (const [label, head, part] of [
  ['Content-Length', 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n', 'x'.repeat(100)],
  ['chunked', 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', '3e8\r\n' + 'x'.repeat(100)],
]) {
  test(`faults: client aborts mid-body (${label}) -> upstream never sees a desynced request`, async (ctx) => {
    const up = await ctx.upstream((req, res) => res.send(200, [], `ok ${req.method} ${req.target} ${req.body.length}`));
    const p = await ctx.proxy(baseConfig(up.port));
    eq((await get(p.port, '/detail/warm')).status, 200, 'warm-up');          // one pooled connection
    const c = await ctx.client(p.port);
    await c.write(head + part);
    await up.waitFor(() => up.heads.some((h) => h.target === '/detail/1'), 2000, 'the partial request head').catch(() => {});
    await sleep(50);
    c.close();
    await sleep(100);
    for (let i = 0; i < 3; i++) {
      const r = await get(p.port, `/detail/next${i}`);
      eq(r.status, 200, `status of request ${i} after the aborted upload`);
      eq(r.body.toString(), `ok GET /detail/next${i} 0`, `body of request ${i}`);
    }
    eq(up.errors.length, 0, `upstream saw malformed bytes: ${up.errors.map((e) => e.message).join('; ')}`);
    check(!up.requests.some((q) => q.target === '/detail/1'), 'the aborted upload was completed at the upstream with other bytes');
    const partialConn = up.heads.find((h) => h.target === '/detail/1')?.conn;
    if (partialConn) check(up.requests.filter((q) => q.target.startsWith('/detail/next')).every((q) => q.conn !== partialConn), 'upstream connection with a partial body was reused');
  });
}

test('faults: client aborts while the upstream is slow -> no crash, counters settle', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/detail/slow') { await sleep(300); return res.send(200, [], 'x'.repeat(100000)); }
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  for (let i = 0; i < 5; i++) {
    const c = await ctx.client(p.port);
    await c.write(rawRequest('GET', '/detail/slow'));
    await sleep(20);
    c.close();
  }
  await sleep(500);
  await assertStillServes(p, '/detail/after');
  const d = await routeStats(p.adminPort, 'detail', { until: (j) => j.inflight === 0 });
  eq(d.inflight, 0, 'detail.inflight after aborted clients');
  eq(d.requests, 6, 'detail.requests');
});

test('faults: client aborts mid-response (large body) -> proxy keeps serving', async (ctx) => {
  const big = randomBytes(prng(3), 4 * 1024 * 1024);
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/static/big') return res.send(200, [], big);
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  for (let i = 0; i < 3; i++) {
    const c = await ctx.client(p.port);
    await c.write(rawRequest('GET', '/static/big'));
    await c.waitFor(() => c.bytes > 100000, 2000, 'some body bytes');
    c.close();
  }
  await sleep(200);
  const r = await get(p.port, '/static/big', { timeout: 10000 });
  check(r.body.equals(big), 'full 4 MB body after aborted transfers');
  await assertStillServes(p, '/detail/after');
});

// --- an upstream that restarts under load --------------------------------------

// A free port below the kernel's ephemeral range. An upstream that is killed
// and restarted on its port leaves the port free while it is down; every
// other server of the suite binds port 0, and the kernel could give one of
// them that port, which would then answer in the dead upstream's place (seen
// once: 404s from another test's server while "the upstream was down").
// Ports outside the ephemeral range are never handed out for port 0.
async function quietPort() {
  const lo = +fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0];
  const from = 10000, to = lo > from + 1000 ? lo : 30000;
  for (let i = 0; i < 100; i++) {
    const port = from + Math.floor(Math.random() * (to - from));
    const free = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${from}-${to}`);
}

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

test('faults: upstream killed and restarted under load -> every request 200 or 502, none hangs or is cut; counters match', async (ctx) => {
  let up = await startNodeUpstream(ctx, await quietPort());
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
