#!/usr/bin/env node
// bench/bisect.mjs -- helper of bench/bisect.sh (node built-ins only).
//
//   node bench/bisect.mjs watch --admin HOST:PORT --out WATCH.json [--max-minutes N]
//       while GET /api/bisect says "running": prints each round as it ends, records the forced-GC
//       floors (GET /api/memory), the GC pause and duty, and every route's rendered / csr counts
//       (GET /api/routes, every 5 s); after N minutes it aborts the bisection (DELETE /api/bisect).
//   node bench/bisect.mjs runfile --out RUN.json --watch W --before R0 --after R1 ... --meta JSON
//       writes the context of a run beside its GET /api/bisect file.
//   node bench/bisect.mjs report BISECT.json [--truth demo/vue/truth.json]
//       the report: found vs truth, every round, rounds and minutes, rounds vs log2(candidates),
//       modes restored (from BISECT.run.json when it is there), and per test round the lowering
//       the truth predicts for the routes it switched off beside what was measured.
//   node bench/bisect.mjs model [--n 2,4,8,...]
//       the number of rounds src/bisect.c takes when every decision is right, for 1 and 2 leaks
//       among n candidates, against log2(n).
import http from 'node:http';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KB = 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const readJson = (f, dflt) => { try { return JSON.parse(readFileSync(f, 'utf8')); } catch (e) { if (dflt !== undefined) return dflt; throw e; } };

function args(argv) {
  const o = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : true;
    else o._.push(argv[i]);
  }
  return o;
}

function call(admin, method, path) {
  const [host, port] = [admin.slice(0, admin.lastIndexOf(':')), Number(admin.slice(admin.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, timeout: 10000 }, (res) => {
      let s = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { s += d; });
      res.on('end', () => { try { resolve(JSON.parse(s)); } catch { reject(new Error(`${method} ${path}: not JSON: ${s.slice(0, 200)}`)); } });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const f1 = (x) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(1));
const kbs = (b) => (typeof b === 'number' ? f1(b / KB) : '-');
const hhmmss = (ms) => new Date(ms).toISOString().slice(11, 19);

// t quantile (two-sided 95 %), as src/fit.c fit_t975
function t975(df) {
  const t = [0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
    2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042];
  if (df < 1) return Infinity;
  if (df <= 30) return t[df];
  const z = 1.959964, d = df;
  return z + (z ** 3 + z) / (4 * d) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * d * d);
}

function roundLine(r) {
  const off = r.kind === 'baseline' ? '(baseline)' : `[${r.off.join(',')}]`;
  if (r.state === 'running') return `round ${r.round} ${off} running`;
  const secs = ((r.end_ms - r.start_ms) / 1000).toFixed(0);
  const lowered = r.kind === 'test' ? `, lowered by ${kbs(r.lowered_by_bytes_per_s)} (95% low ${kbs(r.lowered_by_low)})` : '';
  return `round ${String(r.round).padStart(2)} ${hhmmss(r.start_ms)} ${secs}s ${off.padEnd(40)} rows ${String(r.rows).padStart(3)} ` +
    `growth ${kbs(r.growth_bytes_per_s)} ± ${kbs(r.growth_se)} KB/s${lowered}: ${r.decision}`;
}

// ---------------------------------------------------------------------------- watch

async function watch(o) {
  const admin = o.admin, out = o.out, maxMs = Number(o['max-minutes'] || 120) * 60000;
  const t0 = Date.now();
  const rec = { started: t0, floors: [], gc: [], counts: [], bisect: null, aborted: false };
  let printed = 0, lastMem = 0, lastCounts = 0, memSince = t0 - 5000, j = null, fails = 0;
  const save = () => writeFileSync(out, JSON.stringify(rec) + '\n');
  for (;;) {
    const now = Date.now();
    try {
      j = await call(admin, 'GET', '/api/bisect');
      fails = 0;
    } catch (e) {
      if (++fails > 10) { console.error(`watch: ${e.message}`); save(); return 1; }
      await sleep(2000);
      continue;
    }
    const done = (j.rounds || []).filter((r) => r.state !== 'running');
    while (printed < done.length) console.log(`   ${roundLine(done[printed++])}`);
    try {
      if (now - lastCounts >= 5000) {
        lastCounts = now;
        const rs = (await call(admin, 'GET', '/api/routes')).routes;
        rec.counts.push([now, Object.fromEntries(rs.map((r) => [r.name, [r.rendered ?? r.requests, r.csr_requests ?? 0, r.mode]]))]);
      }
      if (now - lastMem >= 20000 || j.state !== 'running') {
        lastMem = now;
        const m = await call(admin, 'GET', `/api/memory?points=1024&since=${memSince}`);
        for (const w of m.workers || []) {
          for (const p of w.samples) {
            // [t_ms, rss, heap_used, heap_total, external, floor, gc]: keep the forced-GC readings
            if (p[6] === 1) rec.floors.push([p[0], p[5], p[2], p[1], p[4]]);
            memSince = Math.max(memSince, p[0]);
          }
        }
        if (m.gc) rec.gc.push([now, m.gc.last_ms, m.gc.duty]);
      }
    } catch (e) {
      console.error(`watch: ${e.message}`);
    }
    if (j.state !== 'running') break;
    if (now - t0 > maxMs) {
      console.error(`watch: still running after ${o['max-minutes']} min: DELETE /api/bisect`);
      rec.aborted = true;
      await call(admin, 'DELETE', '/api/bisect').catch(() => {});
      j = await call(admin, 'GET', '/api/bisect');
      break;
    }
    save();
    await sleep(2000);
  }
  rec.bisect = j;
  rec.ended = Date.now();
  save();
  return 0;
}

// ---------------------------------------------------------------------------- runfile

function runfile(o) {
  const modes = (f) => Object.fromEntries((readJson(f, { routes: [] }).routes || []).map((r) => [r.name, { mode: r.mode, mode_by: r.mode_by, never_csr: r.never_csr }]));
  const w = readJson(o.watch, {});
  const mem = (f) => { const m = readJson(f, {}); return { heapUsed: m.heapUsed, rss: m.vmrss ?? m.rss, external: m.external, gc_ms: m.gc_ms }; };
  const app = readJson(o['app-config'], {});
  const load = readJson(o.load, {});
  const ev = readJson(o.events, {});
  const run = {
    meta: JSON.parse(o.meta),
    modes_before: modes(o.before), modes_after: modes(o.after),
    upstream_memory_before: mem(o['mem-before']), upstream_memory_after: mem(o['mem-after']),
    app_retained_after: app.retained ?? null, app_cache_after: app.cache ?? null,
    load: load.requests !== undefined ? { requests: load.requests, errors: load.errors, seconds: load.seconds,
      routes: Object.fromEntries(Object.entries(load.routes || {}).map(([k, v]) => [k, v.count])) } : null,
    watch_aborted: !!w.aborted,
    // forced-GC readings during the bisection: [t_ms, floor, heap_used, rss, external]
    floors: w.floors || [],
    // [t_ms, last forced GC ms, GC duty]
    gc: w.gc || [],
    // every 5 s: [t_ms, {route: [rendered, csr_requests, mode]}]
    counts: w.counts || [],
    bisect_events: (ev.events || []).filter((e) => e.type === 'bisect').reverse()
      .map((e) => ({ time_ms: e.time_ms, action: e.action, routes: e.routes, reason: e.reason })),
  };
  writeFileSync(o.out, JSON.stringify(run) + '\n');
  return 0;
}

// ---------------------------------------------------------------------------- report

// bytes per request of a route on a metric, from truth.json (steady window; live: the load-mix
// variant, which has the load's share of odd ids)
// (with the app's leak switch off -- LEAK_BUS=0, LEAKS=off -- the route's switched_off figures)
function truthTable(truthFile, env = {}) {
  const t = readJson(truthFile);
  const by = new Map();
  const off = (sw) => sw && (/^(0|off|false|no)$/i.test(env[sw] ?? '') || /^(0|off|false|no)$/i.test(env.LEAKS ?? ''));
  for (const r of t.routes) {
    const cur = by.get(r.route);
    if (cur && r.variant !== 'load mix') continue;
    const sw = off(r.leak_switch) && r.switched_off;
    by.set(r.route, { kind: sw ? 'leak switched off' : r.kind, variant: r.variant, behaviour: r.behaviour,
      steady: sw ? r.switched_off.steady : r.measured.steady, first: r.measured.first_request, early: r.measured.early,
      switched: sw ? r.leak_switch : null, offSteady: r.switched_off?.steady ?? null });
  }
  return by;
}
const perReq = (t, metric) => (metric === 'rss' ? t.steady.rss_per_req : t.steady.heap_per_req);
// a route is a leak on <metric> when truth kind is leak and its steady slope on that metric is
// clearly above the healthy routes' (>= 2 KB/req on heap; on RSS the native leak and news)
function leaksOn(t, metric) {
  if (t.kind !== 'leak') return false;
  return metric === 'rss' ? t.steady.rss_per_req >= 100 * KB : t.steady.heap_per_req >= 2 * KB;
}

// rendered requests per second of each route during [a, b] from the 5 s count snapshots
function ratesBetween(counts, a, b) {
  if (!counts || counts.length < 2) return null;
  const at = (t) => {
    let best = counts[0];
    for (const c of counts) if (Math.abs(c[0] - t) < Math.abs(best[0] - t)) best = c;
    return best;
  };
  const ca = at(a), cb = at(b);
  const dt = (cb[0] - ca[0]) / 1000;
  if (dt <= 0) return null;
  const out = {};
  for (const name of Object.keys(cb[1])) {
    const r0 = ca[1][name] || [0, 0], r1 = cb[1][name];
    out[name] = { ssr: (r1[0] - r0[0]) / dt, csr: (r1[1] - r0[1]) / dt };
  }
  return out;
}

function report(o) {
  const file = o._[0];
  if (!file) { console.error('usage: bisect.mjs report BISECT.json [--truth FILE]'); return 2; }
  const j = readJson(file);
  const runFile = file.replace(/\.json$/, '.run.json');
  const run = existsSync(runFile) ? readJson(runFile) : null;
  const truth = truthTable(o.truth || `${ROOT}demo/vue/truth.json`, run?.meta?.app_env || {});
  const metric = j.metric || 'heap_used';
  const cand = j.candidates || [];
  const found = j.leaking || [];
  const rounds = (j.rounds || []).filter((r) => r.state !== 'running');
  const minutes = j.finished_ms ? (j.finished_ms - j.started_ms) / 60000 : NaN;
  const log2n = Math.log2(cand.length);

  if (run) {
    const m = run.meta;
    const loadTxt = Number(m.rate) === 0 ? `full speed (closed loop, no rate limit) -c ${m.concurrency}` : `${m.rate} req/s -c ${m.concurrency}`;
    console.log(`run: ${m.command}, ${m.date}, load ${loadTxt} seed ${m.seed}, warm-up ${m.warmup_s} s, ` +
      `leakproxy ${m.leakproxy_sha256} (HEAD ${m.head}), node ${m.node}, ${m.nproc} CPUs, load average at the end ${m.loadavg_end}`);
  }
  console.log(`bisection: ${j.state}${j.message ? ` (${j.message})` : ''}, metric ${metric}, rounds of ${j.round_seconds} s, ` +
    `${cand.length} candidates: ${cand.join(', ')}`);
  if ((j.undecided || []).length) console.log(`undecided (counted as cleared, not settled): ${j.undecided.join(', ')}`);
  const sigs = {};
  for (const r of rounds) sigs[r.signal ?? 'none'] = (sigs[r.signal ?? 'none'] || 0) + 1;
  console.log(`signals: ${Object.entries(sigs).map(([k, v]) => `${k} ${v}`).join(', ')}; rounds extended: ${rounds.filter((r) => r.extended).length}; ` +
    `too few readings: ${rounds.filter((r) => /too few memory readings/.test(r.decision || '')).length}`);
  console.log(`found: ${found.length ? found.join(', ') : '(none)'}; ${rounds.length} rounds ` +
    `(${rounds.filter((r) => r.kind === 'baseline').length} baseline, ${rounds.filter((r) => r.kind === 'test').length} test), ${f1(minutes)} minutes`);

  // found vs truth
  console.log(`\nfound vs demo/vue/truth.json (leaking on ${metric} = truth kind leak with a steady ${metric === 'rss' ? 'RSS slope >= 100' : 'heap slope >= 2'} KB/req):`);
  console.log(`  ${'route'.padEnd(9)} ${'truth kind'.padEnd(11)} ${'steady KB/req'.padStart(13)} ${'leaks on metric'.padEnd(16)} ${'found'.padEnd(6)} result`);
  const verdicts = { tp: [], fn: [], fp: [], tn: [] };
  for (const name of cand) {
    const t = truth.get(name);
    if (!t) continue;
    const leak = leaksOn(t, metric), f = found.includes(name);
    const res = leak ? (f ? 'found (correct)' : 'MISSED') : (f ? 'FALSE POSITIVE' : 'not blamed (correct)');
    verdicts[leak ? (f ? 'tp' : 'fn') : (f ? 'fp' : 'tn')].push(name);
    const kindTxt = t.kind === 'warmup' ? 'one-time' : t.kind === 'cache' ? 'plateau' : t.switched ? 'leak off' : t.kind;
    const note = (t.variant === 'load mix' ? ' (load mix)' : '') + (t.switched ? ` (${t.switched}=0: truth's switched-off figures)` : '') +
      (t.kind === 'leak' && !leak ? (metric === 'rss'
        ? ` (a heap leak of ${f1(t.steady.heap_per_req / KB)} KB/req; its RSS slope is within RSS noise: ${f1((t.offSteady?.rss_per_req ?? NaN) / KB)} with the leak switched off)`
        : ` (native: RSS ${f1(t.steady.rss_per_req / KB)}, external ${f1(t.steady.external_per_req / KB)} KB/req)`) : '');
    console.log(`  ${name.padEnd(9)} ${kindTxt.padEnd(11)} ${f1(perReq(t, metric) / KB).padStart(13)} ${(leak ? 'yes' : 'no').padEnd(16)} ${(f ? 'yes' : 'no').padEnd(6)} ${res}${note}`);
  }
  console.log(`  => ${verdicts.tp.length} of ${verdicts.tp.length + verdicts.fn.length} leaking routes found` +
    `${verdicts.fn.length ? ` (missed: ${verdicts.fn.join(', ')})` : ''}; false positives: ${verdicts.fp.length ? verdicts.fp.join(', ') : 'none'}`);

  // rounds
  console.log('\nrounds (growth = the slope of the round\'s floors or heap_used troughs after its switch, ± its standard error;');
  console.log('"expected" = what truth.json predicts switching the group off lowers growth by: the off routes\' rendered rates in the last baseline × truth\'s steady bytes per request):');
  console.log(`  ${'#'.padStart(2)} ${'start'.padEnd(8)} ${'s'.padStart(4)} ${'off'.padEnd(36)} ${'rows'.padStart(4)} ${'ssr req'.padStart(7)} ` +
    `${'growth KB/s'.padStart(15)} ${'lowered by'.padStart(10)} ${'95% low'.padStart(8)} ${'half-width'.padStart(10)} ${'expected'.padStart(8)}  decision`);
  let lastBase = null;
  for (const r of rounds) {
    const secs = (r.end_ms - r.start_ms) / 1000;
    let expected = '';
    // the rate the off routes rendered at in the last baseline (else the csr rate in this round),
    // times truth's bytes per request
    const base = run && lastBase ? ratesBetween(run.counts, lastBase.start_ms, lastBase.end_ms) : null;
    const rates = run ? ratesBetween(run.counts, r.start_ms, r.end_ms) : null;
    if (r.kind === 'test' && (base || rates)) {
      let e = 0;
      for (const n of r.off) {
        const t = truth.get(n);
        if (t) e += (base ? base[n]?.ssr ?? 0 : (rates[n]?.ssr ?? 0) + (rates[n]?.csr ?? 0)) * Math.max(0, perReq(t, metric));
      }
      expected = kbs(e);
    }
    if (r.kind === 'baseline') lastBase = r;
    const half = r.kind === 'test' ? r.lowered_by_bytes_per_s - r.lowered_by_low : NaN;
    const dec = (r.decision || '').replace(/:.*$/, '').replace(/ \(.*$/, '') + (r.signal ? ` [${r.signal}${r.extended ? `, extended ${r.extended}` : ''}]` : '');
    console.log(`  ${String(r.round).padStart(2)} ${hhmmss(r.start_ms)} ${secs.toFixed(0).padStart(4)} ${(r.kind === 'baseline' ? '(baseline)' : r.off.join(',')).padEnd(36)} ` +
      `${String(r.rows).padStart(4)} ${String(r.ssr_requests).padStart(7)} ${(kbs(r.growth_bytes_per_s) + ' ± ' + kbs(r.growth_se)).padStart(15)} ` +
      `${(r.kind === 'test' ? kbs(r.lowered_by_bytes_per_s) : '').padStart(10)} ${(r.kind === 'test' ? kbs(r.lowered_by_low) : '').padStart(8)} ` +
      `${(r.kind === 'test' ? kbs(half) : '').padStart(10)} ${expected.padStart(8)}  ${dec}`);
  }

  // rounds vs log2
  const tests = rounds.filter((r) => r.kind === 'test');
  console.log(`\nrounds vs log2(candidates): log2(${cand.length}) = ${log2n.toFixed(2)}`);
  for (const name of cand.filter((n) => leaksOn(truth.get(n) || { kind: '' }, metric) || found.includes(n))) {
    const path = tests.filter((r) => r.off.includes(name));
    console.log(`  ${name}: in ${path.length} test round(s): ${path.map((r) => `#${r.round} [${r.off.length}] ${/^leaking|holds/.test(r.decision) ? 'guilty' : 'cleared'}`).join(', ')}`);
  }
  const k = Math.max(1, found.length);
  console.log(`  ${tests.length} test rounds + ${rounds.length - tests.length} baselines for ${found.length} found leak(s): ` +
    `${(tests.length / k).toFixed(1)} test rounds per found leak, ${(rounds.length / k).toFixed(1)} rounds with baselines = ` +
    `${(rounds.length / k / log2n).toFixed(2)} × log2(n) (each halving level tests both halves: 2 test rounds per level, a baseline every 3)`);

  const idx = (names) => names.map((x) => cand.indexOf(x)).filter((i) => i >= 0);
  const truthLeaks = cand.filter((n) => leaksOn(truth.get(n) || { kind: '' }, metric));
  console.log(`  with every decision right, src/bisect.c takes ${modelRounds(cand.length, idx(found)).rounds} rounds for what was found ` +
    `[${found.join(', ')}] and ${modelRounds(cand.length, idx(truthLeaks)).rounds} for the truth's leaking routes [${truthLeaks.join(', ')}] ` +
    `(bench/bisect.mjs model: the same count over every position and n)`);

  // nested test rounds: when A switched off a strict subset of what B switched off, everything
  // else rendering in both, growth(A) - growth(B) is the contribution of the difference measured
  // with A's routes off in both rounds (the baseline does not enter: nor does its noise)
  const nested = [];
  for (const a of tests) for (const b of tests) {
    if (a === b || !a.off.every((x) => b.off.includes(x)) || a.off.length >= b.off.length) continue;
    const d = a.growth_bytes_per_s - b.growth_bytes_per_s, se = Math.hypot(a.growth_se, b.growth_se);
    const df = Math.min(a.rows, b.rows) - 1;
    nested.push({ a, b, rest: b.off.filter((x) => !a.off.includes(x)), d, se, low: d - t975(df) * se, df });
  }
  if (nested.length) {
    console.log('\nnested test rounds (not used by src/bisect.c, which compares every test round with the last baseline):');
    for (const x of nested) {
      console.log(`  #${x.a.round} [${x.a.off.join(',')}] vs #${x.b.round} [${x.b.off.join(',')}]: [${x.rest.join(',')}] adds ` +
        `${kbs(x.d)} ± ${kbs(x.se)} KB/s with [${x.a.off.join(',')}] off (95% low ${kbs(x.low)}, df ${x.df})`);
    }
  }

  // modes
  if (run) {
    const b = run.modes_before, a = run.modes_after;
    const diff = Object.keys(b).filter((n) => !a[n] || a[n].mode !== b[n].mode || a[n].mode_by !== b[n].mode_by);
    console.log(`\nmodes restored: ${diff.length === 0 ? 'yes' : 'NO'} (GET /api/routes before and after: ` +
      `${Object.entries(a).map(([n, m]) => `${n} ${m.mode}/${m.mode_by}${m.never_csr ? ' never_csr' : ''}`).join(', ')})` +
      `${diff.length ? `; differ: ${diff.map((n) => `${n} ${b[n].mode}/${b[n].mode_by} -> ${a[n]?.mode}/${a[n]?.mode_by}`).join(', ')}` : ''}`);
    const mb = (x) => (typeof x === 'number' ? (x / 1048576).toFixed(0) : '?');
    const g = run.gc.map((x) => x[1]).filter((x) => typeof x === 'number');
    console.log(`upstream heapUsed after forced GC ${mb(run.upstream_memory_before.heapUsed)} -> ${mb(run.upstream_memory_after.heapUsed)} MB, ` +
      `RSS ${mb(run.upstream_memory_before.rss)} -> ${mb(run.upstream_memory_after.rss)} MB; forced GC pause ` +
      `${g.length ? `${Math.min(...g).toFixed(0)}-${Math.max(...g).toFixed(0)} ms` : '?'}; ${run.floors.length} forced-GC readings watched`);
    if (run.load) console.log(`load: ${run.load.requests} requests, ${run.load.errors} errors in ${run.load.seconds} s`);
  }
  return 0;
}

// ---------------------------------------------------------------------------- model

// The round count of src/bisect.c with every decision right: a baseline first and after every
// BISECT_REBASE (3) test rounds, a FIFO queue starting with the two halves (first half =
// floor(n/2)), a guilty group of more than one route split the same way, a clean group cleared.
export function modelRounds(n, leaks) {
  const leak = new Set(leaks);
  const split = (g) => [g.slice(0, Math.floor(g.length / 2)), g.slice(Math.floor(g.length / 2))];
  const all = Array.from({ length: n }, (_, i) => i);
  const q = n === 1 ? [all] : split(all);
  let rounds = 1, tests = 0, since = 0;
  while (q.length) {
    if (since >= 3) { rounds++; since = 0; }
    const g = q.shift();
    rounds++; tests++; since++;
    if (g.some((i) => leak.has(i)) && g.length > 1) q.push(...split(g));
  }
  return { rounds, tests };
}

function model(o) {
  const ns = (o.n || '2,4,8,9,16,32,64,128,256').split(',').map(Number);
  console.log('rounds of a bisection with every decision right (src/bisect.c: baseline + rebase every 3 test rounds, halves, FIFO),');
  console.log('over every position of 1 leak and every pair of 2 leaks among n candidates:');
  console.log(`  ${'n'.padStart(4)} ${'log2 n'.padStart(6)}   ${'1 leak: rounds min-mean-max'.padEnd(28)} ${'/log2 n'.padStart(7)}   ${'2 leaks: rounds min-mean-max'.padEnd(29)} ${'/(2 log2 n)'.padStart(11)}`);
  for (const n of ns) {
    const one = [], two = [];
    for (let a = 0; a < n; a++) {
      one.push(modelRounds(n, [a]).rounds);
      for (let b = a + 1; b < n; b++) two.push(modelRounds(n, [a, b]).rounds);
    }
    const st = (xs) => xs.length ? `${Math.min(...xs)}-${(xs.reduce((s, x) => s + x, 0) / xs.length).toFixed(1)}-${Math.max(...xs)}` : '-';
    const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const l = Math.log2(n);
    console.log(`  ${String(n).padStart(4)} ${l.toFixed(2).padStart(6)}   ${st(one).padEnd(28)} ${(mean(one) / l).toFixed(2).padStart(7)}   ` +
      `${st(two).padEnd(29)} ${two.length ? (mean(two) / (2 * l)).toFixed(2).padStart(11) : '-'.padStart(11)}`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [cmd, ...rest] = process.argv.slice(2);
  const fn = { watch, runfile, report, model }[cmd];
  if (!fn) { console.error('usage: bisect.mjs watch|runfile|report|model ...'); process.exit(2); }
  Promise.resolve(fn(args(rest))).then((code) => { process.exitCode = code; }, (e) => { console.error(`bisect.mjs: ${e.stack || e.message}`); process.exitCode = 1; });
}
