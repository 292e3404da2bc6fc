#!/usr/bin/env node
// truth.mjs -- measures the ground truth of the demo apps: retained bytes per request, per route.
//
// For every route (and every truth variant of it) of an app's routes.json: start a FRESH
// `node --expose-gc server.js` on a free port, force GC and read /__mem, send one request
// (first-request cost), a few warm-up requests, then N sequential requests with a forced-GC
// reading every --every requests. Retained bytes per request are least-squares slopes of
// those post-GC floors (GC noise is large: never one before/after pair) over an early window
// (requests 0..--early) and a steady-state window (the second half). Leaking routes are run
// again with their LEAK_<X>=0 switch to show the switch works.
//
//   node demo/truth.mjs                  # both apps, writes demo/<app>/truth.json + README tables
//   node demo/truth.mjs vue --only news,live --n 300     # prints the table, writes nothing
//   node demo/truth.mjs --tables-only                    # rebuild README tables from truth.json
import http from 'node:http';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { prng, expand } from './load.mjs';
import { DEMO, startApp, stop } from './lib/procs.mjs';

const opt = { apps: [], n: 500, every: 25, early: 100, warmup: 5, write: true, only: null, env: {} };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = () => process.argv[++i];
  if (a === '--n') opt.n = Number(v());
  else if (a === '--every') opt.every = Number(v());
  else if (a === '--early') opt.early = Number(v());
  else if (a === '--warmup') opt.warmup = Number(v());
  else if (a === '--only') opt.only = new Set(v().split(','));
  else if (a === '--env') { const [k, ...rest] = v().split('='); opt.env[k] = rest.join('='); }
  else if (a === '--no-write') opt.write = false;
  else if (a === '--tables-only') opt.tablesOnly = true;
  else if (/^[a-z]+$/.test(a)) opt.apps.push(a);
  else { console.error(`usage: node truth.mjs [vue] [react] [--n 500] [--every 25] [--early 100] [--warmup 5] [--only r1,r2] [--env K=V] [--no-write] [--tables-only]`); process.exit(2); }
}
if (!opt.apps.length) opt.apps = ['vue', 'react'];
if (opt.only) opt.write = false;   // a partial run never overwrites the committed truth
for (const app of opt.apps) {
  if (!existsSync(`${DEMO}${app}/routes.json`)) { console.error(`truth: no app demo/${app}`); process.exit(2); }
  if (!existsSync(`${DEMO}${app}/node_modules`)) { console.error(`truth: run (cd demo/${app} && npm ci) first`); process.exit(2); }
}
if (opt.n % opt.every || opt.early % opt.every) { console.error('--n and --early must be multiples of --every'); process.exit(2); }

const start = (app, env) => startApp(app, { ...opt.env, ...env, WORKERS: '0' });

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
/** One request; resolves {status, bytes, ms}. */
function request(port, q) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const headers = { ...(q.headers || {}) };
    if (q.body !== undefined) headers['content-length'] = Buffer.byteLength(q.body);
    const req = http.request({ host: '127.0.0.1', port, path: q.path, method: q.method || 'GET', headers, agent, timeout: 30000 }, (res) => {
      let bytes = 0;
      res.on('data', (c) => { bytes += c.length; });
      res.on("end", () => resolve({ status: res.statusCode, bytes, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${q.path}`)));
    req.on('error', reject);
    req.end(q.body);
  });
}
async function mem(port) {
  const r = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/__mem?gc=1', agent }, (res) => {
      let s = ''; res.on('data', (c) => { s += c; }); res.on('end', () => resolve(s));
    }).on('error', reject);
  });
  const m = JSON.parse(r);
  if (m.gc_error) throw new Error(m.gc_error);
  return { heap: m.heapUsed, rss: m.vmrss ?? m.rss, ext: m.external, gc_ms: m.gc_ms };
}

/** Least-squares slope of y on x over the points with lo <= x <= hi. */
function slope(pts, key, lo, hi) {
  const p = pts.filter((s) => s.req >= lo && s.req <= hi);
  const mx = p.reduce((a, s) => a + s.req, 0) / p.length, my = p.reduce((a, s) => a + s[key], 0) / p.length;
  let sxy = 0, sxx = 0;
  for (const s of p) { sxy += (s.req - mx) * (s[key] - my); sxx += (s.req - mx) ** 2; }
  return sxx ? Math.round(sxy / sxx) : 0;
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? +s[Math.floor(s.length / 2)].toFixed(2) : 0; };

async function measure(app, route, variant, env) {
  const { port, proc } = await start(app, { ...(variant.env || {}), ...env });
  try {
    const rand = prng(1);
    let seq = 0;
    const next = () => ({ path: expand(variant.path, rand, ++seq), method: route.method, headers: route.headers, body: route.body });
    const before = await mem(port);
    const first = await request(port, next());
    if (first.status >= 400) throw new Error(`${route.name}: ${first.status} for the first request`);
    const afterFirst = await mem(port);
    for (let i = 1; i < opt.warmup; i++) await request(port, next());
    const samples = [{ req: 0, ...(await mem(port)) }];
    const lat = [];
    const statuses = {};
    for (let i = 1; i <= opt.n; i++) {
      const r = await request(port, next());
      statuses[r.status] = (statuses[r.status] || 0) + 1;
      lat.push({ i, ms: r.ms });
      if (i % opt.every === 0) samples.push({ req: i, ...(await mem(port)) });
    }
    const win = (lo, hi) => ({ heap_per_req: slope(samples, 'heap', lo, hi), rss_per_req: slope(samples, 'rss', lo, hi),
      external_per_req: slope(samples, 'ext', lo, hi), p50_ms: median(lat.filter((l) => l.i > lo && l.i <= hi).map((l) => l.ms)) });
    const last = samples.at(-1);
    return {
      page_bytes: first.bytes, first_ms: +first.ms.toFixed(2), statuses,
      first_request: { heap: afterFirst.heap - before.heap, rss: afterFirst.rss - before.rss, external: afterFirst.ext - before.ext },
      early: { from: 0, to: opt.early, ...win(0, opt.early) },
      steady: { from: opt.n / 2, to: opt.n, ...win(opt.n / 2, opt.n) },
      total: { heap: last.heap - samples[0].heap, rss: last.rss - samples[0].rss, external: last.ext - samples[0].ext },
      gc_ms_last: last.gc_ms,
      samples: samples.map((s) => [s.req, s.heap, s.rss, s.ext]),
    };
  } finally { await stop(proc); }
}

const kb = (b) => (b / 1024).toFixed(1).replace(/^-0\.0$/, '0.0');
const mb = (b) => (b / 1048576).toFixed(1).replace(/^-0\.0$/, '0.0');

function table(result) {
  const rows = ['| route | kind | path | page KB | 1st request heap / RSS MB | early heap KB/req | steady heap KB/req | steady RSS KB/req | steady external KB/req | leak switched off: steady heap / RSS KB/req | p50 ms early → steady |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|'];
  for (const r of result.routes) {
    const m = r.measured;
    const off = r.switched_off ? `${kb(r.switched_off.steady.heap_per_req)} / ${kb(r.switched_off.steady.rss_per_req)} (${r.leak_switch}=0)` : '';
    rows.push(`| ${r.route}${r.variant ? ` (${r.variant})` : ''} | ${r.kind} | \`${r.path}\` | ${kb(m.page_bytes)} | ` +
      `${mb(m.first_request.heap)} / ${mb(m.first_request.rss)} | ${kb(m.early.heap_per_req)} | ${kb(m.steady.heap_per_req)} | ` +
      `${kb(m.steady.rss_per_req)} | ${kb(m.steady.external_per_req)} | ${off} | ${m.early.p50_ms.toFixed(1)} → ${m.steady.p50_ms.toFixed(1)} |`);
  }
  return rows.join('\n');
}

function replaceBlock(file, tag, text) {
  if (!existsSync(file)) return;
  const s = readFileSync(file, 'utf8');
  const a = `<!-- truth:${tag} -->`, b = `<!-- /truth:${tag} -->`;
  const i = s.indexOf(a), j = s.indexOf(b);
  if (i < 0 || j < i) { console.error(`truth: no ${a} ... ${b} block in ${file}, not updated`); return; }
  writeFileSync(file, `${s.slice(0, i + a.length)}\n${text}\n${s.slice(j)}`);
}

function writeTables(app, out) {
  const md = `Measured ${out.generated.slice(0, 10)} with Node ${out.node}, ${out.method.n} sequential requests per route on a fresh process ` +
    `(\`node demo/truth.mjs ${app}\`, ${out.seconds} s). KB = 1024 bytes. Slopes are least squares over forced-GC readings every ${out.method.every} requests: ` +
    `early = requests ${out.method.early_window.join('–')}, steady = ${out.method.steady_window.join('–')}.\n\n${table(out)}`;
  if (!opt.write) return console.log(md);
  replaceBlock(`${DEMO}${app}/README.md`, app, md);
  replaceBlock(`${DEMO}README.md`, app, md);
}

async function runApp(app) {
  if (opt.tablesOnly) return writeTables(app, JSON.parse(readFileSync(`${DEMO}${app}/truth.json`, 'utf8')));
  const spec = JSON.parse(readFileSync(`${DEMO}${app}/routes.json`, 'utf8'));
  const out = { app, generated: new Date().toISOString(), node: process.version,
    method: { n: opt.n, every: opt.every, warmup: opt.warmup, early_window: [0, opt.early], steady_window: [opt.n / 2, opt.n],
      slope: 'least squares of post-GC /__mem readings (bytes) on request count', rss: 'VmRSS', env: opt.env },
    routes: [] };
  const t0 = performance.now();
  for (const route of spec.routes) {
    if (opt.only && !opt.only.has(route.name)) continue;
    for (const variant of route.truth || [{ path: route.path }]) {
      const t1 = performance.now();
      const row = { route: route.name, variant: variant.label || null, match: route.match, path: variant.path, kind: route.kind,
        behaviour: route.behaviour || route.kind, leak_switch: route.leak ? `LEAK_${route.leak}` : null };
      row.measured = await measure(app, route, variant, {});
      if (route.leak) {
        const off = await measure(app, route, variant, { [`LEAK_${route.leak}`]: '0' });
        row.switched_off = { early: off.early, steady: off.steady, first_request: off.first_request };
      }
      out.routes.push(row);
      const m = row.measured;
      console.error(`truth ${app} ${route.name}${row.variant ? ` (${row.variant})` : ''}: first ${mb(m.first_request.heap)} MB, ` +
        `early ${kb(m.early.heap_per_req)} KB/req, steady heap ${kb(m.steady.heap_per_req)} / rss ${kb(m.steady.rss_per_req)} KB/req` +
        (row.switched_off ? `, off: ${kb(row.switched_off.steady.heap_per_req)} KB/req` : '') + ` [${((performance.now() - t1) / 1000).toFixed(1)} s]`);
    }
  }
  out.seconds = +((performance.now() - t0) / 1000).toFixed(1);
  if (opt.write) {
    writeFileSync(`${DEMO}${app}/truth.json`, JSON.stringify(out, null, 1) + '\n');
    console.error(`truth: wrote ${app}/truth.json (${out.seconds} s)`);
  }
  writeTables(app, out);
}

for (const app of opt.apps) await runApp(app);
agent.destroy();
