// The guard: memory over the threshold switches routes to csr
// automatically, never a route set by hand or a never_csr one; dry run
// changes nothing and says what it would do; noise around the threshold
// does not make it flap; recovery restores routes one at a time; every
// decision is an event (GET /api/events, the event log, /metrics, the
// webhook with retries). The end-to-end case runs the Vue demo with its
// leaking route: the guard ends with exactly that route off (at once when
// the engine named it, else after narrowing down), the heap floor stops
// rising and the healthy routes keep rendering. t_guard_fast.mjs has the
// full-speed cases.

import fs from 'node:fs';
import path from 'node:path';
import {
  test, get, check, eq, sleep, note, startHttp, startFakeMemory, adminJson, adminCall, setMode,
  routesByName, pollUntil, parseMetrics, metric, startDemo, demoMemory, demoProxyConfig, drive,
  gcFloors, slopePerSecond, reloadWith, VUE_SHELL, runSync, configText,
} from './lib.mjs';

const MB = 1024 * 1024;

function guardConfig(upPort, mem, guard, extra = {}) {
  return {
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${upPort}`, admin: '127.0.0.1:0',
    fallback: { file: VUE_SHELL },
    routes: [
      { name: 'home', match: '/' },
      { name: 'about', match: '/about' },
      { name: 'news', match: '/news/:id' },
      { name: 'api', match: '/api/*', never_csr: true },
    ],
    memory: { source: 'http', url: mem.url, interval_ms: 100, floor_window_ms: 300 },
    guard,
    ...extra,
  };
}

const events = async (p, q = '') => (await adminJson(p, `/api/events${q}`)).events;
const guardState = async (p) => (await adminJson(p, '/api/status')).guard;

test('guard: action all switches every switchable route, never a manual or never_csr one; events, metrics, webhook with retries', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [['Content-Type', 'text/plain']], `ssr ${req.target}`));
  let heap = 100 * MB;
  const mem = await startFakeMemory(ctx, { heap: () => heap });
  const posts = [];
  let failFirst = 2;
  const hook = await startHttp(ctx, (req, res) => {
    let b = '';
    req.on('data', (d) => { b += d; });
    req.on('end', () => {
      if (failFirst > 0) { failFirst--; res.writeHead(500); res.end(); return; }
      posts.push(JSON.parse(b));
      res.writeHead(200); res.end('ok');
    });
  });
  const logFile = path.join(ctx.tmp(), 'events.jsonl');
  const p = await ctx.proxy(guardConfig(up.port, mem,
    { metric: 'heap_used', high_bytes: 200 * MB, low_bytes: 150 * MB, action: 'all', hold_seconds: 1,
      webhook: `http://127.0.0.1:${hook.port}/hook` },
    { event_log: logFile }));
  eq((await setMode(p, 'about', 'ssr')).status, 200, 'manual ssr on about');
  let g = await guardState(p);
  eq(g.enabled, true, 'guard enabled in /api/status');
  eq(g.tripped, false, 'not tripped at 100 MB');
  await sleep(500);
  eq((await events(p)).filter((e) => e.source === 'guard').length, 0, 'no guard events below the threshold');

  heap = 250 * MB;
  await pollUntil(async () => (await guardState(p)).tripped, { timeout: 5000, what: 'the guard to trip at 250 MB' });
  const r = await routesByName(p);
  eq(r.home.mode, 'csr', 'home switched');
  eq(r.home.mode_by, 'guard', 'home mode_by');
  eq(r.news.mode, 'csr', 'news switched');
  eq(r.about.mode, 'ssr', 'about: set to ssr by hand, the guard must not touch it');
  eq(r.about.mode_by, 'manual', 'about mode_by');
  eq(r.api.mode, 'ssr', 'api is never_csr');
  const res = await get(p.port, '/news/1');
  eq(res.status, 200, 'csr news answered');
  check(res.body.toString().includes('<'), 'news gets the shell');

  const ev = await events(p);
  const trip = ev.find((e) => e.type === 'trip'), sw = ev.find((e) => e.type === 'switch');
  check(trip && /250\.0 MB/.test(trip.reason) && trip.threshold === 200 * MB && trip.worker === 4242,
    `trip event: ${JSON.stringify(trip)}`);
  check(sw && sw.action === 'csr' && sw.source === 'guard' && sw.routes.sort().join(',') === 'home,news',
    `switch event names home and news: ${JSON.stringify(sw)}`);
  check(ev[0].id > ev[ev.length - 1].id, 'newest first');
  const after = await events(p, `?after=${trip.id}`);
  check(after.every((e) => e.id > trip.id) && after.some((e) => e.type === 'switch'), `?after=: ${JSON.stringify(after.map((e) => e.id))}`);

  const m = parseMetrics((await get(p.adminPort, '/metrics')).body.toString());
  eq(metric(m, 'leakproxy_guard_switches_total', { route: 'home', action: 'csr' })[0]?.value, 1, 'switch counter home');
  eq(metric(m, 'leakproxy_guard_switches_total', { route: 'about', action: 'csr' })[0]?.value, 0, 'switch counter about');
  eq(metric(m, 'leakproxy_guard_tripped')[0]?.value, 1, 'tripped gauge');
  eq(metric(m, 'leakproxy_guard_trips_total')[0]?.value, 1, 'trips');
  eq(metric(m, 'leakproxy_route_csr', { route: 'news' })[0]?.value, 1, 'route_csr gauge');

  // the webhook: two 500s, then delivered (back-off 1 s, 2 s)
  await pollUntil(() => posts.length >= 2, { timeout: 12000, what: 'webhook posts of the trip and the switch' });
  check(posts[0].event.type === 'trip' && /tripped/.test(posts[0].text), `first post: ${JSON.stringify(posts[0]).slice(0, 300)}`);
  check(posts[1].event.type === 'switch', `second post: ${JSON.stringify(posts[1]).slice(0, 300)}`);
  g = await guardState(p);
  eq(g.webhook.delivered >= 2 && g.webhook.failed === 0, true, `webhook counters ${JSON.stringify(g.webhook)}`);

  // the event log: JSON lines
  const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  check(lines.some((e) => e.type === 'switch' && e.source === 'guard') && lines.some((e) => e.type === 'mode' && e.source === 'manual'),
    `event log lines: ${lines.map((e) => e.type).join(',')}`);

  // manual restore wins; the guard (restore "manual") does not switch it again
  eq((await setMode(p, 'news', 'ssr')).status, 200, 'manual restore of news');
  await sleep(600);
  eq((await routesByName(p)).news.mode, 'ssr', 'news stays ssr after a manual restore while tripped');
});

test('guard: dry run changes nothing and reports what it would have done', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], 'ok'));
  const mem = await startFakeMemory(ctx, { heap: () => 300 * MB });
  const p = await ctx.proxy(guardConfig(up.port, mem,
    { high_bytes: 200 * MB, action: ['news', 'home'], dry_run: true }));
  await pollUntil(async () => (await guardState(p)).tripped, { timeout: 5000, what: 'the dry-run guard to trip' });
  await sleep(300);
  const r = await routesByName(p);
  for (const n of ['home', 'about', 'news']) eq(r[n].mode, 'ssr', `${n} unchanged in dry run`);
  const g = await guardState(p);
  eq(g.dry_run, true, 'status dry_run');
  eq(g.switched.sort().join(','), 'home,news', 'status lists what it would have switched');
  const sw = (await events(p)).find((e) => e.type === 'switch');
  check(sw && sw.dry_run === true && /would switch/.test(sw.reason) && sw.routes.sort().join(',') === 'home,news',
    `dry-run switch event: ${JSON.stringify(sw)}`);
  eq((await get(p.port, '/news/2')).body.toString(), 'ok', 'news still rendered by the upstream');
  const m = parseMetrics((await get(p.adminPort, '/metrics')).body.toString());
  eq(metric(m, 'leakproxy_guard_switches_total', { route: 'news', action: 'csr' })[0]?.value, 0, 'no real switches counted');
  eq(metric(m, 'leakproxy_guard_dry_run')[0]?.value, 1, 'dry-run gauge');
});

test('guard: memory oscillating around the threshold does not flap; recovery restores one route at a time', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], 'ok'));
  const t0 = Date.now();
  let phase = 'noise';
  // RSS (no floor: every reading counts) +-5 % around high; then low for good
  // (the fake reports rss = heapUsed + 60 MB)
  const mem = await startFakeMemory(ctx, {
    heap: () => (phase === 'noise' ? 260 * MB * (1 + 0.05 * Math.sin((Date.now() - t0) / 150)) - 60 * MB : 100 * MB),
  });
  const p = await ctx.proxy(guardConfig(up.port, mem,
    { metric: 'rss', high_bytes: 260 * MB, low_bytes: 200 * MB, action: 'all', hold_seconds: 1, restore: 'on_recovery',
      max_switches_per_hour: 6 }));
  await pollUntil(async () => (await guardState(p)).tripped, { timeout: 8000, what: 'a trip in the noise' });
  await sleep(4000);                         // 4 s of noise above low: no recovery, no restore
  let ev = await events(p);
  const sw = ev.filter((e) => e.source === 'guard' && (e.type === 'switch' || e.type === 'restore'));
  eq(sw.length, 1, `one switch action in the noise, got ${sw.map((e) => `${e.type}:${e.routes}`).join(' ')}`);
  eq(ev.filter((e) => e.type === 'trip').length, 1, 'one trip');

  phase = 'low';
  // recovered after hold_seconds (1 s) below low, then restores 1 s apart
  await pollUntil(async () => (await events(p)).filter((e) => e.type === 'restore').length >= 3,
    { timeout: 12000, what: 'three restores after recovery' });
  ev = (await events(p)).reverse();
  const rec = ev.find((e) => e.type === 'recovered');
  const rs = ev.filter((e) => e.type === 'restore');
  check(rec && rs[0].time_ms >= rec.time_ms, `recovered before restoring: ${ev.map((e) => e.type).join(',')}`);
  eq(rs[0].routes.length, 1, 'one route per restore');
  check(rs[1].time_ms - rs[0].time_ms >= 900 && rs[2].time_ms - rs[1].time_ms >= 900,
    `restores spaced by hold_seconds: ${rs.map((e) => e.time_ms - rs[0].time_ms).join(', ')} ms`);
  const r = await routesByName(p);
  eq([r.home.mode, r.about.mode, r.news.mode].join(','), 'ssr,ssr,ssr', 'every route rendered again');
  eq(r.home.mode_by, 'guard', 'restored by the guard');
  const g = await guardState(p);
  eq(g.tripped, false, 'not tripped after recovery');
});

test('guard: the projected minutes to the limit trip it (min_minutes_to_oom), then recovery when growth stops', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], 'ok'));
  const t0 = Date.now();
  let growing = true, stoppedAt = 0, heapAtStop = 0;
  // heap floor rising 4 MB/s towards a 1 GB V8 heap limit: about 3.5 minutes left
  const heapNow = () => (growing ? 100 * MB + 4 * MB * (Date.now() - t0) / 1000 : heapAtStop);
  const mem = await startHttp(ctx, (req, res) => {
    const h = Math.round(heapNow());
    const body = JSON.stringify({ pid: 777, rss: h + 50 * MB, heapTotal: h + 8 * MB, heapUsed: h, external: MB,
      heapLimit: 1024 * MB });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  });
  const url = `http://127.0.0.1:${mem.port}/__mem`;
  const p = await ctx.proxy(guardConfig(up.port, { url },
    { min_minutes_to_oom: 30, action: 'all', hold_seconds: 1 },
    { memory: { source: 'http', url, gc_url: url + '?gc=1', interval_ms: 100, gc_interval_ms: 100 },
      attribution: { interval_ms: 300 } }));
  await pollUntil(async () => (await guardState(p)).tripped, { timeout: 15000, what: 'a trip on the projection' });
  const trip = (await events(p)).find((e) => e.type === 'trip');
  check(/projected \d+ minutes until heap_used reaches its limit \(below min_minutes_to_oom = 30\)/.test(trip.reason),
    `trip reason: ${trip.reason}`);
  const rep = await adminJson(p, '/api/report');
  const pr = rep.engine.projection;
  check(pr && Math.abs(pr.limit_bytes - 1024 * MB) < 1e4 && pr.minutes_to_limit > 1 && pr.minutes_to_limit < 10,
    `projection against the 1 GB heap limit at 4 MB/s: ${JSON.stringify(pr)}`);
  eq((await routesByName(p)).news.mode, 'csr', 'news switched');
  heapAtStop = heapNow(); growing = false; stoppedAt = Date.now();
  await pollUntil(async () => (await events(p)).some((e) => e.type === 'recovered'),
    { timeout: 30000, interval: 250, what: 'recovery once the floor stops growing' });
  note(`recovered ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after growth stopped`);
  eq((await guardState(p)).tripped, false, 'not tripped');
  eq((await routesByName(p)).news.mode, 'csr', 'restore "manual": news stays csr');
}, { timeout: 60000 });

test('guard: one high GC floor carried over by plain readings does not trip it', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], 'ok'));
  let gcs = 0;
  // the second forced GC alone reads 250 MB; every other reading, 100 MB
  const mem = await startHttp(ctx, (req, res) => {
    const gc = req.url.includes('gc=1');
    if (gc) gcs++;
    const h = gc && gcs === 2 ? 250 * MB : 100 * MB;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ pid: 31, rss: h + 50 * MB, heapTotal: h + 8 * MB, heapUsed: h, external: MB }));
  });
  const url = `http://127.0.0.1:${mem.port}/__mem`;
  const p = await ctx.proxy(guardConfig(up.port, { url }, { high_bytes: 200 * MB, action: 'all' },
    { memory: { source: 'http', url, gc_url: url + '?gc=1', interval_ms: 100, gc_interval_ms: 1000 } }));
  await pollUntil(() => gcs >= 4, { timeout: 10000, what: 'four forced GCs' });
  await sleep(300);
  const g = await guardState(p);
  eq(g.tripped, false, `tripped on a single high floor: ${JSON.stringify(g)}`);
  eq((await events(p)).filter((e) => e.type === 'trip').length, 0, 'no trip event');
});

test('guard: config errors name the key', async (ctx) => {
  const bad = [
    [{ guard: { high_bytes: 1 } }, /guard: needs a "memory" source/],
    [{ memory: { source: 'http', url: 'http://127.0.0.1:1/m' }, guard: { action: 'leaking' } }, /guard: needs a trigger/],
    [{ memory: { source: 'http', url: 'http://127.0.0.1:1/m' }, guard: { high_bytes: 10, low_bytes: 20 } }, /guard\.low_bytes: must be below/],
    [{ memory: { source: 'http', url: 'http://127.0.0.1:1/m' }, guard: { high_bytes: 10, action: ['nope'] } }, /guard\.action\[0\]: no route named 'nope'/],
    [{ memory: { source: 'http', url: 'http://127.0.0.1:1/m' }, guard: { high_bytes: 10, action: ['api'] } }, /never_csr/],
    [{ memory: { source: 'proc', pid: 1 }, guard: { high_bytes: 10 } }, /guard\.metric: the proc source reports RSS only/],
    [{ memory: { source: 'http', url: 'http://127.0.0.1:1/m' }, guard: { high_fraction: 1.5 } }, /guard\.high_fraction: expected a number in \(0, 1\]/],
    [{ memory: { source: 'http', url: 'http://127.0.0.1:1/m' }, guard: { high_bytes: 10, restore: 'auto' } }, /guard\.restore: 'auto'/],
    [{ memory: { source: 'http', url: 'http://127.0.0.1:1/m' }, guard: { high_bytes: 10, webhook: 'https://x/y' } }, /guard\.webhook/],
  ];
  for (const [extra, re] of bad) {
    const cfg = { ...guardConfig(1, { url: 'http://127.0.0.1:1/m' }, undefined), memory: undefined, ...extra };
    const f = path.join(ctx.tmp(), 'bad.json');
    fs.writeFileSync(f, configText(cfg));
    const r = runSync(['--check-config', '-c', f]);
    check(r.code === 1 && re.test(r.stderr + r.stdout), `${JSON.stringify(extra)}: expected ${re}, got code ${r.code}: ${r.stderr}${r.stdout}`);
    check(/:\d+: guard/.test(r.stderr + r.stdout), `the error names the line: ${r.stderr}`);
  }
});

test('guard: Vue demo, the leaking route is switched off before the limit, the floor stops rising, healthy routes keep rendering', async (ctx) => {
  const d = await startDemo(ctx, 'vue', {});
  const base = `http://127.0.0.1:${d.port}`;
  const cfg = demoProxyConfig(d, {
    fallback: { file: VUE_SHELL },
    memory: demoMemory(d),
    attribution: { interval_ms: 1000, min_leak_bytes: 4096, confirm_requests: 200, min_requests: 30, window_rows: 600 },
  });
  const p = await ctx.proxy(cfg);
  // a baseline floor, then a threshold 40 MB above it (news retains ~240 KB/request)
  await sleep(1500);
  const floorNow = async () => {
    const w = (await adminJson(p, '/api/memory?points=1')).workers.filter((x) => x.alive);
    return Math.max(...w.map((x) => x.floor_bytes || 0));
  };
  const high = (await floorNow()) + 40 * MB;
  await reloadWith(p, { ...cfg, guard: { high_bytes: high, action: 'leaking', hold_seconds: 600 } });

  const rand = (() => { let s = 7; return () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296); })();
  const pick = () => { const u = rand(); return u < 0.25 ? `/news/${1 + Math.floor(rand() * 800)}` : u < 0.7 ? '/' : '/about'; };
  let stop = false;
  const load = drive(p.port, () => (stop ? null : pick()), { requests: 40000, concurrency: 4, rate: 120, maxMs: 90000 });
  let sw = null;
  try {
    await pollUntil(async () => { sw = (await events(p)).find((e) => e.type === 'switch'); return !!sw; },
      { timeout: 75000, interval: 500, what: 'the guard to switch a route' });
    // if it tripped before the engine named news, it narrows down first (a
    // group off, then halves rendered again): wait for the end of that
    await pollUntil(async () => { const g = await guardState(p); return !g.narrowing && g.switched.length > 0; },
      { timeout: 40000, interval: 500, what: 'the guard to end narrowing down' });
    const g = await guardState(p);
    const at = Date.now();
    const r0 = await routesByName(p);
    // memory after the switch: at least 8 s and 5 floors (once verdicts
    // settle the forced-GC budget drops to a tenth, and under ASan on a
    // loaded machine 8 s held only a few floors)
    let pts = [];
    await sleep(8000);
    await pollUntil(async () => {
      const w = (await adminJson(p, '/api/memory?points=600')).workers.filter((x) => x.alive);
      pts = gcFloors(w[0].samples, at + 1500);
      return pts.length >= 5;
    }, { timeout: 40000, interval: 1000, what: '5 forced-GC floors after the switch', describe: () => `${pts.length} floors` });
    const r1 = await routesByName(p);
    const slope = slopePerSecond(pts);
    note(`switch: ${sw.reason}; floor slope after ${(slope / 1024).toFixed(1)} KB/s over ${pts.length} floors`);
    eq(g.switched.join(','), 'news', `the guard ends with exactly the leaking route csr: ${sw.reason}`);
    check(/leaking|suspect/.test(sw.reason), `the event gives the verdict: ${sw.reason}`);
    eq(r1.news.mode, 'csr', 'news csr');
    eq(r1.news.mode_by, 'guard', 'news mode_by guard');
    check(r1.home.rendered > r0.home.rendered + 20 && r1.about.rendered > r0.about.rendered + 10,
      `healthy routes still rendered: home ${r0.home.rendered}->${r1.home.rendered}, about ${r0.about.rendered}->${r1.about.rendered}`);
    check(r1.news.rendered === r0.news.rendered, `news no longer rendered: ${r0.news.rendered}->${r1.news.rendered}`);
    check(r1.news.csr_requests > r0.news.csr_requests, 'news answered from the fallback');
    // before the switch news alone grew the floor by ~6 MB/s at this rate
    check(pts.length >= 5 && slope < 300 * 1024, `heap floor still rising after the switch: ${(slope / 1024).toFixed(1)} KB/s`);
  } finally { stop = true; }
  const res = await load;
  check(res.errors === 0, `load errors: ${res.errors} (${res.lastError})`);
}, { timeout: 150000 });
