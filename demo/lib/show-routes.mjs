#!/usr/bin/env node
// show-routes.mjs -- renders leakproxy's GET /api/routes JSON (on stdin) as a table, with the
// demo app's measured ground truth (truth.json) beside it when given:
//   curl -s http://ADMIN/api/routes | node demo/lib/show-routes.mjs [demo/vue/truth.json]
// Prints `estimate` and `verdict` columns only when the API has them (attribution).
import { readFileSync, existsSync } from 'node:fs';

const input = readFileSync(0, 'utf8');
let api;
try { api = JSON.parse(input); } catch { console.log(`(admin API did not return JSON: ${input.slice(0, 200)})`); process.exit(1); }
const routes = api.routes || [];
const truthFile = process.argv[2];
const truth = new Map();
if (truthFile && existsSync(truthFile)) {
  const k = (b) => (b / 1024).toFixed(1).replace(/^-0\.0$/, '0.0');
  for (const r of JSON.parse(readFileSync(truthFile, 'utf8')).routes) {
    const m = r.measured;
    let s = r.kind === 'cache' ? `${k(m.early.heap_per_req)} early, ${k(m.steady.heap_per_req)} steady`
      : r.kind === 'warmup' ? `${(m.first_request.heap / 1048576).toFixed(1)} MB once, then ${k(m.steady.heap_per_req)}`
      : k(m.steady.heap_per_req);
    if (Math.abs(m.steady.rss_per_req - m.steady.heap_per_req) > 100 * 1024) s += ` (RSS ${k(m.steady.rss_per_req)})`;
    if (r.variant) s += ` ${r.variant}`;
    truth.set(r.route, truth.has(r.route) ? `${truth.get(r.route)}; ${s}` : `${r.kind}: ${s}`);
  }
}

const ms = (x) => (typeof x === 'number' ? x.toFixed(1) : '-');
const kb = (b) => (typeof b === 'number' ? `${(b / 1024).toFixed(1)}` : '-');
function estimate(e, metric) {
  if (e == null) return '-';
  // leakproxy's shape: {"heap_used": {...}, "rss": {...}, "external": {...}}
  if (e.heap_used || e.rss || e.external) {
    const m = metric && e[metric] ? metric : e.heap_used ? 'heap_used' : e.rss ? 'rss' : 'external';
    return `${estimate(e[m])} ${m === 'heap_used' ? 'heap' : m}`;
  }
  if (typeof e === 'object' && Object.keys(e).length === 0) return '-';
  if (typeof e === 'number') return `${kb(e)} KB/req`;
  const v = e.bytes_per_req ?? e.bytes_per_request ?? e.value ?? e.beta;
  if (typeof v === 'number') {
    const lo = e.low ?? e.lo ?? e.ci?.[0] ?? e.interval?.[0], hi = e.high ?? e.hi ?? e.ci?.[1] ?? e.interval?.[1];
    return `${kb(v)}${typeof lo === 'number' && typeof hi === 'number' ? ` [${kb(lo)}, ${kb(hi)}]` : ''} KB/req`;
  }
  return JSON.stringify(e).slice(0, 40);
}
const hasEst = routes.some((r) => 'estimate' in r), hasVerdict = routes.some((r) => 'verdict' in r);
const cols = [['route', (r) => r.name], ['requests', (r) => String(r.requests ?? '-')],
  ['status', (r) => Object.entries(r.status || {}).filter(([, n]) => n).map(([k, n]) => `${k}:${n}`).join(' ') || '-'],
  ['p50 ms', (r) => ms(r.latency_ms?.p50)], ['p99 ms', (r) => ms(r.latency_ms?.p99)], ['mode', (r) => r.mode || '-']];
if (hasEst) cols.push(['estimate', (r) => estimate(r.estimate, r.verdict_metric)]);
if (hasVerdict) cols.push(['verdict', (r) => String(r.verdict ?? '-')]);
if (truth.size) cols.push(['ground truth, KB/req (truth.json)', (r) => truth.get(r.name) || '']);

const rows = routes.map((r) => cols.map(([, f]) => f(r)));
const width = cols.map(([h], i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => ([1, 3, 4].includes(i) ? c.padStart(width[i]) : c.padEnd(width[i]))).join('  ').trimEnd();
console.log(line(cols.map(([h]) => h)));
console.log(width.map((w) => '-'.repeat(w)).join('  '));
for (const row of rows) console.log(line(row));
