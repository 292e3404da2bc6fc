// More behaviour: client aborts mid-body (no desync on the upstream side),
// stalled upstream bodies, reloads that change the upstream, stats accuracy,
// IPv6 listeners, bounded memory over many distinct paths, no CORS on admin.

import fs from 'node:fs';
import {
  test, baseConfig, configText, rawRequest, get, getJson, request, hdr, check, eq, sleep, assertStillServes,
  routeStats, note, Client, memEnv,
} from './lib.mjs';

function rssKb(pid) { return +/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]; }

for (const [label, head, part] of [
  ['Content-Length', 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n', 'x'.repeat(100)],
  ['chunked', 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', '3e8\r\n' + 'x'.repeat(100)],
]) {
  test(`more: client aborts mid-body (${label}) -> upstream never sees a desynced request`, async (ctx) => {
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

test('more: upstream stalls mid-body -> client connection closed within a bound', async (ctx) => {
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

test('more: SIGHUP to a new upstream moves all traffic, old pool dropped', async (ctx) => {
  const A = await ctx.upstream((req, res) => res.send(200, [], 'A'));
  const B = await ctx.upstream((req, res) => res.send(200, [], 'B'));
  const cfg = baseConfig(A.port);
  const p = await ctx.proxy(cfg);
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/1'));
  eq((await c.readResponse()).body.toString(), 'A', 'before reload');
  eq((await get(p.port, '/detail/2')).body.toString(), 'A', 'before reload (new connection)');
  p.writeConfig(configText({ ...cfg, upstream: `http://127.0.0.1:${B.port}` }));
  p.signal('SIGHUP');
  await p.waitStderr(/reload/i, 3000).catch(() => {});
  const deadline = Date.now() + 3000;
  let body = 'A';
  while (Date.now() < deadline && body !== 'B') { body = (await get(p.port, '/detail/3')).body.toString(); if (body !== 'B') await sleep(50); }
  eq(body, 'B', 'a new connection after reload goes to the new upstream');
  const before = A.requests.length;
  for (let i = 0; i < 5; i++) eq((await get(p.port, `/detail/n${i}`)).body.toString(), 'B', `request ${i} after reload`);
  await c.write(rawRequest('GET', '/detail/old-conn'));
  eq((await c.readResponse()).body.toString(), 'B', 'the old keep-alive client connection after reload');
  eq(A.requests.length, before, 'requests still sent to the old upstream after reload');
});

test('more: per-route counts survive a reload for routes that stay', async (ctx) => {
  const up = await ctx.upstream();
  const cfg = baseConfig(up.port);
  const p = await ctx.proxy(cfg);
  for (let i = 0; i < 3; i++) await get(p.port, `/detail/${i}`);
  await routeStats(p.adminPort, 'detail', { until: (j) => j.requests >= 3 });
  p.writeConfig(configText({ ...cfg, routes: [...cfg.routes, { name: 'about', match: '/about' }] }));
  p.signal('SIGHUP');
  await routeStats(p.adminPort, 'about', { timeout: 3000 }).catch(() => {});
  const d = await routeStats(p.adminPort, 'detail');
  eq(d.requests, 3, 'detail.requests after a reload that kept the route');
});

test('more: latency quantiles within a few % of a fixed 100 ms upstream delay', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => { await sleep(req.target.startsWith('/detail') ? 100 : 0); res.send(200, [], 'ok'); });
  const p = await ctx.proxy(baseConfig(up.port));
  await Promise.all(Array.from({ length: 10 }, (_, i) => get(p.port, `/detail/${i}`)));
  const d = await routeStats(p.adminPort, 'detail', { until: (j) => j.requests >= 10 });
  const l = d.latency_ms, t = d.ttfb_ms;
  note(`latency ${JSON.stringify(l)} ttfb ${JSON.stringify(t)}`);
  // the lower bound is the recorder's accuracy (the delay is a floor); the
  // upper bound only catches unit errors: a loaded machine (or ASan) adds time
  check(l.p50 >= 98 && l.p50 <= 400, `latency p50 ${l.p50} ms for a 100 ms upstream`);
  check(l.max >= 99 && l.max <= 1000, `latency max ${l.max} ms`);
  check(t.p50 >= 98 && t.p50 <= l.p50 + 2, `ttfb p50 ${t.p50} ms (latency p50 ${l.p50})`);
});

test('more: ttfb measures the first byte, latency the whole streamed response', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    res.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n');
    await sleep(400);
    res.write('4\r\nrest\r\n0\r\n\r\n');
  });
  const p = await ctx.proxy(baseConfig(up.port));
  eq((await get(p.port, '/detail/s')).body.toString(), 'firstrest', 'body');
  const d = await routeStats(p.adminPort, 'detail', { until: (j) => j.requests >= 1 });
  check(d.ttfb_ms.max < 150, `ttfb ${d.ttfb_ms.max} ms, the head came at once`);
  check(d.latency_ms.max >= 390 && d.latency_ms.max < 1000, `latency ${d.latency_ms.max} ms, the body ended at 400 ms`);
});

test('more: IPv6 listener and admin ([::1]:0)', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { listen: '[::1]:0', admin: '[::1]:0' }));
  check(/proxy listening on \[::1\]:\d+/.test(p.stderrText), `listen line: ${p.stderrText.split('\n')[0]}`);
  const c = await ctx.client(p.port, '::1');
  await c.write(rawRequest('GET', '/detail/1'));
  const r = await c.readResponse();
  eq(r.status, 200, 'status over IPv6');
  eq(hdr(up.requests[0], 'x-forwarded-for'), '::1', 'X-Forwarded-For for an IPv6 client');
  const a = await Client.connect(p.adminPort, '::1');
  ctx.defer(() => a.close());
  await a.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  eq((await a.readResponse()).status, 200, 'admin /healthz over IPv6');
});

test('more: 20,000 distinct paths -> no new routes, memory flat', async (ctx) => {
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

test('more: admin API sends no CORS headers', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  for (const path of ['/api/routes', '/metrics', '/healthz']) {
    const r = await get(p.adminPort, path, { headers: [['Origin', 'http://evil.example']] });
    eq(hdr(r, 'access-control-allow-origin'), undefined, `Access-Control-Allow-Origin on ${path}`);
  }
});
