#!/usr/bin/env node
// soak_poll.mjs -- the dashboard's share of a soak (bench/soak.sh): polls the
// admin API of leakproxy once a second, as an open dashboard would, and
// checks every answer (status 200, JSON that parses, /metrics text with a
// leakproxy_requests_total sample). From /api/memory it also follows the
// forced GCs: the longest time its "rows" count (one per floor read) did not
// move while the load ran, and the largest gc.last_ms. Runs until
// SIGTERM/SIGINT, then prints one JSON line: {"polls": N, "failures": N,
// "by_endpoint": {...}, "last_failure": "...", "rows": N,
// "longest_without_new_row_s": S, "longest_without_new_row_at": "...",
// "gc_last_ms_max": MS}.
//
//   node bench/soak_poll.mjs HOST:PORT [INTERVAL_MS]
import http from 'node:http';

const [admin, intervalArg] = process.argv.slice(2);
if (!admin) { console.error('usage: soak_poll.mjs HOST:PORT [INTERVAL_MS]'); process.exit(2); }
const [host, port] = [admin.slice(0, admin.lastIndexOf(':')), +admin.slice(admin.lastIndexOf(':') + 1)];
const interval = +(intervalArg || 1000);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

// the API calls the dashboard makes every refresh; its static page every 10th
const ENDPOINTS = ['/api/routes', '/api/memory?points=120', '/api/report', '/api/status', '/metrics'];
const stats = { polls: 0, failures: 0, by_endpoint: {}, last_failure: null, rows: null, longest_without_new_row_s: 0,
  longest_without_new_row_at: null, gc_last_ms_max: 0 };
let rowsAt = 0;
function followRows(body) {
  let j;
  try { j = JSON.parse(body); } catch { return; }
  const now = Date.now();
  if (typeof j.rows === 'number' && j.rows !== stats.rows) { stats.rows = j.rows; rowsAt = now; }
  else if (rowsAt && (now - rowsAt) / 1000 > stats.longest_without_new_row_s) {
    stats.longest_without_new_row_s = +((now - rowsAt) / 1000).toFixed(0);
    stats.longest_without_new_row_at = new Date(rowsAt).toISOString();
  }
  if (j.gc && j.gc.last_ms > stats.gc_last_ms_max) stats.gc_last_ms_max = j.gc.last_ms;
}

function get(path) {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8'),
        type: res.headers['content-type'] || '' }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout after 10 s')));
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

function judge(path, r) {
  if (r.error) return r.error;
  if (r.status !== 200) return `status ${r.status}`;
  if (path === '/metrics') return /^leakproxy_requests_total\{/m.test(r.body) ? null : 'no leakproxy_requests_total';
  if (path === '/') return /<html/i.test(r.body) ? null : 'no HTML';
  try { JSON.parse(r.body); } catch { return `body is not JSON: ${r.body.slice(0, 80)}`; }
  return null;
}

let stop = false, wake = null;
const done = () => { stop = true; if (wake) wake(); };
process.on('SIGTERM', done);
process.on('SIGINT', done);

let round = 0;
while (!stop) {
  const t0 = Date.now();
  const paths = round++ % 10 === 0 ? [...ENDPOINTS, '/'] : ENDPOINTS;
  for (const p of paths) {
    const r = await get(p);
    const bad = judge(p, r);
    const e = (stats.by_endpoint[p] ??= { ok: 0, failed: 0 });
    stats.polls++;
    if (!bad && p.startsWith('/api/memory')) followRows(r.body);
    if (bad) { e.failed++; stats.failures++; stats.last_failure = `${new Date().toISOString()} ${p}: ${bad}`; } else e.ok++;
  }
  const wait = interval - (Date.now() - t0);
  if (wait > 0 && !stop) {
    await new Promise((r) => { const t = setTimeout(r, wait); wake = () => { clearTimeout(t); r(); }; });
    wake = null;
  }
}
agent.destroy();
console.log(JSON.stringify(stats));
