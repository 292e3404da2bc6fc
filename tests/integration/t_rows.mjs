// Designed measurement rows at full speed: the Vue demo behind leakproxy
// with the README's minimal forced-GC memory block (gc_url, every other key
// at its default), driven by closed-loop clients with no rate limit. The
// leak is named within the request budget, healthy routes never are, and
// the requests the admission gate held show in the access log, the routes
// API and the metrics. With rows off nothing is held.

import fs from 'node:fs';
import path from 'node:path';
import {
  test, check, eq, sleep, note, startDemo, startLoad, adminJson, routesByName, demoProxyConfig,
  parseMetrics, metric, adminCall, pollUntil, runSync, configText, lineOf,
} from './lib.mjs';

const HEALTHY = ['home', 'about', 'products', 'user', 'static'];

function minimalMemory(d, extra = {}) {
  const base = `http://127.0.0.1:${d.port}`;
  return { source: 'http', url: `${base}/__mem`, gc_url: `${base}/__mem?gc=1`, ...extra };
}

// Drives <requests> at full speed (concurrency 8, no rate limit) and polls
// the routes every 250 ms; returns the request count at which each route was
// first seen leaking, and the final routes.
async function fullSpeed(ctx, p, requests) {
  const load = startLoad(ctx, ['--app', 'vue', '--seed', '1', '--target', `http://127.0.0.1:${p.port}`,
    '--requests', String(requests), '--concurrency', '8', '--rate', '0']);
  const firstLeaking = {};
  let routes;
  for (;;) {
    const done = load.exited;
    routes = await routesByName(p);
    const total = Object.values(routes).reduce((a, r) => a + r.requests, 0);
    for (const [name, r] of Object.entries(routes))
      if (r.verdict === 'leaking' && firstLeaking[name] === undefined) firstLeaking[name] = total;
    if (done) break;
    await sleep(250);
  }
  eq(load.exited.code, 0, `load exit (${load.output().stderr.slice(-300)})`);
  return { firstLeaking, routes };
}

test('rows: full speed, minimal memory block: news leaking within 5,000 requests, no healthy route ever leaking, held time shown', async (ctx) => {
  const d = await startDemo(ctx, 'vue', {});
  const log = path.join(ctx.tmp(), 'access.log');
  const p = await ctx.proxy(demoProxyConfig(d, { memory: minimalMemory(d), access_log: log }));
  const { firstLeaking, routes } = await fullSpeed(ctx, p, 5000);
  note(`first leaking: ${JSON.stringify(firstLeaking)}`);
  check(firstLeaking.news !== undefined && firstLeaking.news <= 5000,
    `news (239 KB/request, 6 % of the traffic) first leaking at ${firstLeaking.news} requests; reason: ${routes.news.reason}`);
  for (const h of HEALTHY)
    check(firstLeaking[h] === undefined, `healthy route ${h} was named leaking at ${firstLeaking[h]} requests: ${routes[h].reason}`);
  const mem = await adminJson(p, '/api/memory');
  check(mem.design && mem.design.enabled && mem.design.rows > 50, `designed rows: ${JSON.stringify(mem.design)}`);
  check(mem.gc.duty > 0 && mem.gc.duty <= 0.5 + 0.1, `forced-GC duty within the budget: ${JSON.stringify(mem.gc)}`);
  const held = Object.values(routes).reduce((a, r) => a + r.held.requests, 0);
  check(held > 100, `requests held at the gate (routes API): ${held}`);
  const m = parseMetrics((await adminCall(p, 'GET', '/metrics')).text);
  const heldMetric = metric(m, 'leakproxy_held_requests_total').reduce((a, s) => a + s.value, 0);
  eq(heldMetric, held, 'leakproxy_held_requests_total summed over routes');
  check(metric(m, 'leakproxy_memory_rows_designed_total')[0]?.value > 50, 'leakproxy_memory_rows_designed_total');
  await sleep(1200);                 // the access log is flushed every second
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const withHold = lines.filter((l) => typeof l.held_ms === 'number');
  check(withHold.length > 100 && withHold.every((l) => l.held_ms >= 0 && l.held_ms <= 2 * 500 + 250),
    `access log lines with held_ms: ${withHold.length} of ${lines.length}; max ${Math.max(...withHold.map((l) => l.held_ms))} ms`);
}, { timeout: 150000 });

test('rows: "rows": {"design": false} holds nothing; the forced GCs follow gc_interval_ms', async (ctx) => {
  const d = await startDemo(ctx, 'vue', {});
  const p = await ctx.proxy(demoProxyConfig(d, { memory: minimalMemory(d, { rows: { design: false } }) }));
  const { routes } = await fullSpeed(ctx, p, 1500);
  const held = Object.values(routes).reduce((a, r) => a + r.held.requests, 0);
  eq(held, 0, 'requests held with rows off and no quiesce_ms');
  const mem = await adminJson(p, '/api/memory');
  eq(mem.design.enabled, false, 'design.enabled');
  eq(mem.design.rows, 0, 'designed rows');
  eq(mem.gc.max_duty, 0.05, 'max_gc_duty keeps its old default with rows off');
}, { timeout: 90000 });

test('rows: config: design without gc_url, max below min, unknown key -> file:line: key: error', async (ctx) => {
  const dir = ctx.tmp();
  const cases = [
    [{ source: 'http', url: 'http://127.0.0.1:9/__mem', rows: { design: true } }, 'memory.rows.design', /needs "gc_url"/],
    [{ source: 'http', url: 'http://127.0.0.1:9/__mem', gc_url: 'http://127.0.0.1:9/__mem?gc=1', rows: { min_requests: 50, max_requests: 10 } },
      'memory.rows.max_requests', /below min_requests/],
    [{ source: 'http', url: 'http://127.0.0.1:9/__mem', gc_url: 'http://127.0.0.1:9/__mem?gc=1', rows: { hold: 5 } }, 'memory.rows.hold', /unknown|did you mean/],
  ];
  for (const [memory, key, re] of cases) {
    const text = configText({ listen: '127.0.0.1:0', upstream: 'http://127.0.0.1:9', routes: [{ name: 'a', match: '/a' }], memory });
    const f = path.join(dir, 'c.json');
    fs.writeFileSync(f, text);
    const r = runSync(['--check-config', '-c', f]);
    check(r.code !== 0, `${key}: exit status ${r.code}`);
    check(r.stderr.includes(`${key}`) && re.test(r.stderr) && /c\.json:\d+:/.test(r.stderr), `${key}: stderr ${JSON.stringify(r.stderr)}`);
  }
});

test('rows: "unknown" leads somewhere: next_step per route in the API and the report, by memory source', async (ctx) => {
  const up = await ctx.upstream();
  const cases = [
    [{ source: 'http', url: `http://127.0.0.1:${up.port}/__mem` }, 'gc_url'],
    [{ source: 'proc', pid: process.pid }, 'bisect'],
  ];
  for (const [memory, want] of cases) {
    const p = await ctx.proxy({ listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${up.port}`, admin: '127.0.0.1:0',
      routes: [{ name: 'page', match: '/page/:id' }], memory, attribution: { interval_ms: 200 } });
    for (let i = 0; i < 5; i++) eq((await fetch(`http://127.0.0.1:${p.port}/page/${i}`)).status, 200, 'GET');
    let r;
    await pollUntil(async () => { r = (await routesByName(p)).page; return r.next_step; }, { timeout: 5000, what: 'next_step' });
    eq(r.next_step.experiment, want, `next_step with ${memory.source}${memory.gc_url ? ' + gc_url' : ''}: ${JSON.stringify(r.next_step)}`);
    const rep = (await adminCall(p, 'GET', '/api/report?format=text')).text;
    check(rep.includes('what would settle them') && rep.includes(want), `text report: ${rep.slice(-400)}`);
  }
});

test('rows: attribution.auto_probe probes a route the engine cannot call yet, by itself', async (ctx) => {
  const d = await startDemo(ctx, 'vue', {});
  const p = await ctx.proxy(demoProxyConfig(d, { memory: minimalMemory(d, { rows: { design: false } }),
    attribution: { auto_probe: true, interval_ms: 500 } }));
  const load = startLoad(ctx, ['--app', 'vue', '--seed', '2', '--target', `http://127.0.0.1:${p.port}`,
    '--duration', '40', '--concurrency', '2', '--rate', '100']);
  let j;
  await pollUntil(async () => { j = (await adminCall(p, 'GET', '/api/probe')).json; return j && ['running', 'done'].includes(j.state); },
    { timeout: 30000, interval: 500, what: 'a probe started by attribution.auto_probe', describe: () => JSON.stringify(j) });
  await load.stop();
  check(['running', 'done'].includes(j.state), `auto probe: ${JSON.stringify(j).slice(0, 300)}`);
  const ev = await adminJson(p, '/api/events');
  const list = Array.isArray(ev) ? ev : ev.events;
  check(list.some((e) => /probe of .* started/.test(e.reason)), `events: ${JSON.stringify(list).slice(0, 400)}`);
}, { timeout: 90000 });
