#!/usr/bin/env node
// bench/guard.mjs -- the guard's acceptance run, recorded. Node built-ins only.
// Run through bench/guard.sh (which checks the prerequisites and kills this driver on exit).
//
// Four runs of the Vue demo (demo/vue) with a small V8 heap (node --max-old-space-size=N
// --expose-gc), ./leakproxy in front (http memory source with forced GC, the client shell
// demo/vue/dist/index.html as fallback, attribution on), seeded steady load through the proxy
// (demo/load.mjs; by default 50 % home, 25 % about, 25 % news -- news retains ~240 KB per request):
//
//   1 crash   no guard: when does the app die (exit, "heap out of memory" in its stderr)?
//   2 guard   the guard (heap_used floor, high_fraction of the V8 heap limit, action "leaking"),
//             for max(2 x the crash time of run 1, --guard-min) seconds: does it switch news to
//             csr before the crash, does the floor stop growing, does the app stay up, do home and
//             about keep rendering, do clients see any error, what does the event say?
//   3 noleak  LEAKS=off (no leak at all), guard thresholds put inside the memory's own noise
//             band (measured in a warm-up), action "all", restore "on_recovery", short hold:
//             how many trips, switches and restores (flapping)?
//   4 dry     run 2 with "dry_run": true, stopped --dry-after seconds after the would-be switch:
//             no mode changes, events with dry_run true.
//
//   node bench/guard.mjs [--heap-mb 128] [--rate 20] [--concurrency 4] [--seed 1]
//        [--news 25] [--fraction 0.6] [--crash-max 300] [--guard-min 120]
//        [--noleak-seconds 180] [--noleak-warmup 40] [--noleak-metric rss|heap_used]
//        [--noleak-high-q 0.75] [--noleak-low-q 0.25] [--noleak-hold 20]
//        [--dry-after 20] [--runs crash,guard,noleak,dry] [--json FILE] [--keep]
//   node bench/guard.mjs --from bench/results/guard-DATE.json   (re-analyses a run's raw data,
//        prints the summary again; runs nothing)
//
// Full speed (closed-loop clients, no rate limit): --rate 0 --concurrency 8, e.g.
//   bench/guard.sh --runs crash,guard --rate 0 --concurrency 8 --heap-mb 256
//   bench/guard.sh --runs crash,guard --rate 0 --concurrency 8 --heap-mb 512 --no-gc --guard-min 90
// --no-gc: the http source without gc_url (heap_used only, production settings); --rows off: forced
// GC without designed rows; --blind: the attribution engine never calls a route leaking
// (confirm_requests out of reach), so the guard has to narrow down by itself.
//
// The demo's /__mem does not report the V8 heap limit (it is process.memoryUsage() + VmRSS;
// leakproxy's JSON parser reads "heapLimit", see src/memparse.c), so the driver measures
// v8.getHeapStatistics().heap_size_limit of a node started with the same flag and passes it as
// memory.limit_bytes: the guard's high_fraction then applies to the same number it would use
// if the source reported it (contrib/node's endpoint does).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const MB = 1024 * 1024, KB = 1024;

// ---- options ---------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = { heapMb: 128, rate: 20, conc: 4, seed: 1, news: 25, fraction: 0.6, crashMax: 300,
  guardMin: 120, noleakSeconds: 180, noleakWarmup: 40, noleakMetric: 'rss', noleakHighQ: 0.75,
  noleakLowQ: 0.25, noleakHold: 20, dryAfter: 20, runs: ['crash', 'guard', 'noleak', 'dry'],
  json: null, keep: false, gc: true, rows: true, blind: false };
const NUM = { '--heap-mb': 'heapMb', '--rate': 'rate', '--concurrency': 'conc', '--seed': 'seed',
  '--news': 'news', '--fraction': 'fraction', '--crash-max': 'crashMax', '--guard-min': 'guardMin',
  '--noleak-seconds': 'noleakSeconds', '--noleak-warmup': 'noleakWarmup', '--noleak-high-q': 'noleakHighQ',
  '--noleak-low-q': 'noleakLowQ', '--noleak-hold': 'noleakHold', '--dry-after': 'dryAfter' };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i], v = () => argv[++i];
  if (NUM[a]) { opt[NUM[a]] = Number(v()); if (!Number.isFinite(opt[NUM[a]])) { console.error(`${a}: not a number`); process.exit(2); } }
  else if (a === '--noleak-metric') opt.noleakMetric = v();
  else if (a === '--runs') opt.runs = v().split(',');
  else if (a === '--json') opt.json = v();
  else if (a === '--keep') opt.keep = true;
  else if (a === '--no-gc') opt.gc = false;
  else if (a === '--blind') opt.blind = true;
  else if (a === '--rows') opt.rows = v() !== 'off';
  else if (a === '--from') opt.from = v();
  else if (a === '-h' || a === '--help') {
    console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 39).join('\n'));
    process.exit(0);
  } else { console.error(`unknown option ${a} (try --help)`); process.exit(2); }
}
if (!['heap_used', 'rss'].includes(opt.noleakMetric)) { console.error('--noleak-metric: heap_used or rss'); process.exit(2); }
for (const r of opt.runs) if (!['crash', 'guard', 'noleak', 'dry'].includes(r)) { console.error(`unknown run ${r}`); process.exit(2); }

// ---- processes (each child in its own process group; every group killed on exit) ----------------
const groups = new Set();
function start(cmd, args, o = {}) {
  const p = spawn(cmd, args, { ...o, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.add(p.pid);
  p.buf = { stdout: '', stderr: '' };
  for (const s of ['stdout', 'stderr']) {
    p[s].on('data', (d) => { p.buf[s] += d; if (p.buf[s].length > 1 << 21) p.buf[s] = p.buf[s].slice(-(1 << 20)); });
  }
  p.exitP = new Promise((resolve) => p.on('exit', (code, sig) => {
    p.exited = true; p.exitMs = Date.now(); p.exitInfo = { code, signal: sig }; resolve();
  }));
  return p;
}
async function stop(p, sig = 'SIGTERM') {
  if (!p) return;
  if (!p.exited) {
    try { process.kill(-p.pid, sig); } catch { /* gone */ }
    for (let i = 0; i < 50 && !p.exited; i++) await sleep(100);
  }
  try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  groups.delete(p.pid);
}
function killAll() {
  for (const g of groups) { try { process.kill(-g, 'SIGKILL'); } catch { /* gone */ } }
  groups.clear();
}
process.on('exit', killAll);
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(s, () => {
    killAll();
    try { if (WORK && !opt.keep) fs.rmSync(WORK, { recursive: true, force: true }); } catch { /* not set up yet */ }
    process.exit(130);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(p, stream, re, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const m = re.exec(p.buf[stream]);
    if (m) return m;
    if (p.exited) throw new Error(`${what} exited: ${p.buf.stdout.slice(-500)} ${p.buf.stderr.slice(-800)}`);
    if (Date.now() > end) throw new Error(`${what}: no ${re} within ${ms} ms: ${p.buf[stream].slice(-500)}`);
    await sleep(50);
  }
}
function getJson(port, p, timeout = 5000) {
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

// The app and the load driver run from symlinks with names of their own in the work dir, so
// that someone else's broad `pkill -f server.js` / `pkill -f load.mjs` on this shared machine
// does not end them (bench/attribution.mjs learned it the hard way).
function entry(work, rel, name) {
  const link = path.join(work, name);
  if (!fs.existsSync(link)) fs.symlinkSync(path.join(ROOT, rel), link);
  return link;
}

// ---- statistics ---------------------------------------------------------------------------------
function slope(points) {          // least squares, [t_s, bytes] -> bytes per second
  const n = points.length;
  if (n < 3) return null;
  const mx = points.reduce((s, p) => s + p[0], 0) / n, my = points.reduce((s, p) => s + p[1], 0) / n;
  let sxy = 0, sxx = 0;
  for (const [x, y] of points) { sxy += (x - mx) * (y - my); sxx += (x - mx) ** 2; }
  return sxx > 0 ? sxy / sxx : null;
}
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return null;
  const i = (s.length - 1) * q, lo = Math.floor(i), hi = Math.ceil(i);
  return s[lo] + (s[hi] - s[lo]) * (i - lo);
}
const r1 = (x) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
const mbs = (b) => (b == null ? null : r1(b / MB));
const kbs = (b) => (b == null ? null : r1(b / KB));

// ---- setup ------------------------------------------------------------------------------------------
const FROM = opt.from ? JSON.parse(fs.readFileSync(opt.from, 'utf8')) : null;
if (FROM) Object.assign(opt, FROM.options, { from: opt.from });
let WORK = null, LP_BIN, APP, LOAD, MIX, HEAP_LIMIT;
const SHELL = path.join(ROOT, 'demo/vue/dist/index.html');
if (FROM) {
  HEAP_LIMIT = FROM.heap_limit_bytes;
} else {
  WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'leakproxy-gbench-'));
  LP_BIN = path.join(WORK, 'leakproxy.bin');
  fs.copyFileSync(process.env.LEAKPROXY || path.join(ROOT, 'leakproxy'), LP_BIN);
  fs.chmodSync(LP_BIN, 0o755);
  APP = entry(WORK, 'demo/vue/server.js', 'gbench-app-vue.js');
  LOAD = entry(WORK, 'demo/load.mjs', 'gbench-driver.mjs');
  if (!fs.existsSync(SHELL)) { console.error(`FATAL: ${SHELL} missing (cd demo/vue && npm run shell)`); process.exit(1); }
  MIX = path.join(WORK, 'mix.json');
  const healthyShare = 100 - opt.news;
  fs.writeFileSync(MIX, JSON.stringify({ routes: [
    { name: 'home', path: '/', weight: healthyShare * 2 / 3 },
    { name: 'about', path: '/about', weight: healthyShare / 3 },
    { name: 'news', path: '/news/{int:1:800}', weight: opt.news },
  ] }, null, 1));
  HEAP_LIMIT = Number(spawnSync(process.execPath, [`--max-old-space-size=${opt.heapMb}`, '-p',
    'require("v8").getHeapStatistics().heap_size_limit'], { encoding: 'utf8' }).stdout.trim());
  if (!(HEAP_LIMIT > 0)) { console.error('FATAL: could not read the V8 heap limit'); process.exit(1); }
}
const BASE_CFG = JSON.parse(fs.readFileSync(path.join(ROOT, 'demo/vue/leakproxy.json'), 'utf8'));
const log = (s) => process.stderr.write(`[guard-bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

// ---- one run ----------------------------------------------------------------------------------------
// Starts app + proxy (+ load), samples the admin API every second until the load ends, the
// app has been dead for 5 s, or stopWhen(state) says so. Returns everything recorded.
async function run(name, { leaks = true, guard = null, seconds, stopWhen = null, onTick = null }) {
  const dir = path.join(WORK, name);
  fs.mkdirSync(dir);
  // floors: forced-GC heap floors [t_s, bytes, pid]; mem: every reading [t_s, rss, heap_used, gc]
  const rec = { name, leaks, seconds_planned: seconds, samples: [], floors: [], mem: [], events: [] };
  let app = null, lp = null, load = null;
  try {
    const env = { ...process.env, PORT: '0', ...(leaks ? {} : { LEAKS: 'off' }) };
    app = start(process.execPath, [`--max-old-space-size=${opt.heapMb}`, '--expose-gc', APP],
      { cwd: path.join(ROOT, 'demo/vue'), env });
    const up = +(await waitFor(app, 'stdout', /listening on [\d.]+:(\d+)/, 20000, 'the demo app'))[1];
    rec.app_pid = app.pid;
    const cfg = { ...BASE_CFG, upstream: `http://127.0.0.1:${up}`, listen: '127.0.0.1:0', admin: '127.0.0.1:0',
      access_log: null, fallback: { file: SHELL },
      memory: opt.gc
        ? { source: 'http', url: `http://127.0.0.1:${up}/__mem`, gc_url: `http://127.0.0.1:${up}/__mem?gc=1`,
          interval_ms: 200, gc_interval_ms: 200, max_gc_duty: 0.1, quiesce_ms: 50, limit_bytes: HEAP_LIMIT,
          ...(opt.rows ? {} : { rows: { design: false } }) }
        : { source: 'http', url: `http://127.0.0.1:${up}/__mem`, interval_ms: 200, limit_bytes: HEAP_LIMIT },
      attribution: { interval_ms: 1000, ...(opt.blind ? { confirm_requests: 100000000 } : {}) },
      event_log: path.join(dir, 'events.jsonl') };
    if (guard) cfg.guard = guard;
    const cfgFile = path.join(dir, 'leakproxy.json');
    fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2) + '\n');
    rec.config = cfg;
    lp = start(LP_BIN, ['-c', cfgFile]);
    const port = +(await waitFor(lp, 'stderr', /proxy listening on [\d.]+:(\d+)/, 10000, 'leakproxy'))[1];
    const admin = +(await waitFor(lp, 'stderr', /admin listening on [\d.]+:(\d+)/, 10000, 'leakproxy'))[1];
    const loadJson = path.join(dir, 'load.json');
    load = start(process.execPath, ['--preserve-symlinks-main', LOAD, '--mix', MIX, '--target', `http://127.0.0.1:${port}`,
      '--duration', String(seconds), '--concurrency', String(opt.conc), '--rate', String(opt.rate),
      '--seed', String(opt.seed), '--json', loadJson, '--quiet'], { cwd: ROOT });
    const t0 = Date.now();
    rec.t0_ms = t0;
    const rel = (ms) => (ms - t0) / 1000;
    let lastMem = 0, lastPrint = 0, stopReason = 'load finished';
    const st = { rel, admin, app, lp, cfg, cfgFile, rec };
    while (!load.exited) {
      await sleep(1000);
      const now = Date.now();
      let routes = null, status = null;
      try {
        routes = (await getJson(admin, '/api/routes')).routes;
        status = await getJson(admin, '/api/status');
        const mem = await getJson(admin, `/api/memory?points=1024&since=${lastMem}`);
        for (const w of mem.workers) {
          for (const s of w.samples) {
            lastMem = Math.max(lastMem, s[0]);
            if (s[6] === 1 && s[5] != null) rec.floors.push([r1(rel(s[0])), s[5], w.pid]);
            rec.mem.push([Math.round(rel(s[0]) * 100) / 100, s[1], s[2], s[6]]);
          }
        }
      } catch (e) { log(`${name}: admin poll failed: ${e.message}`); }
      if (routes) {
        const pick = {};
        for (const r of routes) {
          if (!['home', 'about', 'news'].includes(r.name)) continue;
          pick[r.name] = { requests: r.requests, rendered: r.rendered, csr: r.csr_requests, s5xx: r.status['5xx'],
            mode: r.mode, mode_by: r.mode_by, verdict: r.verdict,
            est_kb: kbs(r.estimate?.heap_used?.bytes_per_request) };
        }
        const g = status?.guard;
        rec.samples.push({ t: r1(rel(now)), routes: pick, app_alive: !app.exited,
          guard: g && g.enabled ? { tripped: g.tripped, current_mb: mbs(g.current_bytes), high_mb: mbs(g.high_bytes),
            low_mb: mbs(g.low_bytes), switched: g.switched, trips: g.trips } : null });
      }
      if (onTick) await onTick(st);
      if (now - lastPrint > 15000) {
        lastPrint = now;
        const f = rec.floors.at(-1);
        const n = rec.samples.at(-1)?.routes?.news;
        log(`${name}: t=${rel(now).toFixed(0)}s floor ${f ? mbs(f[1]) : '?'} MB, app ${app.exited ? 'DEAD' : 'up'}, ` +
          `news ${n ? `${n.mode} ${n.verdict ?? ''}` : '?'}${rec.samples.at(-1)?.guard?.tripped ? ', guard tripped' : ''}`);
      }
      if (app.exited && now - app.exitMs >= 5000) { stopReason = 'app exited'; break; }
      const why = stopWhen && stopWhen(st);
      if (why) { stopReason = why; break; }
    }
    rec.stop_reason = stopReason;
    if (!load.exited) { try { process.kill(-load.pid, 'SIGTERM'); } catch { /* gone */ } }
    await Promise.race([load.exitP, sleep(15000)]);
    rec.t_end = rel(Date.now());
    rec.load = fs.existsSync(loadJson) ? JSON.parse(fs.readFileSync(loadJson, 'utf8')) : null;
    try {
      rec.events = (await getJson(admin, '/api/events?limit=256')).events.reverse()
        .map((e) => ({ ...e, t: r1(rel(e.time_ms)) }));
      rec.final_routes = (await getJson(admin, '/api/routes')).routes.filter((r) => ['home', 'about', 'news'].includes(r.name))
        .map((r) => ({ name: r.name, requests: r.requests, rendered: r.rendered, csr_requests: r.csr_requests,
          status: r.status, upstream_errors: r.upstream_errors, errors: r.errors, mode: r.mode, mode_by: r.mode_by,
          verdict: r.verdict, estimate_heap: r.estimate?.heap_used }));
      rec.final_status_guard = (await getJson(admin, '/api/status')).guard;
    } catch (e) { log(`${name}: final admin read failed: ${e.message}`); }
    rec.app = { exited: !!app.exited, exit: app.exitInfo ?? null, exit_s: app.exited ? r1(rel(app.exitMs)) : null,
      uptime_s: r1(((app.exited ? app.exitMs : Date.now()) - t0) / 1000),
      oom: /heap out of memory/i.test(app.buf.stderr),
      oom_line: (app.buf.stderr.match(/FATAL ERROR:[^\n]*/) || [null])[0],
      last_gcs: (app.buf.stderr.match(/\[\d+:0x[0-9a-f]+\]\s+\d+ ms: Mark-Compact[^\n]*/g) || []).slice(-2) };
    fs.writeFileSync(path.join(dir, 'app.stderr'), app.buf.stderr);
    fs.writeFileSync(path.join(dir, 'leakproxy.stderr'), lp.buf.stderr);
    rec.leakproxy_log_tail = lp.buf.stderr.split('\n').filter((l) => /guard|event|error|warn/i.test(l)).slice(-30);
    return rec;
  } finally {
    await stop(load); await stop(lp); await stop(app);
  }
}

// ---- analysis -----------------------------------------------------------------------------------------
const floorsIn = (rec, a, b) => rec.floors.filter((f) => f[0] >= a && f[0] <= b).map((f) => [f[0], f[1]]);
const slopeKBs = (rec, a, b) => { const s = slope(floorsIn(rec, a, b)); return s == null ? null : r1(s / KB); };
const floorAt = (rec, t) => { let best = null; for (const f of rec.floors) if (f[0] <= t) best = f; return best ? best[1] : null; };
const sampleAt = (rec, t) => { let best = rec.samples[0]; for (const s of rec.samples) if (s.t <= t) best = s; return best; };
const clientErrors = (rec) => {
  const L = rec.load;
  if (!L) return null;
  let s5 = 0, s4 = 0, err = 0;
  for (const r of Object.values(L.routes)) { s5 += r.status['5xx'] || 0; s4 += r.status['4xx'] || 0; err += r.status.err || 0; }
  return { requests: L.requests, '5xx': s5, '4xx': s4, err };
};
const latency = (rec) => rec.load ? Object.fromEntries(Object.entries(rec.load.routes)
  .map(([k, v]) => [k, { p50_ms: v.latency_ms.p50, p99_ms: v.latency_ms.p99, max_ms: v.latency_ms.max }])) : null;
const proxy5xxBefore = (rec, t) => {     // 5xx the proxy had answered (all three routes) by time t
  const s = [...rec.samples].reverse().find((x) => x.t < t);
  return s ? Object.values(s.routes).reduce((n, r) => n + (r.s5xx || 0), 0) : null;
};
const guardEvents = (rec) => rec.events.filter((e) => e.source === 'guard');
const countTypes = (evs) => evs.reduce((m, e) => { m[e.type] = (m[e.type] || 0) + 1; return m; }, {});

function analyseCrash(rec) {
  const f = rec.floors;
  const end = rec.app.exit_s ?? rec.t_end;
  return { crashed: rec.app.exited, crash_s: rec.app.exit_s, exit: rec.app.exit, oom: rec.app.oom, oom_line: rec.app.oom_line,
    last_gcs: rec.app.last_gcs, max_floor_mb: mbs(Math.max(...f.map((x) => x[1]))), first_floor_mb: mbs(f[0]?.[1]),
    slope_kb_s: slopeKBs(rec, 10, end), clients: clientErrors(rec), proxy_5xx_before_exit: rec.app.exited ? proxy5xxBefore(rec, rec.app.exit_s) : null,
    latency: latency(rec), stop_reason: rec.stop_reason };
}

function analyseGuard(rec, crash) {
  const sw = rec.events.find((e) => e.type === 'switch' && e.source === 'guard');
  const trip = rec.events.find((e) => e.type === 'trip' && e.source === 'guard');
  const out = { app_alive_at_end: !rec.app.exited, app_exit: rec.app.exit, oom: rec.app.oom, uptime_s: rec.app.uptime_s,
    run_s: rec.t_end, clients: clientErrors(rec), latency: latency(rec), guard_events: countTypes(guardEvents(rec)),
    events: guardEvents(rec).map((e) => ({ t: e.t, type: e.type, routes: e.routes, reason: e.reason })),
    trip: trip ? { t: trip.t, reason: trip.reason, bytes_mb: mbs(trip.bytes), threshold_mb: mbs(trip.threshold) } : null,
    final_modes: Object.fromEntries((rec.final_routes || []).filter((r) => ['home', 'about', 'news'].includes(r.name))
      .map((r) => [r.name, `${r.mode}${r.mode_by ? ` (${r.mode_by})` : ''}`])) };
  if (!sw) return { ...out, switch: null };
  const t = sw.t;
  const floorSw = floorAt(rec, t);
  const end = rec.app.exit_s ?? rec.t_end;
  const s0 = sampleAt(rec, t), s1 = rec.samples.at(-1);
  const fin = Object.fromEntries((rec.final_routes || []).map((r) => [r.name, r]));
  out.switch = { t, routes: sw.routes, reason: sw.reason, dry_run: !!sw.dry_run, bytes_mb: mbs(sw.bytes),
    threshold_mb: mbs(sw.threshold), floor_at_switch_mb: mbs(floorSw),
    below_v8_heap_limit_mb: mbs(HEAP_LIMIT - floorSw), below_old_space_mb: mbs(opt.heapMb * MB - floorSw),
    below_crash_floor_mb: crash?.max_floor_mb != null ? r1(crash.max_floor_mb - floorSw / MB) : null,
    before_crash_time_s: crash?.crash_s != null ? r1(crash.crash_s - t) : null };
  out.slope_before_kb_s = slopeKBs(rec, Math.max(10, t - 60), t);
  out.slope_after_kb_s = slopeKBs(rec, t + 15, end);
  out.floor_after = { at_switch_mb: mbs(floorSw), max_after_mb: mbs(Math.max(...floorsIn(rec, t, end).map((x) => x[1]))),
    at_end_mb: mbs(rec.floors.at(-1)?.[1]) };
  const c = (s, r, k) => s?.routes?.[r]?.[k] ?? null;
  out.counters = {};
  for (const r of ['home', 'about', 'news']) {
    out.counters[r] = { rendered_at_switch: c(s0, r, 'rendered'), rendered_at_end: fin[r]?.rendered ?? c(s1, r, 'rendered'),
      csr_at_switch: c(s0, r, 'csr'), csr_at_end: fin[r]?.csr_requests ?? c(s1, r, 'csr'), mode_at_end: fin[r]?.mode,
      mode_by_at_end: fin[r]?.mode_by, verdict_at_end: fin[r]?.verdict };
  }
  // healthy routes kept rendering after the switch: their rendered counter rose in every 30 s window
  const after = rec.samples.filter((s) => s.t >= t);
  let rising = true;
  for (let i = 0; i < after.length; i++) {
    const j = after.findIndex((s) => s.t >= after[i].t + 30);
    if (j < 0) break;
    for (const r of ['home', 'about']) if (!(c(after[j], r, 'rendered') > c(after[i], r, 'rendered'))) rising = false;
  }
  out.healthy_rendered_rising_every_30s = rising;
  out.modes_changed_for = [...new Set(rec.samples.flatMap((s) => Object.entries(s.routes).filter(([, v]) => v.mode !== 'ssr').map(([k]) => k)))];
  return out;
}

function analyseNoleak(rec, cal) {
  const evs = guardEvents(rec).filter((e) => e.t >= (cal?.armed_t ?? 0));
  const types = countTypes(evs);
  const modeFlips = {};
  let prev = null;
  for (const s of rec.samples) {
    for (const [r, v] of Object.entries(s.routes)) {
      if (prev && prev.routes[r] && prev.routes[r].mode !== v.mode) modeFlips[r] = (modeFlips[r] || 0) + 1;
    }
    prev = s;
  }
  const armed = cal?.armed_t ?? 0;
  const vals = rec.samples.filter((s) => s.t >= armed && s.guard).map((s) => s.guard.current_mb);
  const hi = cal ? mbs(cal.high) : null, lo = cal ? mbs(cal.low) : null;
  return { calibration: cal ? { armed_t: cal.armed_t, metric: cal.metric, n: cal.n, p05_mb: mbs(cal.p05), median_mb: mbs(cal.median),
    p95_mb: mbs(cal.p95), high_mb: hi, low_mb: lo } : null,
  readings_after_arming: { n: vals.length, above_high: vals.filter((v) => v > hi).length, below_low: vals.filter((v) => v < lo).length,
    min_mb: vals.length ? Math.min(...vals) : null, max_mb: vals.length ? Math.max(...vals) : null },
  guard_events: types, trips: types.trip || 0, switch_actions: types.switch || 0, restore_actions: types.restore || 0,
  recovered: types.recovered || 0, refused: types.refused || 0,
  mode_changes_seen_per_route: modeFlips,
  timeline: evs.map((e) => ({ t: e.t, type: e.type, routes: e.routes, reason: e.reason })),
  csr_at_end: (rec.final_routes || []).filter((r) => r.mode === 'csr').map((r) => r.name),
  status_guard_switched_at_end: rec.final_status_guard?.switched ?? null,
  app_alive_at_end: !rec.app.exited, clients: clientErrors(rec), run_s: rec.t_end };
}

function analyseDry(rec) {
  const sw = rec.events.find((e) => e.type === 'switch' && e.source === 'guard');
  const gev = guardEvents(rec);
  const fin = Object.fromEntries((rec.final_routes || []).map((r) => [r.name, r]));
  const modesSeen = [...new Set(rec.samples.flatMap((s) => Object.entries(s.routes).filter(([, v]) => v.mode !== 'ssr').map(([k]) => k)))];
  const end = rec.app.exit_s ?? rec.t_end;
  return { would_switch: sw ? { t: sw.t, routes: sw.routes, reason: sw.reason, dry_run: !!sw.dry_run } : null,
    events: gev.map((e) => ({ t: e.t, type: e.type, routes: e.routes, dry_run: !!e.dry_run, reason: e.reason })),
    app_exit_s: rec.app.exit_s, oom: rec.app.oom,
    guard_events: countTypes(gev), all_guard_events_dry_run: gev.length > 0 && gev.every((e) => e.dry_run === true),
    mode_events: rec.events.filter((e) => e.type === 'mode').length,
    routes_not_ssr_seen: modesSeen,
    news_csr_requests: fin.news?.csr_requests ?? null, news_rendered: fin.news?.rendered ?? null,
    status_guard_switched: rec.final_status_guard?.switched ?? null, status_guard_dry_run: rec.final_status_guard?.dry_run ?? null,
    slope_before_kb_s: sw ? slopeKBs(rec, Math.max(10, sw.t - 60), sw.t) : null,
    slope_after_kb_s: sw ? slopeKBs(rec, sw.t + 2, end) : null,
    app_alive_at_end: !rec.app.exited, clients: clientErrors(rec), run_s: rec.t_end, stop_reason: rec.stop_reason };
}

// ---- main -------------------------------------------------------------------------------------------------
const result = FROM ? { ...FROM, summary: {} } : { date: new Date().toISOString(), host: { cpus: os.cpus().length, model: os.cpus()[0]?.model,
  loadavg_start: os.loadavg().map(r1), node: process.version },
  git_head: spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
  options: opt, heap_limit_bytes: HEAP_LIMIT, heap_limit_mb: mbs(HEAP_LIMIT),
  mix: JSON.parse(fs.readFileSync(MIX, 'utf8')).routes, runs: {}, summary: {} };
if (FROM) {   // re-analysis: the same functions over the recorded runs
  const R = FROM.runs;
  if (R.crash) result.summary.crash = analyseCrash(R.crash);
  if (R.guard) result.summary.guard = analyseGuard(R.guard, result.summary.crash);
  if (R.noleak) {
    const c = FROM.summary?.noleak?.calibration;    // files from before rec.calibration: MB, rounded
    const cal = R.noleak.calibration ?? (c && { armed_t: c.armed_t, metric: c.metric, n: c.n, p05: c.p05_mb * MB,
      median: c.median_mb * MB, p95: c.p95_mb * MB, high: c.high_mb * MB, low: c.low_mb * MB });
    result.summary.noleak = analyseNoleak(R.noleak, cal);
  }
  if (R.dry) result.summary.dry = analyseDry(R.dry);
}
const guardCfg = (extra = {}) => ({ metric: 'heap_used', high_fraction: opt.fraction, action: 'leaking',
  hold_seconds: 300, max_switches_per_hour: 6, restore: 'manual', ...extra });

if (!FROM) log(`work dir ${WORK}; V8 heap_size_limit with --max-old-space-size=${opt.heapMb}: ${mbs(HEAP_LIMIT)} MB; ` +
  `guard high = ${opt.fraction} x ${mbs(HEAP_LIMIT)} = ${mbs(opt.fraction * HEAP_LIMIT)} MB; load ${opt.rate} req/s, ${opt.news} % news`);
let crash = null;
if (!FROM) try {
  if (opt.runs.includes('crash')) {
    log(`run 1/4 crash: no guard, up to ${opt.crashMax} s`);
    const rec = await run('crash', { seconds: opt.crashMax });
    result.runs.crash = rec;
    crash = result.summary.crash = analyseCrash(rec);
    log(`run 1: ${crash.crashed ? `app died at ${crash.crash_s} s (${crash.oom ? 'OOM' : JSON.stringify(crash.exit)})` : 'app did not die'}`);
  }
  const crashS = crash?.crash_s ?? null;
  if (opt.runs.includes('guard')) {
    const secs = Math.max(opt.guardMin, crashS ? Math.ceil(2 * crashS + 10) : opt.crashMax);
    log(`run 2/4 guard: ${secs} s`);
    const rec = await run('guard', { seconds: secs, guard: guardCfg() });
    result.runs.guard = rec;
    result.summary.guard = analyseGuard(rec, crash);
    const s = result.summary.guard;
    log(`run 2: switch ${s.switch ? `${s.switch.routes} at ${s.switch.t} s` : 'none'}, app ${s.app_alive_at_end ? 'up' : 'DIED'}`);
  }
  if (opt.runs.includes('noleak')) {
    log(`run 3/4 noleak: LEAKS=off, ${opt.noleakWarmup} s warm-up then the guard in the noise band, ${opt.noleakSeconds} s in all`);
    let cal = null;
    const rec = await run('noleak', { leaks: false, seconds: opt.noleakSeconds, onTick: async (st) => {
      if (cal || st.rel(Date.now()) < opt.noleakWarmup) return;
      // the metric's readings over the second half of the warm-up: forced-GC floors for heap_used
      const from = opt.noleakWarmup / 2;
      const mem = await getJson(st.admin, '/api/memory?points=1024');
      const xs = [];
      for (const w of mem.workers) for (const s of w.samples) {
        if (st.rel(s[0]) < from) continue;
        if (opt.noleakMetric === 'heap_used' && s[6] === 1 && s[5] != null) xs.push(s[5]);
        if (opt.noleakMetric === 'rss' && s[1] != null) xs.push(s[1]);
      }
      const c = { metric: opt.noleakMetric, n: xs.length, p05: quantile(xs, 0.05), median: quantile(xs, 0.5), p95: quantile(xs, 0.95),
        high: Math.round(quantile(xs, opt.noleakHighQ)), low: Math.round(quantile(xs, opt.noleakLowQ)) };
      if (!(c.low < c.high)) c.low = c.high - 64 * KB;       // a flat series: the narrowest band that is valid
      const g = { metric: opt.noleakMetric, high_bytes: c.high, low_bytes: c.low, action: 'all', hold_seconds: opt.noleakHold,
        max_switches_per_hour: 6, restore: 'on_recovery' };
      const cfg = { ...st.cfg, guard: g };
      fs.writeFileSync(st.cfgFile, JSON.stringify(cfg, null, 2) + '\n');
      st.rec.config = cfg;
      process.kill(st.lp.pid, 'SIGHUP');
      c.armed_t = r1(st.rel(Date.now()));
      cal = c;
      log(`noleak: armed at ${c.armed_t} s: ${c.metric} median ${mbs(c.median)} MB (p5 ${mbs(c.p05)}, p95 ${mbs(c.p95)}, n ${c.n}); ` +
        `high ${mbs(c.high)} MB, low ${mbs(c.low)} MB`);
    } });
    rec.calibration = cal;
    result.runs.noleak = rec;
    result.summary.noleak = analyseNoleak(rec, cal);
  }
  if (opt.runs.includes('dry')) {
    const secs = crashS ? Math.ceil(crashS + 30) : opt.crashMax;
    log(`run 4/4 dry: the guard run with dry_run, stopped ${opt.dryAfter} s after the would-be switch (at most ${secs} s)`);
    let seen = null;
    const rec = await run('dry', { seconds: secs, guard: guardCfg({ dry_run: true }), stopWhen: (st) => {
      const g = st.rec.samples.at(-1)?.guard;
      if (!seen && g?.switched?.length) seen = st.rel(Date.now());
      return seen && st.rel(Date.now()) >= seen + opt.dryAfter ? `${opt.dryAfter} s after the would-be switch` : null;
    } });
    result.runs.dry = rec;
    result.summary.dry = analyseDry(rec);
  }
} catch (e) {
  log(`FAILED: ${e.stack || e.message}`);
  result.error = String(e.stack || e.message);
  process.exitCode = 1;
}

// ---- report --------------------------------------------------------------------------------------------------
const S = result.summary;
const lines = [];
const row = (k, v) => lines.push(`| ${k} | ${v} |`);
lines.push(`guard acceptance run ${result.date}: Vue demo, node --max-old-space-size=${opt.heapMb} (V8 heap_size_limit ${result.heap_limit_mb} MB), ` +
  `${opt.rate ? `${opt.rate} req/s` : 'full speed (no rate limit)'}, concurrency ${opt.conc}, seed ${opt.seed}, mix home/about/news ${result.mix.map((r) => r1(r.weight)).join('/')}` +
  `${opt.gc === false ? ', no gc_url' : opt.rows === false ? ', forced GC without designed rows' : ', forced GC'}${opt.blind ? ', attribution blind' : ''}`);
lines.push('', '| measure | value |', '|---|---|');
if (S.crash) {
  const c = S.crash;
  row('1 no guard: app died', c.crashed ? `at ${c.crash_s} s of load (${c.oom ? 'V8 "heap out of memory"' : JSON.stringify(c.exit)}, exit ${JSON.stringify(c.exit)})` : `no (ran ${result.runs.crash.t_end} s)`);
  row('1 heap floor first / highest', `${c.first_floor_mb} / ${c.max_floor_mb} MB, slope ${c.slope_kb_s} KB/s`);
  row('1 clients', `${JSON.stringify(c.clients)}; 5xx answered by the proxy before the app died: ${c.proxy_5xx_before_exit}`);
}
if (S.guard) {
  const g = S.guard;
  row('2 guard: trip', g.trip ? `at ${g.trip.t} s: ${g.trip.reason}` : 'none');
  row('2 guard: switch', g.switch ? `at ${g.switch.t} s: ${g.switch.routes.join(',')}${g.switch.dry_run ? ' (dry run!)' : ''}` : 'NONE');
  if (g.switch) {
    row('2 event reason', g.switch.reason);
    row('2 floor at switch', `${g.switch.floor_at_switch_mb} MB: ${g.switch.below_old_space_mb} MB below --max-old-space-size, ` +
      `${g.switch.below_v8_heap_limit_mb} MB below heap_size_limit, ${g.switch.below_crash_floor_mb} MB below run 1's last floor; ` +
      `${g.switch.before_crash_time_s} s before run 1's crash time`);
    row('2 floor slope before / after', `${g.slope_before_kb_s} / ${g.slope_after_kb_s} KB/s (after: from switch + 15 s)`);
    row('2 floor after the switch', `max ${g.floor_after.max_after_mb} MB, at end ${g.floor_after.at_end_mb} MB`);
    for (const r of ['home', 'about', 'news']) {
      const x = g.counters[r];
      row(`2 ${r}`, `rendered ${x.rendered_at_switch} -> ${x.rendered_at_end}, csr ${x.csr_at_switch} -> ${x.csr_at_end}, mode ${x.mode_at_end} (${x.mode_by_at_end}), verdict ${x.verdict_at_end}`);
    }
    row('2 healthy routes rendered rising in every 30 s after the switch', g.healthy_rendered_rising_every_30s);
    row('2 routes ever not ssr', g.modes_changed_for.join(',') || '-');
  }
  row('2 guard timeline', (g.events || []).map((e) => `${e.t} s ${e.type}${e.routes?.length ? ` ${e.routes.join(',')}` : ''}`).join('; '));
  if (g.final_modes) row('2 final modes', Object.entries(g.final_modes).map(([k, v]) => `${k} ${v}`).join(', '));
  row('2 app', `${g.app_alive_at_end ? 'up' : 'DIED'} after ${g.uptime_s} s (run ${g.run_s} s)${g.oom ? ', OOM' : ''}`);
  row('2 clients', JSON.stringify(g.clients));
  row('2 guard events', JSON.stringify(g.guard_events));
  row('2 client latency p50/p99 ms', Object.entries(g.latency || {}).map(([k, v]) => `${k} ${v.p50_ms}/${v.p99_ms}`).join(', '));
}
if (S.noleak) {
  const n = S.noleak;
  if (n.calibration) row('3 no leak: thresholds', `${n.calibration.metric}: warm-up median ${n.calibration.median_mb} MB (p5 ${n.calibration.p05_mb}, p95 ${n.calibration.p95_mb}); high ${n.calibration.high_mb}, low ${n.calibration.low_mb} MB, armed at ${n.calibration.armed_t} s`);
  row('3 readings after arming', JSON.stringify(n.readings_after_arming));
  row('3 trips / switch actions / restores / recovered / refused', `${n.trips} / ${n.switch_actions} / ${n.restore_actions} / ${n.recovered} / ${n.refused}`);
  row('3 mode changes seen per route', JSON.stringify(n.mode_changes_seen_per_route));
  row('3 still csr at the end', n.csr_at_end.join(',') || '-');
  row('3 guard timeline', n.timeline.map((e) => `${e.t} s ${e.type}${e.routes ? ` ${e.routes.length > 3 ? `${e.routes.length} routes` : e.routes.join(',')}` : ''}`).join('; '));
  row('3 app / clients', `${n.app_alive_at_end ? 'up' : 'DIED'}, ${JSON.stringify(n.clients)}`);
}
if (S.dry) {
  const d = S.dry;
  row('4 dry run: would switch', d.would_switch ? `at ${d.would_switch.t} s: ${d.would_switch.routes.join(',')} (dry_run ${d.would_switch.dry_run})` : 'NONE');
  row('4 guard events', d.events.map((e) => `${e.t} s ${e.type}${e.routes ? ` ${e.routes.join(',')}` : ''}${e.dry_run ? ' (dry_run)' : ''}`).join('; '));
  row('4 all guard events dry_run', `${d.all_guard_events_dry_run} ${JSON.stringify(d.guard_events)}`);
  row('4 routes ever not ssr / news csr_requests / status switched', `${d.routes_not_ssr_seen.join(',') || '-'} / ${d.news_csr_requests} / ${JSON.stringify(d.status_guard_switched)}`);
  row('4 floor slope before / after the would-be switch', `${d.slope_before_kb_s} / ${d.slope_after_kb_s} KB/s`);
  row('4 app / clients', `${d.app_alive_at_end ? 'up' : `DIED at ${d.app_exit_s} s${d.oom ? ' (OOM)' : ''}`} (${d.stop_reason}), ${JSON.stringify(d.clients)}`);
}
result.summary_text = lines.join('\n');
console.log(lines.join('\n'));
if (FROM) process.exit(process.exitCode || 0);
const day = result.date.slice(0, 10);
let out = opt.json || path.join(BENCH, 'results', `guard-${day}.json`);
if (!opt.json && fs.existsSync(out)) out = path.join(BENCH, 'results', `guard-${day}-${result.date.slice(11, 16).replace(':', '')}.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(result) + '\n');
log(`raw data: ${out}`);
if (!opt.keep && !process.exitCode) fs.rmSync(WORK, { recursive: true, force: true });
else log(`work dir kept: ${WORK}`);
