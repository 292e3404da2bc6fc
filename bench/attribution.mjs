#!/usr/bin/env node
// bench/attribution.mjs -- accuracy of leakproxy's attribution engine on the real demo apps.
// Node built-ins only. Run through bench/attribution.sh (which checks the prerequisites).
//
// For every configuration (memory source setup), app (vue, react) and seed: start a fresh app
// and a fresh leakproxy in front of it (loopback, free ports), drive the deterministic mixed load
// (demo/load.mjs, --rate 150 -c 4), poll GET /api/routes every ~500 ms, and compare every
// route's estimate and verdict with the measured ground truth (demo/<app>/truth.json).
// Writes a markdown report (tables per configuration + the accuracy targets, met or missed)
// a JSON file with every run's per-route results, and every poll in the work dir's
// attribution-traces.json.
//
//   node bench/attribution.mjs [--quick] [--seeds N] [--configs gcq,gc,env,cluster,header,gcqt,gcqnobus,proc]
//        [--apps vue,react] [--requests N] [--parallel 2] [--md FILE] [--json FILE]
//        [--keep]
//   node bench/attribution.mjs --from /tmp/attrbench-*/attribution-traces.json [--md FILE]
//        (re-renders the report from a previous run's polls, runs nothing)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, stop, killAll, collect, waitFor, sleep } from './procs.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const KB = 1024;

// ---- options ---------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = { quick: false, seeds: null, configs: null, apps: ['vue', 'react'], requests: null,
  parallel: 2, md: null, json: null, keep: false, rate: 150, conc: 4, poll: 500 };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i], v = () => argv[++i];
  if (a === '--quick') opt.quick = true;
  else if (a === '--seeds') opt.seeds = +v();
  else if (a === '--configs') opt.configs = v().split(',');
  else if (a === '--apps') opt.apps = v().split(',');
  else if (a === '--requests') opt.requests = +v();
  else if (a === '--parallel') opt.parallel = Math.max(1, Math.min(2, +v()));
  else if (a === '--md') opt.md = v();
  else if (a === '--json') opt.json = v();
  else if (a === '--keep') opt.keep = true;
  else if (a === '--from') opt.from = v();
  else if (a === '--rate') opt.rate = +v();
  else if (a === '--conc') opt.conc = +v();
  else if (a === '--attribution') opt.attribution = JSON.parse(v());   // extra "attribution" keys
  else if (a === '-h' || a === '--help') {
    console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 15).join('\n'));
    process.exit(0);
  } else { console.error(`unknown option ${a}`); process.exit(2); }
}

// ---- configurations ----------------------------------------------------------------------------
// requests: per app; seeds: full run / --quick. The forced-GC configuration with quiescing is the
// primary one (10 seeds: the "never leaking" target); the others test their own targets.
const httpMem = (port, extra) => ({ source: 'http', url: `http://127.0.0.1:${port}/__mem`, interval_ms: 100, ...extra });
const gcMem = (port) => ({ gc_url: `http://127.0.0.1:${port}/__mem?gc=1`, gc_interval_ms: 100, max_gc_duty: 0.1 });
const CONFIGS = {
  // the README's minimal forced-GC block: designed rows, quiescing and the budget at their defaults
  rows: { title: 'designed rows: `gc_url` with every other key at its default (rows, quiesce, budget)', seeds: [10, 2],
    requests: { vue: 6000, react: 9000 },
    memory: (p) => ({ source: 'http', url: `http://127.0.0.1:${p}/__mem`, gc_url: `http://127.0.0.1:${p}/__mem?gc=1` }) },
  gcq: { title: 'forced GC + quiescing (http source, `quiesce_ms` 50)', seeds: [10, 2],
    // react seeds 1-3 (quick: seed 1) run 20,000 requests: the ~8 KB beacon target
    requests: { vue: 6000, react: (s, quick) => (s <= (quick ? 1 : 3) ? 20000 : 9000) },
    memory: (p) => httpMem(p, { ...gcMem(p), quiesce_ms: 50 }) },
  gcqt: { title: 'forced GC + quiescing, memory `timeout_ms` 2000 (the default is min(2 × interval_ms, 2000) = 200 ms)',
    seeds: [2, 1], requests: { vue: 6000, react: 9000 }, optional: true,
    memory: (p) => httpMem(p, { ...gcMem(p), quiesce_ms: 50, timeout_ms: 2000 }) },
  // the step after the biggest leak is found and switched to CSR: the app without it (the news
  // leak's switch off), so the smaller leaks can be measured over a longer run (news is then
  // healthy: ignore its "missed" line)
  gcqnobus: { title: 'forced GC + quiescing, Vue `news` leak off (`LEAK_BUS=0`, as after switching news to CSR)',
    seeds: [3, 1], requests: { vue: 20000, react: 9000 }, optional: true, env: { LEAK_BUS: '0' },
    memory: (p) => httpMem(p, { ...gcMem(p), quiesce_ms: 50 }) },
  gc: { title: 'forced GC, no quiescing (http source)', seeds: [2, 1],
    requests: { vue: 6000, react: 9000 },
    memory: (p) => httpMem(p, gcMem(p)) },
  env: { title: 'no forced GC: lower envelope of heap_used (http source, no `gc_url`)', seeds: [3, 1],
    requests: { vue: 10500, react: 10500 },
    memory: (p) => httpMem(p) },
  // the source a plain app needs no code for: RSS of the process from /proc, nothing else
  proc: { title: 'no app support: `proc` source (RSS of the app process from /proc/PID/status, no heap, no floors)',
    seeds: [3, 1], requests: { vue: 10500, react: 10500 }, optional: true,
    memory: (p, pid) => ({ source: 'proc', pid, interval_ms: 100 }) },
  cluster: { title: 'cluster, `WORKERS=2`, forced GC + quiescing through `/__mem/all` (http source, all workers in one reading)',
    seeds: [2, 1], requests: { vue: 6000, react: 9000 }, workers: 2,
    memory: (p) => ({ source: 'http', url: `http://127.0.0.1:${p}/__mem/all`, interval_ms: 100,
      gc_url: `http://127.0.0.1:${p}/__mem/all?gc=1`, gc_interval_ms: 100, max_gc_duty: 0.1, quiesce_ms: 50 }) },
  header: { title: 'cluster, `WORKERS=2`, `header` source (app `LEAKPROXY_HEADER=1`: contrib/node adds X-Leakproxy-Memory)',
    seeds: [2, 1], requests: { vue: 9000, react: 9000 }, workers: 2, env: { LEAKPROXY_HEADER: '1' },
    memory: () => ({ source: 'header' }) },
};
const configNames = opt.configs || Object.keys(CONFIGS).filter((c) => !CONFIGS[c].optional);
for (const c of configNames) if (!CONFIGS[c]) { console.error(`unknown configuration ${c}`); process.exit(2); }

// ---- ground truth --------------------------------------------------------------------------------
function loadTruth(app) {
  const t = JSON.parse(fs.readFileSync(path.join(ROOT, 'demo', app, 'truth.json'), 'utf8'));
  const out = {};
  for (const r of t.routes) {
    const s = r.measured.steady;
    const row = { kind: r.kind, heap: s.heap_per_req, rss: s.rss_per_req, ext: s.external_per_req,
      first: r.measured.first_request.heap };
    if (r.variant === 'odd id') out[r.route] = { ...row, odd: row };
    else if (r.variant === 'even id') out[r.route].even = row;
    else if (r.variant === 'load mix') out[r.route].mix = row;
    else if (!r.variant) out[r.route] = row;
  }
  return out;
}
const TRUTH = Object.fromEntries(opt.apps.map((a) => [a, loadTruth(a)]));
const ROUTE_ORDER = Object.fromEntries(opt.apps.map((a) => [a,
  JSON.parse(fs.readFileSync(path.join(ROOT, 'demo', a, 'routes.json'), 'utf8')).routes.map((r) => r.name)]));

// Share of odd ids among the /live/:id requests a seed sends in its first <n> requests.
function liveOddShare(seed, n) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'demo/load.mjs'), '--app', 'vue', '--seed', String(seed),
    '--dry-run', String(n)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  let odd = 0, all = 0;
  for (const line of r.stdout.split('\n')) {
    const m = /\/live\/(\d+)/.exec(line);
    if (m) { all++; if (+m[1] % 2) odd++; }
  }
  return all ? odd / all : 0.5;
}

// ---- processes: bench/procs.mjs (own process groups, killed on exit) -------------------------
function getJson(port, p, timeout = 3000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => { try { resolve(JSON.parse(b)); } catch (e) { reject(e); } });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// The apps and the load driver run from symlinks with neutral names in the work dir (Node
// resolves the real path for the app's imports; load.mjs gets --preserve-symlinks-main and an
// absolute --mix file): their command lines are this run's alone, so that a broad
// `pkill -f load.mjs` or `pkill -f demo/vue/server.js` from someone else's session does not
// end them (both happened during the first full run: an app gone mid-run, load.mjs exiting 130).
function entry(work, rel) {
  const names = { 'demo/vue/server.js': 'app-vue.js', 'demo/react/server.js': 'app-react.js', 'demo/load.mjs': 'driver.mjs' };
  const link = path.join(work, names[rel] || rel.replace(/[/]/g, '-'));
  if (!fs.existsSync(link)) fs.symlinkSync(path.join(ROOT, rel), link);
  return link;
}
function mixFile(work, app) {
  const f = path.join(work, `mix-${app}.json`);
  if (!fs.existsSync(f)) fs.copyFileSync(path.join(ROOT, 'demo', app, 'routes.json'), f);
  return f;
}

// ---- one run ----------------------------------------------------------------------------------------
const METRICS = ['heap_used', 'rss', 'external'];
const SHORT = { heap_used: 'heap', rss: 'rss', external: 'ext' };

async function oneRun(work, lpBin, cfgName, app, seed, nreq) {
  const C = CONFIGS[cfgName];
  const dir = fs.mkdtempSync(path.join(work, `${cfgName}-${app}-${seed}-`));
  const procs = [];
  const t0 = Date.now();
  let appP = null, lpP = null;
  try {
    const nodeArgs = ['--expose-gc'];
    nodeArgs.push(entry(work, `demo/${app}/server.js`));
    appP = start(process.execPath, nodeArgs, { cwd: path.join(ROOT, 'demo', app),
      env: { ...process.env, PORT: '0', WORKERS: String(C.workers || 0), HOST: '127.0.0.1', ...(C.env || {}) } });
    procs.push(appP);
    collect(appP, 'stdout');
    collect(appP, 'stderr');
    const upPort = +(await waitFor(appP, 'stdout', /listening on 127\.0\.0\.1:(\d+)/, 20000, `${app} app`))[1];

    const conf = JSON.parse(fs.readFileSync(path.join(ROOT, 'demo', app, 'leakproxy.json'), 'utf8'));
    conf.listen = '127.0.0.1:0';
    conf.admin = '127.0.0.1:0';
    conf.upstream = `http://127.0.0.1:${upPort}`;
    conf.memory = C.memory(upPort, appP.pid);
    conf.attribution = { interval_ms: 1000, ...(opt.attribution || {}) };
    fs.writeFileSync(path.join(dir, 'proxy.json'), JSON.stringify(conf, null, 1));
    const lp = lpP = start(lpBin, ['-c', path.join(dir, 'proxy.json')], { cwd: dir });
    procs.push(lp);
    collect(lp, 'stdout');
    collect(lp, 'stderr');
    const proxyPort = +(await waitFor(lp, 'stderr', /proxy listening on 127\.0\.0\.1:(\d+)/, 10000, 'leakproxy'))[1];
    const adminPort = +(await waitFor(lp, 'stderr', /admin listening on 127\.0\.0\.1:(\d+)/, 10000, 'leakproxy'))[1];

    const loadJson = path.join(dir, 'load.json');
    // --preserve-symlinks-main: load.mjs runs its main() only when argv[1] is itself
    const load = start(process.execPath, ['--preserve-symlinks-main', entry(work, 'demo/load.mjs'),
      '--mix', mixFile(work, app),
      '--target', `http://127.0.0.1:${proxyPort}`, '--seed', String(seed), '--rate', String(opt.rate),
      '-c', String(opt.conc), '--requests', String(nreq), '--quiet', '--json', loadJson], { cwd: ROOT });
    procs.push(load);
    let loadOut = '';
    load.stdout.on('data', (d) => { loadOut += d; });
    load.stderr.on('data', (d) => { loadOut += d; });
    const loadDone = new Promise((r) => load.on('exit', (c) => r(c)));
    let done = false, loadCode = null;
    loadDone.then((c) => { done = true; loadCode = c; });

    const polls = [];
    const tl0 = Date.now();
    let after = 0, pollErrors = 0;
    for (;;) {
      const tp = Date.now();
      try {
        const j = await getJson(adminPort, '/api/routes');
        polls.push(compactPoll(j, (tp - tl0) / 1000));
      } catch { pollErrors++; }
      if (done) {
        // two more evaluations after the last request (the engine runs every second)
        if (++after > 4) break;
      }
      const wait = opt.poll - (Date.now() - tp);
      if (wait > 0) await Promise.race([sleep(wait), loadDone.then(() => sleep(done ? wait : 0))]);
    }
    const finalRoutes = await getJson(adminPort, '/api/routes').catch(() => null);
    const report = await getJson(adminPort, '/api/report').catch(() => null);
    const mem = await getJson(adminPort, '/api/memory').catch(() => null);
    if (mem) for (const w of mem.workers || []) delete w.samples;
    let loadRes = null;
    try { loadRes = JSON.parse(fs.readFileSync(loadJson, 'utf8')); } catch { /* none */ }
    const share = app === 'vue' ? liveOddShare(seed, nreq) : null;
    const run = { config: cfgName, app, seed, requests: nreq, load_exit: loadCode, poll_errors: pollErrors,
      seconds: (Date.now() - tl0) / 1000, polls, fits: report?.engine?.fits ?? null,
      window_rows: report?.engine?.window_rows ?? null,
      memory: mem ? { health: mem.health, rows: mem.rows, workers: (mem.workers || []).length,
        gc_duty: mem.gc_duty ?? mem.health?.gc_duty, quiesce: mem.quiesce ?? null,
        extra: Object.fromEntries(Object.entries(mem).filter(([k]) => !['workers', 'health'].includes(k))) } : null,
      load: loadRes ? summarizeLoad(loadRes) : loadOut.slice(-400), live_odd_share: share,
      reasons: Object.fromEntries((finalRoutes?.routes || []).map((x) => [x.name, x.reason])),
      first_request_bytes: Object.fromEntries((finalRoutes?.routes || []).map((x) => [x.name, x.first_request_bytes])) };
    if (loadCode !== 0) run.error = `load.mjs exited ${loadCode}: ${loadOut.slice(-200).replace(/\s+/g, ' ')}`;
    if (!loadRes && !run.error) run.error = `load.mjs wrote no results (exit ${loadCode}): ${loadOut.slice(-200)}`;
    if (appP.exited) run.error = `the app exited during the run (${appP.exitInfo})`;
    else if (/exited \(/.test(appP.buf.stderr)) run.error = `an app worker exited during the run: ${appP.buf.stderr.slice(-200)}`;
    if (/refused/.test(mem?.health?.last_error || '')) run.error = run.error || `memory source: ${mem.health.last_error}`;
    return run;
  } finally {
    for (const p of procs.reverse()) await stop(p);
    for (const [p, n] of [[lpP, 'leakproxy'], [appP, 'app']]) {
      if (p?.buf) fs.writeFileSync(path.join(dir, `${n}.log`), (p.buf.stdout || '') + (p.buf.stderr || ''));
    }
    process.stderr.write(`# ${cfgName} ${app} seed ${seed}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
}

function summarizeLoad(j) {
  // keep the totals; the per-route table is in the JSON file
  const o = {};
  for (const k of ['total', 'requests', 'seconds', 'rate', 'errors', 'elapsed_s', 'duration_s']) if (k in j) o[k] = j[k];
  if (!Object.keys(o).length) return JSON.stringify(j).slice(0, 300);
  return o;
}

// One poll: [seconds, requests so far (all routes), {route: [verdict, metric, rendered,
//   heap [b, low, high, verdict, requests, recent b, recent low, recent high], rss [...], external [...]]}]
function compactPoll(j, t) {
  let n = 0;
  const r = {};
  for (const x of j.routes || []) {
    n += x.requests || 0;
    const row = [x.verdict || null, x.verdict_metric || null, x.rendered ?? x.requests];
    for (const m of METRICS) {
      const e = x.estimate?.[m];
      row.push(e ? [e.bytes_per_request, e.low, e.high, e.verdict, e.requests,
        e.recent ? e.recent.bytes_per_request : null, e.recent ? e.recent.low : null, e.recent ? e.recent.high : null] : null);
    }
    r[x.name] = row;
  }
  return [t, n, r];
}

// ---- analysis of one run ---------------------------------------------------------------------------
function truthFor(app, route, share) {
  const t = TRUTH[app][route];
  if (!t) return null;
  if (t.odd) {   // the data-dependent route: truth = odd-id truth x share of odd ids in the mix
    return { kind: t.kind, heap: t.odd.heap * share, rss: null, ext: null, odd: t.odd.heap, share,
      mix: t.mix?.heap };
  }
  return t;
}

function analyze(run) {
  const out = {};
  const P = run.polls;
  if (!P.length) return out;
  const last = P[P.length - 1];
  for (const name of Object.keys(last[2])) {
    if (name === '_other') continue;
    const fin = last[2][name];
    const v = P.map((p) => p[2][name]?.[0] ?? null);
    let first = null, ever = false, everMetric = null, flips = 0, leftLeaking = 0, firstDetail = null;
    for (let i = 0; i < P.length; i++) {
      if (v[i] === 'leaking') {
        if (first === null) {
          first = P[i][1];
          const x = P[i][2][name], e = x[3 + METRICS.indexOf(x[1])];
          if (e) firstDetail = `${SHORT[x[1]]} ${kb(e[0])} [${kb(e[1])}, ${kb(e[2])}], newest half ${kb(e[5])}` +
            `${e[6] !== undefined && e[6] !== null ? ` [${kb(e[6])}, ${kb(e[7])}]` : ''} KB`;
        }
        ever = true;
        everMetric = everMetric || P[i][2][name][1];
      }
      if (i > 0 && v[i] !== v[i - 1]) flips++;
      if (i > 0 && v[i - 1] === 'leaking' && v[i] !== 'leaking') leftLeaking++;
    }
    let s = P.length - 1;
    while (s > 0 && v[s - 1] === v[P.length - 1]) s--;
    const at = (n) => { let k = -1; for (let i = 0; i < P.length; i++) if (P[i][1] <= n) k = i; return k; };
    const i3 = at(3000);
    const est = {};
    for (let m = 0; m < 3; m++) {
      const e = fin[3 + m];
      if (e) est[SHORT[METRICS[m]]] = { b: e[0], lo: e[1], hi: e[2], v: e[3], n: e[4], recent: e[5] };
    }
    const est3 = {};
    if (i3 >= 0 && P[i3][2][name]) {
      for (let m = 0; m < 3; m++) {
        const e = P[i3][2][name][3 + m];
        if (e) est3[SHORT[METRICS[m]]] = { b: e[0], lo: e[1], hi: e[2], v: e[3] };
      }
    }
    // transitions, compressed: "unknown@0 suspect@1234 leaking@1500"
    const seq = [];
    for (let i = 0; i < P.length; i++) if (i === 0 || v[i] !== v[i - 1]) seq.push(`${v[i]}@${P[i][1]}`);
    out[name] = { verdict: fin[0], metric: fin[1], rendered: fin[2], est, est3,
      verdict3: i3 >= 0 ? v[i3] : null, first_leaking: first, first_detail: firstDetail, ever_leaking: ever, ever_metric: everMetric,
      stayed_leaking: first !== null && v.slice(v.findIndex((x) => x === 'leaking')).every((x) => x === 'leaking'),
      settled_at: P[s][1], flips, left_leaking: leftLeaking, transitions: seq.slice(0, 40).join(' ') };
  }
  return out;
}

// ---- report ----------------------------------------------------------------------------------------
const kb = (b, d = 1) => (b === null || b === undefined || !Number.isFinite(b) ? '–' : (b / KB).toFixed(d));
const median = (a) => { const s = a.filter((x) => x !== null && Number.isFinite(x)).sort((x, y) => x - y);
  if (!s.length) return null; return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const minmax = (a) => { const s = a.filter((x) => x !== null && Number.isFinite(x)); return s.length ? [Math.min(...s), Math.max(...s)] : null; };
const counts = (a) => { const c = {}; for (const x of a) c[x] = (c[x] || 0) + 1;
  return Object.entries(c).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(', '); };

// which metric rows a route gets in the table
function metricRows(app, route, t) {
  if (!t) return ['heap'];
  if (t.kind === 'leak' && t.ext > 100 * KB && t.heap < 4 * KB) return ['rss', 'ext', 'heap'];   // native leak
  return ['heap'];
}
function truthOf(t, m) { return t ? (m === 'heap' ? t.heap : m === 'rss' ? t.rss : t.ext) : null; }

function table(cfgName, app, runs) {
  const rows = [];
  rows.push('| route | kind | metric | truth KB/req | estimate KB/req: median (min…max) | 95 % interval: median low…high | interval ∋ truth | within ±15 % | final verdict (seeds) | first `leaking` at: median (max), seeds | settled at: median (max) | verdict changes: median (max) | ever `leaking` (seeds) |');
  rows.push('|---|---|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|');
  const A = runs.map((r) => r.analysis);
  for (const name of ROUTE_ORDER[app]) {
    const t0 = truthFor(app, name, median(runs.map((r) => r.live_odd_share ?? 0.5)));
    for (const m of metricRows(app, name, t0)) {
      const ests = A.map((a) => a[name]?.est?.[m]).filter(Boolean);
      const tr = runs.map((r) => truthOf(truthFor(app, name, r.live_odd_share ?? 0.5), m));
      let cover = 0, within = 0, nT = 0;
      runs.forEach((r, i) => {
        const e = A[i][name]?.est?.[m];
        const T = tr[i];
        if (!e || T === null || T === undefined) return;
        nT++;
        if (e.lo <= T && T <= e.hi) cover++;
        if (Math.abs(T) > 4 * KB && Math.abs(e.b - T) <= 0.15 * Math.abs(T)) within++;
      });
      const big = Math.abs(truthOf(t0, m) ?? 0) > 4 * KB;
      const b = ests.map((e) => e.b), mm = minmax(b);
      const first = A.map((a) => a[name]?.first_leaking).filter((x) => x !== null && x !== undefined);
      const settled = A.map((a) => a[name]?.settled_at);
      const ever = A.filter((a) => a[name]?.ever_leaking).length;
      const everM = [...new Set(A.filter((a) => a[name]?.ever_leaking).map((a) => a[name].ever_metric))].join('/');
      const firstRow = m === metricRows(app, name, t0)[0];
      let truthTxt = kb(truthOf(t0, m));
      if (t0?.odd && m === 'heap') truthTxt = `${kb(t0.odd)} × ${median(runs.map((r) => r.live_odd_share)).toFixed(3)} = ${kb(truthOf(t0, m))}`;
      rows.push(`| ${firstRow ? name : ''} | ${firstRow ? (t0?.kind ?? '?') : ''} | ${m} | ${truthTxt} | ` +
        `${ests.length ? `${kb(median(b))} (${kb(mm[0])}…${kb(mm[1])})` : '–'} | ` +
        `${ests.length ? `${kb(median(ests.map((e) => e.lo)))}…${kb(median(ests.map((e) => e.hi)))}` : '–'} | ` +
        `${nT ? `${cover}/${nT}` : '–'} | ${big && nT ? `${within}/${nT}` : '–'} | ` +
        `${firstRow ? counts(A.map((a) => a[name]?.verdict ?? 'absent')) : `(${counts(A.map((a) => a[name]?.est?.[m]?.v ?? '–'))} on ${m})`} | ` +
        `${firstRow ? (first.length ? `${Math.round(median(first))} (${Math.max(...first)}), ${first.length}/${runs.length}` : `never, 0/${runs.length}`) : ''} | ` +
        `${firstRow ? `${Math.round(median(settled))} (${Math.max(...settled.filter(Number.isFinite))})` : ''} | ` +
        `${firstRow ? `${median(A.map((a) => a[name]?.flips ?? 0))} (${Math.max(...A.map((a) => a[name]?.flips ?? 0))})` : ''} | ` +
        `${firstRow ? `${ever}/${runs.length}${ever ? ` (${everM})` : ''}` : ''} |`);
    }
  }
  return rows.join('\n');
}

function runTable(runs) {
  const rows = ['| config | app | seed | requests | s | rows in window | heap resid sd KB | lag-1 ρ | memory reads / errors | forced-GC duty (last pause) | last memory error |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|'];
  for (const r of runs) {
    const f = r.fits?.heap_used;
    const h = r.memory?.health || {};
    const g = r.memory?.extra?.gc || {};
    rows.push(`| ${r.config} | ${r.app} | ${r.seed} | ${r.polls.at(-1)?.[1] ?? 0} | ${r.seconds.toFixed(0)} | ` +
      `${f?.rows ?? '–'} | ${f ? kb(f.residual_sd_bytes, 0) : '–'} | ${f?.lag1_autocorrelation?.toFixed(2) ?? '–'} | ` +
      `${h.reads ?? '–'} / ${h.errors ?? '–'} | ${g.duty !== undefined ? `${(+g.duty).toFixed(3)} (last ${(+g.last_ms).toFixed(0)} ms)` : '–'} | ${(h.last_error || '').replace(/http:\/\/127\.0\.0\.1:\d+/, '').slice(0, 60)} |`);
  }
  return rows.join('\n');
}

const short = (t, n = 6) => { const w = t.split(' '); return w.length > n ? `${w.slice(0, n).join(' ')} …(${w.length - n} more)` : t; };

// The accuracy targets, per configuration.
function targets(cfgName, byApp) {
  const L = [];
  const all = (app) => byApp[app] || [];
  const R = (app, route) => all(app).map((r) => ({ a: r.analysis[route], run: r })).filter((x) => x.a);
  const pct = (e, T) => `${((e / T - 1) * 100).toFixed(0)} %`;
  const leakCheck = (app, route, m, within, tolName) => {
    const xs = R(app, route);
    if (!xs.length) return null;
    // a seed passes when the route is `leaking` from some poll at or before <within> requests to
    // the end of its run (a flag that came and went does not count)
    const settled = xs.map((x) => (x.a.verdict === 'leaking' ? x.a.settled_at : Infinity));
    const ok = settled.filter((v) => v <= within);
    const firstOk = xs.filter((x) => x.a.first_leaking !== null && x.a.first_leaking <= within);
    const stay = xs.filter((x) => x.a.stayed_leaking);
    const dev = xs.map((x) => {
      const T = truthOf(truthFor(app, route, x.run.live_odd_share ?? 0.5), m);
      const e = x.a.est[m];
      return e && T ? e.b / T - 1 : null;
    }).filter((d) => d !== null);
    const inTol = dev.filter((d) => Math.abs(d) <= 0.15).length;
    const dev3 = xs.map((x) => {
      const T = truthOf(truthFor(app, route, x.run.live_odd_share ?? 0.5), m);
      const e = x.a.est3?.[m];
      return e && T ? e.b / T - 1 : null;
    });
    const firsts = xs.map((x) => x.a.first_leaking ?? Infinity);
    const short = (xs.filter((x) => x.run.requests < within && !(settled[xs.indexOf(x)] <= within))).length;
    const longN = xs.filter((x) => x.run.requests >= within).length;
    const longOk = xs.filter((x, i) => x.run.requests >= within && settled[i] <= within).length;
    return { n: xs.length, ok: ok.length, stay: stay.length, inTol, dev, firsts, short, longN, longOk,
      txt: `${app} ${route} (${m}): \`leaking\` for good by ${within === Infinity ? 'the end' : within} requests in ${ok.length}/${xs.length} seeds ` +
        `(from ${settled.map((f) => (f === Infinity ? 'never' : f)).join(', ')}${short ? `; ${short} of the misses ran fewer than ${within} requests` : ''}); ` +
        `first \`leaking\` by ${within === Infinity ? 'the end' : within} in ${firstOk.length}/${xs.length} (at ${firsts.map((f) => (f === Infinity ? 'never' : f)).join(', ')}); ` +
        `never left \`leaking\` once flagged ${stay.length}/${xs.length}; ` +
        `final estimate within ±15 % in ${inTol}/${dev.length} (deviation ${dev.map((d) => `${(d * 100).toFixed(0)} %`).join(', ')}; ` +
        `at 3,000 requests: ${dev3.map((d) => (d === null ? 'none' : `${(d * 100).toFixed(0)} %`)).join(', ')})` };
  };
  const mark = (c) => (c ? '**met**' : '**missed**');
  const isGc = cfgName !== 'env';
  if (isGc) {
    const big = [['vue', 'news', 'heap'], ['vue', 'gallery', 'rss'], ['react', 'item', 'heap']];
    const cs = big.map(([a, r, m]) => leakCheck(a, r, m, 3000)).filter(Boolean);
    const met = cs.every((c) => c.ok === c.n && c.inTol === c.n);
    L.push(`- Leaks ≥ 20 KB/request \`leaking\` within 3,000 mixed requests, estimate ±15 %: ${mark(met)}.`);
    for (const c of cs) L.push(`  - ${c.txt}`);
    const g2 = leakCheck('vue', 'gallery', 'ext', 3000);
    if (g2) L.push(`  - (gallery on external: ${g2.txt.replace(/^vue gallery \(ext\): /, '')})`);
    const bc = leakCheck('react', 'beacon', 'heap', 20000);
    const longest = Math.max(0, ...all('react').map((r) => r.requests));
    if (bc && longest >= 20000) L.push(`- Leak of ~5–10 KB/request (react beacon, 8.4 KB) within 20,000: ${bc.longOk === bc.longN ? '**met**' : '**missed**'} ` +
      `on the ${bc.longN} seeds that ran 20,000 requests (${bc.longOk}/${bc.longN}). ${bc.txt}`);
    else if (bc) L.push(`- Leak of ~5–10 KB/request (react beacon, 8.4 KB) within 20,000: not tested here (runs of ${longest} requests); ${bc.txt.replace('within 20000', `within the ${longest}`)}`);
  } else if (cfgName === 'env') {
    const big = [['vue', 'news', 'heap'], ['react', 'item', 'heap'], ['vue', 'gallery', 'rss']];
    const cs = big.map(([a, r, m]) => leakCheck(a, r, m, 10000)).filter(Boolean);
    L.push(`- Without forced GC, leaks ≥ 100 KB/request found within 10,000 requests: ${mark(cs.every((c) => c.ok === c.n))}.`);
    for (const c of cs) L.push(`  - ${c.txt}`);
  }
  // no false alarms
  const fa = [];
  let nRuns = 0;
  for (const app of Object.keys(byApp)) {
    nRuns = Math.max(nRuns, all(app).length);
    for (const name of ROUTE_ORDER[app]) {
      const k = TRUTH[app][name]?.kind;
      if (k === 'leak') continue;
      const xs = R(app, name);
      const ev = xs.filter((x) => x.a.ever_leaking);
      if (ev.length) fa.push(`${app} ${name} (${k}) in ${ev.length}/${xs.length} seeds [${ev.map((x) => `seed ${x.run.seed}: first at ${x.a.first_leaking} on ${x.a.first_detail}; ${short(x.a.transitions)}`).join('; ')}]`);
    }
  }
  L.push(`- No cache, warm-up, healthy or static route ever \`leaking\` (${nRuns} seeds per app${nRuns < 10 ? ', fewer than the 10 the target asks' : ''}): ` +
    `${mark(fa.length === 0)}${fa.length ? `: ${fa.join('; ')}` : ''}.`);
  if (isGc && byApp.vue) {
    const lc = leakCheck('vue', 'live', 'heap', Infinity);
    const xs = R('vue', 'live');
    if (!lc) return L.join('\n');
    const flagged = xs.filter((x) => x.a.verdict === 'leaking').length;
    L.push(`- Data-dependent vue \`live\` flagged, estimate ≈ 18.4 KB × share of odd ids: ${mark(flagged === xs.length && lc.inTol === lc.n)} — ` +
      `final verdict leaking in ${flagged}/${xs.length}; first leaking at ${lc.firsts.map((f) => (f === Infinity ? 'never' : f)).join(', ')}; ` +
      `estimates ${xs.map((x) => kb(x.a.est.heap?.b)).join(', ')} KB vs truth ${xs.map((x) => kb(truthFor('vue', 'live', x.run.live_odd_share).heap)).join(', ')} KB (within ±15 % in ${lc.inTol}/${lc.n}).`);
  }
  if (byApp.vue) {
    const xs = R('vue', 'gallery');
    const onNative = xs.filter((x) => x.a.verdict === 'leaking' && ['rss', 'external'].includes(x.a.metric)).length;
    const heapClean = xs.filter((x) => x.a.est.heap?.v === 'clean').length;
    L.push(`- RSS-only leak (vue \`gallery\`) found on rss/external while heap says clean: ${mark(onNative === xs.length && heapClean === xs.length)} — ` +
      `leaking on rss/external in ${onNative}/${xs.length}; heap verdict ${counts(xs.map((x) => x.a.est.heap?.v ?? '–'))}.`);
  }
  return L.join('\n');
}

// ---- main --------------------------------------------------------------------------------------------
async function main() {
  const lpSrc = process.env.LEAKPROXY || path.join(ROOT, 'leakproxy');
  if (!fs.existsSync(lpSrc)) throw new Error(`${lpSrc} missing: run make first`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'attrbench-'));
  const lpBin = path.join(work, 'proxy.bin');   // a private copy: others rebuild ./leakproxy meanwhile
  fs.copyFileSync(lpSrc, lpBin);
  fs.chmodSync(lpBin, 0o755);
  const sha = createHash('sha256').update(fs.readFileSync(lpBin)).digest('hex').slice(0, 12);
  const git = (a) => spawnSync('git', ['-C', ROOT, ...a], { encoding: 'utf8' }).stdout.trim();
  const meta = { date: new Date().toISOString(), node: process.version, leakproxy_sha256: sha,
    leakproxy_built: fs.statSync(lpSrc).mtime.toISOString(), git_head: git(['rev-parse', '--short', 'HEAD']),
    attrib_diff: createHash('sha256').update(git(['diff', 'HEAD', '--', 'src/attrib.c', 'include/attrib.h', 'src/series.c', 'src/memsrc.c'])).digest('hex').slice(0, 12),
    cpus: os.cpus().length, loadavg_start: os.loadavg().map((x) => x.toFixed(1)).join(' '),
    argv: process.argv.slice(2).map((a) => (/[\s"{]/.test(a) ? `'${a}'` : a)).join(' ') };
  process.stderr.write(`# work dir ${work}; leakproxy ${sha} (built ${meta.leakproxy_built}), HEAD ${meta.git_head}\n`);

  const jobs = [];
  for (const c of configNames) {
    const C = CONFIGS[c];
    const seeds = opt.seeds ?? C.seeds[opt.quick ? 1 : 0];
    for (let s = 1; s <= seeds; s++) {
      for (const app of opt.apps) {
        const r = C.requests[app];
        jobs.push({ c, app, seed: s, n: opt.requests ?? (typeof r === 'function' ? r(s, opt.quick) : r) });
      }
    }
  }
  const est = jobs.reduce((s, j) => s + j.n / opt.rate + 6, 0) / Math.min(opt.parallel, 2);
  process.stderr.write(`# ${jobs.length} runs, about ${(est / 60).toFixed(0)} min\n`);
  // two lanes: one app each when both are run, so at most two apps run at once
  // one queue, longest runs first, <parallel> (at most 2) runs at a time: at most two apps at once
  const queue = jobs.map((j, i) => ({ ...j, i })).sort((a, b) => b.n - a.n || a.i - b.i);
  const results = [];
  const t0 = Date.now();
  await Promise.all(Array.from({ length: opt.parallel }, async () => {
    for (let j; (j = queue.shift());) {
      let run;
      const failures = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          run = await oneRun(work, lpBin, j.c, j.app, j.seed, j.n);
        } catch (e) {
          run = { config: j.c, app: j.app, seed: j.seed, requests: j.n, error: String(e.message || e), polls: [], seconds: 0 };
        }
        if (!run.error) break;
        failures.push(run.error);
        process.stderr.write(`# ${j.c} ${j.app} seed ${j.seed}: FAILED (${attempt < 2 ? 'retrying' : 'giving up'}): ${run.error}\n`);
      }
      if (failures.length) run.retried = failures;
      run.analysis = analyze(run);
      results.push(run);
    }
  }));
  meta.seconds = (Date.now() - t0) / 1000;
  meta.loadavg_end = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  render(meta, results, work);
}

function render(meta, results, work) {
  const sha = meta.leakproxy_sha256;

  // markdown
  const md = [];
  md.push(`Command: \`bench/attribution.sh ${meta.argv}\` — ${meta.date.slice(0, 10)}, ${(meta.seconds / 60).toFixed(1)} min, ` +
    `leakproxy sha256 ${sha} (HEAD ${meta.git_head}, built ${meta.leakproxy_built.slice(0, 16)}Z), Node ${meta.node}, ${meta.cpus} CPUs ` +
    `(load average at start ${meta.loadavg_start}, at end ${meta.loadavg_end}). Load: \`node demo/load.mjs --app APP --seed S --rate ${opt.rate} -c ${opt.conc} --requests N\`; ` +
    `\`/api/routes\` polled every ${opt.poll} ms; "requests" = mixed requests the proxy had received at that poll. ` +
    `Attribution \`interval_ms\` 1000${opt.attribution ? `, ${JSON.stringify(opt.attribution)}` : ''}, defaults otherwise (min_leak_bytes 4 KB, window_rows 600, confirm_requests 200).`);
  for (const c of configNames) {
    const byApp = {};
    for (const app of opt.apps) byApp[app] = results.filter((r) => r.config === c && r.app === app && r.polls.length)
      .sort((a, b) => a.seed - b.seed);
    md.push(`\n### ${CONFIGS[c].title}\n`);
    md.push(`\`"memory": ${JSON.stringify(CONFIGS[c].memory('PORT', 'PID'))}\`${CONFIGS[c].workers ? `, app \`WORKERS=${CONFIGS[c].workers}\`` : ''}${CONFIGS[c].env ? Object.entries(CONFIGS[c].env).map(([k, v]) => ` \`${k}=${v}\``).join('') : ''}\n`);
    const failed = results.filter((r) => r.config === c && (r.error || !r.polls.length));
    if (failed.length) md.push(`Failed runs: ${failed.map((r) => `${r.app} seed ${r.seed}: ${r.error}`).join('; ')}\n`);
    const again = results.filter((r) => r.config === c && r.retried);
    if (again.length) md.push(`Repeated runs (the first attempt was invalid): ${again.map((r) => `${r.app} seed ${r.seed} (${r.retried.join('; ').slice(0, 160)})`).join('; ')}\n`);
    md.push('Targets:\n');
    md.push(targets(c, byApp));
    for (const app of opt.apps) {
      if (!byApp[app].length) continue;
      md.push(`\n${app}, ${byApp[app].length} seeds (${byApp[app].map((r) => r.seed).join(', ')}), ${[...new Set(byApp[app].map((r) => r.requests))].length === 1 ? `${byApp[app][0].requests} requests each` : `requests ${byApp[app].map((r) => r.requests).join(', ')}`}` +
        `${app === 'vue' ? `; share of odd live ids per seed ${byApp[app].map((r) => r.live_odd_share?.toFixed(3)).join(', ')}` : ''}:\n`);
      md.push(table(c, app, byApp[app]));
    }
  }
  md.push('\nPer run:\n');
  md.push(runTable(results.sort((a, b) => (a.config + a.app).localeCompare(b.config + b.app) || a.seed - b.seed)));
  const mdText = md.join('\n') + '\n';
  const mdFile = opt.md || path.join(work, 'attribution.md');
  fs.writeFileSync(mdFile, mdText);
  const jsonFile = opt.json || path.join(work, 'attribution.json');
  fs.writeFileSync(jsonFile, JSON.stringify({ meta, runs: results.map((r) => ({ ...r, polls: undefined, last_poll: r.polls.at(-1) })) }, null, 1));
  const traceFile = path.join(work, 'attribution-traces.json');
  fs.writeFileSync(traceFile, JSON.stringify({ meta, runs: results }));
  process.stdout.write(mdText);
  process.stderr.write(`# markdown ${mdFile}\n# per-run results ${jsonFile}\n# every poll ${traceFile}\n`);
  if (!opt.keep) for (const d of fs.readdirSync(work)) if (d === 'proxy.bin') fs.rmSync(path.join(work, d));
}

function rerender() {
  const j = JSON.parse(fs.readFileSync(opt.from, 'utf8'));
  for (const r of j.runs) r.analysis = analyze(r);
  const ran = new Set(j.runs.map((r) => r.config));
  if (!opt.configs) configNames.splice(0, configNames.length, ...Object.keys(CONFIGS).filter((c) => ran.has(c)));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'attrbench-render-'));
  render(j.meta, j.runs, work);
}

(opt.from ? Promise.resolve().then(rerender) : main()).catch((e) => { console.error(e); killAll(); process.exit(1); });
