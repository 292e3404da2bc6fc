// Process behaviour: SIGHUP reload (routes, limits, a new upstream, counts
// kept, requests in flight, an invalid config kept out), SIGTERM/SIGINT
// drain and its drain_ms bound, access log lines, SIGUSR1 log rotation.

import fs from 'node:fs';
import path from 'node:path';
import {
  test, sleep, Client, rawRequest, get, getJson, baseConfig, configText, lineOf, check, eq, routeStats,
  setMode,
} from './lib.mjs';

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function routeNames(adminPort) {
  const { json } = await getJson(adminPort, '/api/routes');
  return json.routes.map((r) => r.name).sort();
}

// --- SIGHUP --------------------------------------------------------------------

test('process: SIGHUP with a new route reloads; a request in flight completes, the keep-alive connection survives', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => { await sleep(req.target === '/detail/slow' ? 300 : 0); res.send(200, [], `ok ${req.target}`); });
  const cfg = baseConfig(up.port);
  const p = await ctx.proxy(cfg);
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/about'));
  eq((await c.readResponse()).status, 200, 'status before reload');
  eq((await routeNames(p.adminPort)).join(','), '_other,detail,home,static', 'routes before reload');
  await c.write(rawRequest('GET', '/detail/slow'));
  await up.waitRequests(2);
  cfg.routes.push({ name: 'about', match: '/about' });
  p.writeConfig(configText(cfg));
  p.signal('SIGHUP');
  const slow = await c.readResponse(3000);
  eq(slow.status, 200, 'status of the request in flight during the reload');
  eq(slow.body.toString(), 'ok /detail/slow', 'body of the request in flight during the reload');
  const deadline = Date.now() + 3000;
  let names;
  while (Date.now() < deadline) {
    names = await routeNames(p.adminPort);
    if (names.includes('about')) break;
    await sleep(50);
  }
  eq(names.join(','), '_other,about,detail,home,static', 'routes after reload');
  check(!c.isClosed, 'keep-alive client connection closed by the reload');
  await c.write(rawRequest('GET', '/about'));
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status on the old keep-alive connection after reload');
  eq((await get(p.port, '/about')).status, 200, 'status on a new connection');
  const about = await routeStats(p.adminPort, 'about', { until: (j) => j.requests >= 2 });
  eq(about.requests, 2, 'about.requests after reload');
  check(p.alive, 'proxy died on SIGHUP');
});

test('process: SIGHUP with an invalid config keeps the old one and logs FILE:LINE', async (ctx) => {
  const up = await ctx.upstream();
  const cfg = baseConfig(up.port);
  const p = await ctx.proxy(cfg);
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/1'));
  eq((await c.readResponse()).status, 200, 'status before reload');
  const bad = { ...cfg, routes: [...cfg.routes, { name: 'about', match: '/about' }], timeouts: { response_msec: 5 } };
  const text = configText(bad);
  p.writeConfig(text);
  const line = lineOf(text, /"response_msec"/);
  p.signal('SIGHUP');
  await p.waitStderr(new RegExp(`${esc(p.configPath)}:${line}(:\\d+)?: timeouts\\.response_msec: `), 3000);
  check(p.alive, 'proxy exited on an invalid reload');
  eq((await routeNames(p.adminPort)).join(','), '_other,detail,home,static', 'routes after the rejected reload');
  await c.write(rawRequest('GET', '/detail/2'));
  eq((await c.readResponse(2000)).status, 200, 'old keep-alive connection after the rejected reload');
  eq((await get(p.port, '/detail/3')).status, 200, 'new connection after the rejected reload');
  // a later valid reload still works
  p.writeConfig(configText({ ...cfg, routes: [...cfg.routes, { name: 'about', match: '/about' }] }));
  p.signal('SIGHUP');
  const deadline = Date.now() + 3000;
  let names = [];
  while (Date.now() < deadline && !names.includes('about')) { names = await routeNames(p.adminPort); await sleep(50); }
  check(names.includes('about'), `valid reload after a rejected one not applied: ${names}`);
});

test('process: SIGHUP changes limits for new requests', async (ctx) => {
  const up = await ctx.upstream();
  const cfg = baseConfig(up.port);
  const p = await ctx.proxy(cfg);
  const big = 'h'.repeat(3000);
  eq((await get(p.port, '/detail/1', { headers: [['X-Big', big]] })).status, 200, 'status before reload');
  p.writeConfig(configText({ ...cfg, limits: { max_header_bytes: 1024, max_request_line: 1024 } }));
  p.signal('SIGHUP');
  const deadline = Date.now() + 3000;
  let st;
  while (Date.now() < deadline) {
    st = (await get(p.port, '/detail/1', { headers: [['X-Big', big]] })).status;
    if (st === 431) break;
    await sleep(50);
  }
  eq(st, 431, 'status of a 3 KB header after reloading max_header_bytes 1024');
});

test('process: SIGHUP to a new upstream moves all traffic, old pool dropped', async (ctx) => {
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

test('process: per-route counts survive a reload for routes that stay', async (ctx) => {
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

// --- SIGTERM, SIGINT -----------------------------------------------------------

async function drainCase(ctx, sig) {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/detail/slow') await sleep(500);
    res.send(200, [], `done ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const idle = await ctx.client(p.port);        // an idle keep-alive connection must not hold the exit
  await idle.write(rawRequest('GET', '/detail/idle'));
  eq((await idle.readResponse()).status, 200, 'idle connection status');
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/slow'));
  await up.waitRequests(2);
  await sleep(50);
  const t0 = Date.now();
  p.signal(sig);
  await sleep(150);
  // new connections are refused (or closed without an answer) while draining
  let refused = false, detail = '';
  try {
    const n = await Client.connect(p.port, '127.0.0.1', 1000);
    await n.write(rawRequest('GET', '/detail/new'));
    try { const r = await n.readResponse(1500); detail = `got status ${r.status}`; } catch (e) { refused = true; }
    n.close();
  } catch (e) { refused = true; detail = e.code || e.message; }
  check(refused, `a new connection after ${sig} was served (${detail})`);
  const r = await c.readResponse(3000);
  eq(r.status, 200, 'in-flight request status');
  eq(r.body.toString(), 'done /detail/slow', 'in-flight request body');
  const exit = await p.waitExit(5000);
  eq(exit.code, 0, `exit code after ${sig}`);
  check(Date.now() - t0 < 4000, `exit took ${Date.now() - t0} ms`);
  check(!up.heads.some((h) => h.target === '/detail/new'), 'the request on the post-signal connection reached the upstream');
}

test('process: SIGTERM drains the in-flight request, refuses new ones, exits 0', (ctx) => drainCase(ctx, 'SIGTERM'));
test('process: SIGINT drains the in-flight request and exits 0', (ctx) => drainCase(ctx, 'SIGINT'));

test('process: drain_ms bounds a SIGTERM: a request the upstream never answers is cut at drain_ms, exit 0', async (ctx) => {
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

// --- logs ----------------------------------------------------------------------

test('process: access log has one JSON line per request', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target.startsWith('/nope')) return res.send(404, [], 'nf');
    if (req.target === '/static/slow.js') await sleep(120);
    res.send(200, [], 'z'.repeat(321));
  });
  const log = path.join(ctx.tmp(), 'access.log');
  const p = await ctx.proxy(baseConfig(up.port, { access_log: log }));
  eq((await get(p.port, '/detail/1')).status, 200, 'status 1');
  eq((await get(p.port, '/nope')).status, 404, 'status 2');
  const c = await ctx.client(p.port);
  await c.write(rawRequest('POST', '/static/slow.js', [], 'body'));
  eq((await c.readResponse()).status, 200, 'status 3');
  c.close();
  const read = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
  const deadline = Date.now() + 2500;
  while (Date.now() < deadline && read().split('\n').filter(Boolean).length < 3) await sleep(50);
  let text = read();
  let note = '';
  if (text.split('\n').filter(Boolean).length < 3) {
    // not flushed within 2.5 s: accept a flush at exit, but say so
    const exit = await (async () => { p.signal('SIGTERM'); return p.waitExit(5000); })();
    eq(exit.code, 0, 'exit code');
    text = read();
    note = ' (only flushed at exit)';
  }
  const lines = text.split('\n').filter(Boolean);
  eq(lines.length, 3, `access log lines${note}`);
  const recs = lines.map((l, i) => { try { return JSON.parse(l); } catch { throw new Error(`line ${i + 1} is not JSON: ${l}`); } });
  const fields = ['time', 'route', 'method', 'path', 'status', 'bytes', 'duration_ms', 'ttfb_ms'];
  for (const [i, r] of recs.entries()) for (const f of fields) check(f in r, `line ${i + 1} lacks "${f}": ${lines[i]}`);
  const [a, b, d] = recs;
  eq(a.route, 'detail', 'route 1'); eq(a.method, 'GET', 'method 1'); eq(a.path, '/detail/1', 'path 1'); eq(a.status, 200, 'status 1');
  check(a.bytes >= 321, `bytes 1 = ${a.bytes}, body was 321 bytes`);
  eq(b.route, '_other', 'route 2'); eq(b.status, 404, 'status 2'); eq(b.path, '/nope', 'path 2');
  eq(d.route, 'static', 'route 3'); eq(d.method, 'POST', 'method 3'); eq(d.status, 200, 'status 3');
  check(d.duration_ms >= 110 && d.duration_ms < 2000, `duration_ms of the 120 ms request: ${d.duration_ms}`);
  check(d.ttfb_ms >= 110 && d.ttfb_ms <= d.duration_ms + 1, `ttfb_ms of the 120 ms request: ${d.ttfb_ms} (duration ${d.duration_ms})`);
  check(!Number.isNaN(Date.parse(a.time)) || typeof a.time === 'number', `time is neither ISO 8601 nor a number: ${a.time}`);
  if (note) console.log(`  note: access log${note}`);
});

test('process: SIGUSR1 reopens the access and event logs (rotation) without losing a line', async (ctx) => {
  const up = await ctx.upstream();
  const acc = path.join(ctx.tmp(), 'access.log'), evl = path.join(ctx.tmp(), 'events.jsonl');
  const p = await ctx.proxy(baseConfig(up.port, { access_log: acc, event_log: evl }));
  const lines = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  const until = async (f, n, what) => {
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && lines(f).length < n) await sleep(50);
    eq(lines(f).length, n, what);
  };
  eq((await get(p.port, '/detail/1')).status, 200, 'request before rotation');
  eq((await setMode(p, 'home', 'ssr')).status, 200, 'mode change before rotation');
  await until(acc, 1, 'access log lines before rotation');
  await until(evl, 1, 'event log lines before rotation');
  fs.renameSync(acc, acc + '.1');
  fs.renameSync(evl, evl + '.1');
  // still the old files until the signal: the access line waits in the buffer
  eq((await get(p.port, '/detail/2')).status, 200, 'request between rename and signal');
  eq((await setMode(p, 'detail', 'ssr')).status, 200, 'mode change between rename and signal');
  p.signal('SIGUSR1');
  await p.waitStderr(/logs reopened/, 3000);
  eq((await get(p.port, '/detail/3')).status, 200, 'request after SIGUSR1');
  eq((await setMode(p, 'static', 'ssr')).status, 200, 'mode change after SIGUSR1');
  await until(acc, 1, 'access log lines in the new file');
  await until(evl, 1, 'event log lines in the new file');
  eq(lines(acc + '.1').map((r) => r.path).join(','), '/detail/1,/detail/2', 'the rotated access log');
  eq(lines(acc)[0].path, '/detail/3', 'the new access log');
  eq(lines(evl + '.1').map((e) => e.routes.join()).join(','), 'home,detail', 'the rotated event log');
  eq(lines(evl)[0].routes.join(), 'static', 'the new event log');
  check(p.alive, 'proxy died on SIGUSR1');
});
