// Robustness: fragmented input, interim responses, pooled connections that
// the upstream closed, late responses after a 504, aborted clients, fd
// leaks, slowloris, many concurrent clients.

import fs from 'node:fs';
import net from 'node:net';
import {
  test, baseConfig, rawRequest, get, request, hdr, check, eq, sleep, sha256, prng, randomBytes,
  assertStillServes, routeStats, Client,
} from './lib.mjs';

const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;

test('robust: request delivered one byte at a time', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `${req.method} ${req.target} ${req.body.toString()} ${hdr(req, 'x-a')}`));
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  const raw = 'POST /detail/frag?q=1 HTTP/1.1\r\nHost: a\r\nX-A: split value\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;e=1\r\ndefg\r\n0\r\n\r\n';
  for (const ch of raw) { await c.write(ch, []); await sleep(1); }
  const r = await c.readResponse(3000);
  eq(r.status, 200, 'status');
  eq(r.body.toString(), 'POST /detail/frag?q=1 abcdefg split value', 'what the upstream got');
});

test('robust: upstream response delivered one byte at a time', async (ctx) => {
  const resp = 'HTTP/1.1 200 OK\r\nX-B: b\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';
  const up = await ctx.upstream(async (req, res) => {
    if (req.target !== '/detail/frag') return res.send(200, [], 'second');
    for (const ch of resp) { res.write(ch); await sleep(1); }
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/frag'));
  const r = await c.readResponse(5000);
  eq(r.status, 200, 'status'); eq(hdr(r, 'x-b'), 'b', 'X-B'); eq(r.body.toString(), 'hello world', 'body');
  await c.write(rawRequest('GET', '/detail/2'));
  eq((await c.readResponse(2000)).body.toString(), 'second', 'next response on the same connection');
});

test('robust: chunked request with trailer fields', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `body=${req.body.toString()}`));
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status'); eq(r.body.toString(), 'body=hello', 'body at upstream');
  await c.write(rawRequest('GET', '/detail/2'));
  eq((await c.readResponse(2000)).status, 200, 'next request on the same connection');
});

test('robust: 103 Early Hints before the final response', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    res.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n');
    res.send(200, [['X-Final', '1']], `final ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/1'));
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'final status'); eq(r.body.toString(), 'final /detail/1', 'final body');
  await c.write(rawRequest('GET', '/detail/2'));
  eq((await c.readResponse(2000)).body.toString(), 'final /detail/2', 'next response');
});

test('robust: status line without a reason phrase accepted', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.write('HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok'));
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/detail/1');
  eq(r.status, 200, 'status'); eq(r.body.toString(), 'ok', 'body');
});

test('robust: Connection: close from the client -> response, then closed', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('GET /detail/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /detail/2 HTTP/1.1\r\nHost: a\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status');
  check(await c.waitClosed(1000), 'connection not closed after Connection: close');
  check(!up.heads.some((h) => h.target === '/detail/2'), 'request after Connection: close was forwarded');
});

test('robust: client half-closes after sending the request -> still gets the response', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => { await sleep(50); res.send(200, [], 'half'); });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/1'));
  c.sock.end();
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status'); eq(r.body.toString(), 'half', 'body');
});

test('robust: pipelined requests before a malformed one are answered, then 400 and close', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('GET /detail/a HTTP/1.1\r\nHost: a\r\n\r\nGET /detail/b HTTP/1.1\r\nHost: a\r\n\r\nGET /detail/c HTTP/1.1\r\nHost: a\r\nX-Bad\x00: 1\r\n\r\n');
  const a = await c.readResponse(2000), b = await c.readResponse(2000), bad = await c.readResponse(2000);
  eq(a.body.toString(), 'ok GET /detail/a', 'first'); eq(b.body.toString(), 'ok GET /detail/b', 'second');
  eq(bad.status, 400, 'third (malformed)');
  check(await c.waitClosed(1000), 'connection not closed after 400');
  eq(up.heads.length, 2, 'requests at upstream');
});

test('robust: pooled connection closed by the upstream while idle is not used', async (ctx) => {
  // Like Node's keepAliveTimeout: the upstream closes idle keep-alive sockets.
  const up = await ctx.upstream(async (req, res) => {
    res.send(200, [], `ok ${req.target}`);
    setTimeout(() => res.end(), 50);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  for (let i = 0; i < 5; i++) {
    const r = await get(p.port, `/detail/${i}`);
    eq(r.status, 200, `status of request ${i} (after the upstream closed the idle pooled connection)`);
    await sleep(200);
  }
  eq(up.connections, 5, 'upstream connections');
});

test('robust: pooled connection closed by the upstream on reuse -> GET retried, not 502', async (ctx) => {
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

test('robust: late upstream response after a 504 never reaches the next request', async (ctx) => {
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

test('robust: client aborts while the upstream is slow -> no crash, counters settle', async (ctx) => {
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

test('robust: client aborts mid-response (large body) -> proxy keeps serving', async (ctx) => {
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

test('robust: no fd leak after 300 connections opened and closed in all states', async (ctx) => {
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

test('robust: 100 slowloris connections do not delay a normal client', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const slow = [];
  for (let i = 0; i < 100; i++) {
    const s = net.connect(p.port, '127.0.0.1');
    s.on('error', () => {});
    slow.push(s);
  }
  ctx.defer(() => slow.forEach((s) => s.destroy()));
  for (const s of slow) s.write('GET /detail/1 HTTP/1.1\r\nHost: a\r\n');
  const timer = setInterval(() => slow.forEach((s) => s.write('X')), 50);
  ctx.defer(() => clearInterval(timer));
  await sleep(100);
  const times = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    eq((await get(p.port, `/detail/n${i}`)).status, 200, `status ${i}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  check(times[10] < 50, `median latency ${times[10].toFixed(1)} ms with 100 slowloris connections`);
});

test('robust: 100 concurrent clients x 10 keep-alive requests, all correct', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `r:${req.target}:` + 'y'.repeat(req.target.length * 50)));
  const p = await ctx.proxy(baseConfig(up.port));
  await Promise.all(Array.from({ length: 100 }, async (_, k) => {
    const c = await ctx.client(p.port);
    for (let i = 0; i < 10; i++) {
      const t = `/detail/${k}-${i}`;
      await c.write(rawRequest('GET', t));
      const r = await c.readResponse(5000);
      eq(r.body.toString(), `r:${t}:` + 'y'.repeat(t.length * 50), `client ${k} request ${i}`);
    }
  }));
  eq(up.requests.length, 1000, 'requests at upstream');
  const d = await routeStats(p.adminPort, 'detail', { until: (j) => j.requests >= 1000 });
  eq(d.requests, 1000, 'detail.requests');
  check(up.connections <= 110, `upstream connections: ${up.connections} for 100 concurrent clients`);
});

test('robust: SIGHUP while a request is in flight -> it completes', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => { await sleep(req.target === '/detail/slow' ? 300 : 0); res.send(200, [], `ok ${req.target}`); });
  const cfg = baseConfig(up.port);
  const p = await ctx.proxy(cfg);
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/slow'));
  await up.waitRequests(1);
  p.writeConfig(JSON.stringify({ ...cfg, routes: [...cfg.routes, { name: 'about', match: '/about' }] }, null, 2));
  p.signal('SIGHUP');
  const r = await c.readResponse(3000);
  eq(r.status, 200, 'status'); eq(r.body.toString(), 'ok /detail/slow', 'body');
  await c.write(rawRequest('GET', '/about'));
  eq((await c.readResponse(2000)).status, 200, 'next request on the same connection');
});

test('robust: 50 KB header value and 90 Set-Cookie headers pass intact', async (ctx) => {
  const cookies = Array.from({ length: 90 }, (_, i) => `c${i}=${'v'.repeat(i)}`);
  const up = await ctx.upstream((req, res) => res.send(200, cookies.map((c) => ['Set-Cookie', c]), sha256(hdr(req, 'cookie') || '')));
  const p = await ctx.proxy(baseConfig(up.port));
  const cookie = 'big=' + 'k'.repeat(50 * 1024);
  const r = await get(p.port, '/detail/1', { headers: [['Cookie', cookie]] });
  eq(r.status, 200, 'status');
  eq(r.body.toString(), sha256(cookie), 'Cookie at upstream');
  eq(JSON.stringify(r.headers.filter(([k]) => k.toLowerCase() === 'set-cookie').map(([, v]) => v)), JSON.stringify(cookies), 'Set-Cookie headers');
});
