#!/usr/bin/env node
// bench/synth.mjs -- leakproxy's attribution accuracy on synthetic SSR-like apps (bench/synth/app.mjs),
// at full speed (closed loop, concurrency 8, no rate limit) and at a fixed 150 requests/s.
// Node built-ins only. Run through bench/synth.sh (which checks the prerequisites and runs it niced).
//
// For each scenario (bench/synth/scenarios.json) x regime x seed, one at a time: a fresh app
// (node --expose-gc), a fresh ./leakproxy in front of it with the README's minimal memory block
// ({"source":"http","url":".../__mem","gc_url":".../__mem?gc=1"}, every other key at its default),
// the seeded load (demo/load.mjs --mix, the scenario's shares), GET /api/routes polled every ~500 ms
// (as bench/attribution.mjs does), and every route scored against the app's ground truth
// (GET /__synth: the spec, with each leak's bytes per request measured on the V8 heap at start).
// Throughput: the same load (full speed, same seeds) through a plain leakproxy (no memory block);
// the ratio of requests/s with and without the memory source.
//
//   node bench/synth.mjs [--scenarios S1,S2,S3,S4] [--regimes full,rate] [--seeds 10] [--rate-seeds 3]
//        [--plain-seeds 3] [--requests N] [--max-seconds S] [--conc 8] [--rate 150] [--md FILE] [--json FILE]
//        [--memory '{"rows":{"overflow":false}}']   (extra keys of the memory block)
// A run sends the scenario's "requests" or stops after --max-seconds (default: the scenario's
// "max_seconds", else 90), whichever comes first: the engine's forced GCs slow the upstream.
//   node bench/synth.mjs --from TRACES.json [--md FILE]   (re-renders a previous run's report)
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

// ---- options ------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = { scenarios: null, regimes: ['full', 'rate'], seeds: 10, rateSeeds: 3, plainSeeds: 3, requests: null,
  conc: 8, rate: 150, poll: 500, md: null, json: null, from: null, firstSeed: 1, maxSeconds: null };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i], v = () => argv[++i];
  if (a === '--scenarios') opt.scenarios = v().split(',');
  else if (a === '--regimes') opt.regimes = v().split(',');
  else if (a === '--seeds') opt.seeds = +v();
  else if (a === '--rate-seeds') opt.rateSeeds = +v();
  else if (a === '--plain-seeds') opt.plainSeeds = +v();
  else if (a === '--first-seed') opt.firstSeed = +v();
  else if (a === '--requests') opt.requests = +v();
  else if (a === '--max-seconds') opt.maxSeconds = +v();
  else if (a === '--conc') opt.conc = +v();
  else if (a === '--rate') opt.rate = +v();
  else if (a === '--md') opt.md = v();
  else if (a === '--json') opt.json = v();
  else if (a === '--from') opt.from = v();
  else if (a === '--memory') opt.memory = JSON.parse(v());   // extra keys of the memory block
  else if (a === '-h' || a === '--help') {
    console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 18).join('\n'));
    process.exit(0);
  } else { console.error(`unknown option ${a}`); process.exit(2); }
}
const SCEN = JSON.parse(fs.readFileSync(path.join(BENCH, 'synth', 'scenarios.json'), 'utf8')).scenarios;
const scenNames = opt.scenarios || Object.keys(SCEN);
for (const s of scenNames) if (!SCEN[s]) { console.error(`unknown scenario ${s}`); process.exit(2); }

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
// Neutral names in the work dir: someone else's broad `pkill -f load.mjs` must not end our runs.
function entry(work, rel, name) {
  const link = path.join(work, name);
  if (!fs.existsSync(link)) fs.symlinkSync(path.join(ROOT, rel), link);
  return link;
}

// ---- one run ------------------------------------------------------------------------------------------
const METRICS = ['heap_used', 'rss', 'external'];
const SHORT = { heap_used: 'heap', rss: 'rss', external: 'ext' };

function mixOf(sc) {
  return { routes: sc.routes.map((r) => ({ name: r.name, weight: r.share,
    path: `/${r.name}/{int:1:${r.kind === 'cache' ? r.keys : 1000}}` })) };
}

async function oneRun(work, lpBin, j) {
  const sc = SCEN[j.scenario];
  const dir = fs.mkdtempSync(path.join(work, `${j.scenario}-${j.regime}-${j.mode}-${j.seed}-`));
  const specFile = path.join(dir, 'spec.json');
  fs.writeFileSync(specFile, JSON.stringify(sc));
  const mixFile = path.join(dir, 'mix.json');
  fs.writeFileSync(mixFile, JSON.stringify(mixOf(sc)));
  const procs = [];
  const t0 = Date.now();
  let appP = null, lpP = null;
  try {
    appP = start(process.execPath, ['--expose-gc', ...(sc.node || []), entry(work, 'bench/synth/app.mjs', 'synth-app.mjs'),
      '--spec', specFile], { cwd: dir, env: { ...process.env, PORT: '0', HOST: '127.0.0.1' } });
    procs.push(appP);
    collect(appP, 'stdout');
    collect(appP, 'stderr');
    const upPort = +(await waitFor(appP, 'stdout', /listening on 127\.0\.0\.1:(\d+)/, 120000, 'synth app'))[1];
    const info = await getJson(upPort, '/__synth');

    const conf = { listen: '127.0.0.1:0', admin: '127.0.0.1:0', upstream: `http://127.0.0.1:${upPort}`,
      routes: info.leakproxy_routes, access_log: null };
    if (j.mode === 'mem') {
      conf.memory = { source: 'http', url: `http://127.0.0.1:${upPort}/__mem`, gc_url: `http://127.0.0.1:${upPort}/__mem?gc=1`, ...(opt.memory || {}) };
    }
    fs.writeFileSync(path.join(dir, 'proxy.json'), JSON.stringify(conf, null, 1));
    const lp = lpP = start(lpBin, ['-c', path.join(dir, 'proxy.json')], { cwd: dir });
    procs.push(lp);
    collect(lp, 'stdout');
    collect(lp, 'stderr');
    const proxyPort = +(await waitFor(lp, 'stderr', /proxy listening on 127\.0\.0\.1:(\d+)/, 10000, 'leakproxy'))[1];
    const adminPort = +(await waitFor(lp, 'stderr', /admin listening on 127\.0\.0\.1:(\d+)/, 10000, 'leakproxy'))[1];

    const loadJson = path.join(dir, 'load.json');
    const largs = ['--preserve-symlinks-main', entry(work, 'demo/load.mjs', 'synth-driver.mjs'), '--mix', mixFile,
      '--target', `http://127.0.0.1:${proxyPort}`, '--seed', String(j.seed), '-c', String(opt.conc),
      '--requests', String(j.n), '--duration', String(j.maxSeconds), '--quiet', '--json', loadJson];
    if (j.regime === 'rate') largs.push('--rate', String(opt.rate));
    const load = start(process.execPath, largs, { cwd: ROOT });
    procs.push(load);
    let loadOut = '';
    load.stdout.on('data', (d) => { loadOut += d; });
    load.stderr.on('data', (d) => { loadOut += d; });
    let done = false, loadCode = null;
    const loadDone = new Promise((r) => load.on('exit', (c) => { done = true; loadCode = c; r(c); }));

    const polls = [];
    const tl0 = Date.now();
    let after = 0, pollErrors = 0;
    if (j.mode === 'mem') {
      for (;;) {
        const tp = Date.now();
        try { polls.push(compactPoll(await getJson(adminPort, '/api/routes'), (tp - tl0) / 1000)); } catch { pollErrors++; }
        if (done && ++after > 4) break;   // a few evaluations after the last request
        const wait = opt.poll - (Date.now() - tp);
        if (wait > 0) await Promise.race([sleep(wait), loadDone]);
        if (done && after === 0) await sleep(wait > 0 ? wait : 0);
      }
    } else await loadDone;
    const loadSeconds = (Date.now() - tl0) / 1000;
    let loadRes = null;
    try { loadRes = JSON.parse(fs.readFileSync(loadJson, 'utf8')); } catch { /* none */ }
    const mem = j.mode === 'mem' ? await getJson(adminPort, '/api/memory?points=1').catch(() => null) : null;
    const end = await getJson(upPort, '/__mem?gc=1', 20000).catch(() => null);
    if (mem) for (const w of mem.workers || []) delete w.samples;
    const run = { scenario: j.scenario, regime: j.regime, mode: j.mode, seed: j.seed, requests: j.n,
      truth: info.truth, base: info.base, load_exit: loadCode, poll_errors: pollErrors, seconds: loadSeconds,
      rps: loadRes ? loadRes.requests / loadRes.seconds : null, sent: loadRes?.requests ?? null, max_seconds: j.maxSeconds, load_errors: loadRes?.errors ?? null,
      route_counts: loadRes ? Object.fromEntries(Object.entries(loadRes.routes).map(([k, v]) => [k, v.count])) : null,
      p99: loadRes ? Object.fromEntries(Object.entries(loadRes.routes).map(([k, v]) => [k, v.latency_ms.p99])) : null,
      end_heap_mb: end ? +(end.heapUsed / 1048576).toFixed(1) : null, end_gc_ms: end?.gc_ms ?? null,
      memory: mem ? { health: mem.health, extra: Object.fromEntries(Object.entries(mem).filter(([k]) => !['workers', 'health'].includes(k))) } : null,
      polls };
    if (loadCode !== 0) run.error = `load exited ${loadCode}: ${loadOut.slice(-200).replace(/\s+/g, ' ')}`;
    if (appP.exited) run.error = `the app exited during the run (${appP.exitInfo}): ${appP.buf.stderr.slice(-300)}`;
    return run;
  } finally {
    for (const p of procs.reverse()) await stop(p);
    for (const [p, n] of [[lpP, 'leakproxy'], [appP, 'app']]) {
      if (p?.buf) fs.writeFileSync(path.join(dir, `${n}.log`), (p.buf.stdout || '') + (p.buf.stderr || ''));
    }
    process.stderr.write(`# ${j.scenario} ${j.regime} ${j.mode} seed ${j.seed}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
}

// One poll: [seconds, requests so far, {route: [verdict, metric, requests, heap [...], rss [...], external [...]]}]
// each estimate [bytes_per_request, low, high, verdict, requests] (bench/attribution.mjs's format).
function compactPoll(j, t) {
  let n = 0;
  const r = {};
  for (const x of j.routes || []) {
    n += x.requests || 0;
    const row = [x.verdict || null, x.verdict_metric || null, x.requests];
    for (const m of METRICS) {
      const e = x.estimate?.[m];
      row.push(e ? [e.bytes_per_request, e.low, e.high, e.verdict, e.requests] : null);
    }
    r[x.name] = row;
  }
  return [t, n, r];
}

// ---- analysis -------------------------------------------------------------------------------------------
function analyze(run) {
  const out = {};
  const P = run.polls;
  if (!P.length) return out;
  const last = P[P.length - 1];
  for (const name of Object.keys(last[2])) {
    if (name === '_other') continue;
    const v = P.map((p) => p[2][name]?.[0] ?? null);
    let first = null, firstDetail = null, everMetric = null;
    for (let i = 0; i < P.length; i++) {
      if (v[i] !== 'leaking') continue;
      if (first === null) {
        first = P[i][1];
        const x = P[i][2][name], e = x[3 + METRICS.indexOf(x[1])];
        if (e) firstDetail = `${SHORT[x[1]]} ${kb(e[0])} [${kb(e[1])}, ${kb(e[2])}] KB`;
        everMetric = x[1];
      }
    }
    // settled: the request count from which the final verdict held to the end
    let s = P.length - 1;
    while (s > 0 && v[s - 1] === v[P.length - 1]) s--;
    const est = {};
    for (let m = 0; m < 3; m++) {
      const e = last[2][name][3 + m];
      if (e) est[SHORT[METRICS[m]]] = { b: e[0], lo: e[1], hi: e[2], v: e[3] };
    }
    const seq = [];
    for (let i = 0; i < P.length; i++) if (i === 0 || v[i] !== v[i - 1]) seq.push(`${v[i]}@${P[i][1]}`);
    out[name] = { verdict: last[2][name][0], metric: last[2][name][1], est, first_leaking: first, first_detail: firstDetail,
      ever_metric: everMetric, ever_leaking: first !== null, settled_at: P[s][1],
      stayed_leaking: first !== null && v.slice(v.indexOf('leaking')).every((x) => x === 'leaking'),
      transitions: seq.slice(0, 30).join(' ') };
  }
  return out;
}

const kb = (b, d = 1) => (b === null || b === undefined || !Number.isFinite(b) ? '–' : (b / KB).toFixed(d));
const median = (a) => { const s = a.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((x, y) => x - y);
  if (!s.length) return null; return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const counts = (a) => { const c = {}; for (const x of a) c[x] = (c[x] || 0) + 1;
  return Object.entries(c).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(', '); };
const fmtN = (x) => (x === null || x === undefined || !Number.isFinite(x) ? 'never' : String(Math.round(x)));
const metricOf = (t) => (t.metric === 'external' ? 'ext' : 'heap');
const truthBytes = (t) => (t.kind !== 'leak' ? 0 : t.metric === 'external' ? t.external_per_req : t.heap_per_req);
// the deadline a leak must be found by: >= 100 KB/request within 2,000 mixed requests, >= 20 KB within 6,000
const deadline = (t) => (truthBytes(t) >= 100 * 1000 ? 2000 : truthBytes(t) >= 20 * 1000 ? 6000 : Infinity);

function table(sc, runs) {
  const rows = ['| route | kind | share | truth KB/req | estimate KB/req: median (min…max) | within ±15 % | final verdict | first `leaking` at: median (max), seeds | `leaking` for good by the deadline | ever `leaking` |',
    '|---|---|--:|--:|--:|--:|---|--:|--:|--:|'];
  const A = runs.map((r) => r.analysis);
  for (const r of sc.routes) {
    const t = runs[0].truth[r.name];
    const isLeak = r.kind === 'leak';
    const m = isLeak ? metricOf(t) : 'heap';
    const T = median(runs.map((x) => truthBytes(x.truth[r.name])));
    const ests = A.map((a) => a[r.name]?.est?.[m]?.b ?? null);
    const es = ests.filter((x) => x !== null);
    let within = 0;
    runs.forEach((x, i) => { const tb = truthBytes(x.truth[r.name]); if (ests[i] !== null && tb && Math.abs(ests[i] - tb) <= 0.15 * tb) within++; });
    const first = A.map((a) => a[r.name]?.first_leaking ?? null);
    const f = first.filter((x) => x !== null);
    const dl = deadline(t);
    const good = A.filter((a) => a[r.name]?.verdict === 'leaking' && a[r.name].settled_at <= dl).length;
    const ever = A.filter((a) => a[r.name]?.ever_leaking).length;
    rows.push(`| ${r.name} | ${r.kind} | ${r.share} % | ${isLeak ? kb(T) : '0'}${isLeak && m !== 'heap' ? ` (${m})` : ''} | ` +
      `${es.length ? `${kb(median(es))} (${kb(Math.min(...es))}…${kb(Math.max(...es))})` : '–'} | ` +
      `${isLeak ? `${within}/${runs.length}` : '–'} | ${counts(A.map((a) => a[r.name]?.verdict ?? 'absent'))} | ` +
      `${f.length ? `${fmtN(median(f))} (${Math.max(...f)}), ${f.length}/${runs.length}` : `never, 0/${runs.length}`} | ` +
      `${isLeak ? `${good}/${runs.length} (by ${dl === Infinity ? 'the end' : dl})` : '–'} | ` +
      `${isLeak ? `${ever}/${runs.length}` : ever ? `**${ever}/${runs.length}**` : `0/${runs.length}`} |`);
  }
  return rows.join('\n');
}

function summary(sc, runs) {
  const A = runs.map((r) => r.analysis);
  const L = [];
  const fps = [];
  const leakMiss = [], estMiss = [], notReached = [];
  for (const r of sc.routes) {
    if (r.kind !== 'leak') {
      for (const [i, a] of A.entries()) {
        const x = a[r.name];
        if (x?.ever_leaking) fps.push(`${r.name} (${r.kind}) seed ${runs[i].seed}: first \`leaking\` at ${x.first_leaking} on ${x.first_detail}; final ${x.verdict}; ${x.transitions}`);
      }
      continue;
    }
    for (const [i, a] of A.entries()) {
      const x = a[r.name], t = runs[i].truth[r.name], tb = truthBytes(t), dl = deadline(t);
      const seen = runs[i].polls.at(-1)?.[1] ?? 0;
      if (!(x?.verdict === 'leaking' && x.settled_at <= dl)) {
        if (seen < dl && dl !== Infinity && x?.verdict !== 'leaking') notReached.push(`${r.name} seed ${runs[i].seed} (run ended at ${seen} requests, before ${dl}; ${x ? `first ${fmtN(x.first_leaking)}, final ${x.verdict}` : 'absent'})`);
        else leakMiss.push(`${r.name} seed ${runs[i].seed} (${x ? `first ${fmtN(x.first_leaking)}, settled ${x.verdict}@${x.settled_at}` : 'absent'})`);
      }
      const e = x?.est?.[metricOf(t)]?.b;
      if (!(e !== undefined && Math.abs(e - tb) <= 0.15 * tb)) estMiss.push(`${r.name} seed ${runs[i].seed}: ${kb(e)} vs ${kb(tb)} KB (${e !== undefined ? `${((e / tb - 1) * 100).toFixed(0)} %` : '–'})`);
    }
  }
  L.push(`- Leaks \`leaking\` for good by their deadline (≥ 100 KB: 2,000; ≥ 20 KB: 6,000 mixed requests): ${leakMiss.length ? `**missed** in ${leakMiss.length} route-seeds: ${leakMiss.join('; ')}` : '**met**'}.`);
  if (notReached.length) L.push(`- Not testable (the run ended before the deadline, the leak not yet \`leaking\`): ${notReached.join('; ')}.`);
  L.push(`- Final estimates within ±15 %: ${estMiss.length ? `**missed** in ${estMiss.length} route-seeds: ${estMiss.join('; ')}` : '**met**'}.`);
  L.push(`- Healthy, cache, warm-up and static routes never \`leaking\`: ${fps.length ? `**missed**, ${fps.length} false positive(s): ${fps.join('; ')}` : '**met** (0 false positives)'}.`);
  return { text: L.join('\n'), fps: fps.length, leakMiss: leakMiss.length, estMiss: estMiss.length, notReached: notReached.length };
}

function render(meta, results, work) {
  const md = [];
  md.push(`Command: \`bench/synth.sh ${meta.argv}\` — ${meta.date.slice(0, 10)}, ${(meta.seconds / 60).toFixed(1)} min, leakproxy sha256 ${meta.leakproxy_sha256} ` +
    `(HEAD ${meta.git_head}), Node ${meta.node}, ${meta.cpus} CPUs (load average at start ${meta.loadavg_start}, at end ${meta.loadavg_end}). ` +
    `Memory block: \`{"source":"http","url":".../__mem","gc_url":".../__mem?gc=1"${opt.memory ? ',' + JSON.stringify(opt.memory).slice(1, -1) : ''}}\`, everything else default. Load: \`demo/load.mjs --mix <scenario> -c ${opt.conc}\` ` +
    `(full speed) or \`--rate ${opt.rate} -c ${opt.conc}\`; \`/api/routes\` polled every ${opt.poll} ms; "at N" = mixed requests the proxy had counted at that poll. ` +
    `Truth: each leak's bytes per request measured on the app's V8 heap at start (bench/synth/app.mjs).`);
  let fpTotal = 0, leakMissT = 0, estMissT = 0, notReachedT = 0, nMem = 0;
  const thr = [];
  for (const s of scenNames) {
    const sc = SCEN[s];
    for (const reg of opt.regimes) {
      const runs = results.filter((r) => r.scenario === s && r.regime === reg && r.mode === 'mem' && !r.error && r.polls.length).sort((a, b) => a.seed - b.seed);
      const failed = results.filter((r) => r.scenario === s && r.regime === reg && r.mode === 'mem' && (r.error || !r.polls.length));
      if (!runs.length && !failed.length) continue;
      md.push(`\n#### ${s}, ${reg === 'full' ? `full speed (closed loop, concurrency ${opt.conc})` : `${opt.rate} requests/s`} — ${sc.title}\n`);
      if (failed.length) md.push(`Failed runs: ${failed.map((r) => `seed ${r.seed}: ${r.error}`).join('; ')}\n`);
      if (!runs.length) continue;
      nMem += runs.length;
      const rps = runs.map((r) => r.rps);
      md.push(`${runs.length} seeds (${runs.map((r) => r.seed).join(', ')}), ${runs[0].requests} requests or ${runs[0].max_seconds} s, whichever first: requests sent ${runs.map((r) => r.sent).join(', ')}; requests/s median ${median(rps).toFixed(0)} (${Math.min(...rps).toFixed(0)}…${Math.max(...rps).toFixed(0)}); ` +
        `run ${median(runs.map((r) => r.seconds)).toFixed(0)} s median; heap at the end ${median(runs.map((r) => r.end_heap_mb)).toFixed(0)} MB (full GC there ${median(runs.map((r) => r.end_gc_ms)).toFixed(0)} ms)` +
        `${runs[0].base ? `; base heap ${runs[0].base.mb} MB (full GC at start ${runs[0].base.gc_ms} ms)` : ''}; forced-GC duty at the end ${median(runs.map((r) => +(r.memory?.extra?.gc?.duty ?? NaN)))?.toFixed(2) ?? '–'}.\n`);
      md.push(table(sc, runs));
      const S = summary(sc, runs);
      fpTotal += S.fps; leakMissT += S.leakMiss; estMissT += S.estMiss; notReachedT += S.notReached;
      md.push('\n' + S.text);
      if (reg === 'full') {
        const plain = results.filter((r) => r.scenario === s && r.regime === 'full' && r.mode === 'plain' && !r.error);
        if (plain.length) {
          const seeds = new Set(plain.map((r) => r.seed));
          const memSame = runs.filter((r) => seeds.has(r.seed));
          const ratio = median(memSame.map((r) => r.rps)) / median(plain.map((r) => r.rps));
          thr.push([s, median(plain.map((r) => r.rps)), median(memSame.map((r) => r.rps)), ratio, plain.length]);
          md.push(`- Throughput: ${median(memSame.map((r) => r.rps)).toFixed(0)} requests/s with the memory source vs ${median(plain.map((r) => r.rps)).toFixed(0)} without ` +
            `(median of seeds ${[...seeds].sort((a, b) => a - b).join(', ')}): ratio **${ratio.toFixed(2)}**.`);
        }
      }
    }
  }
  md.push(`\n#### Totals\n`);
  md.push(`- ${nMem} runs with the memory source; false positives (a healthy, cache, warm-up or static route ever \`leaking\`): **${fpTotal}**; ` +
    `leak route-seeds not \`leaking\` for good by the deadline: ${leakMissT} (and ${notReachedT} whose run ended before the deadline); estimates off by more than 15 %: ${estMissT}.`);
  if (thr.length) {
    md.push('\n| scenario | requests/s plain proxy | requests/s with memory source | ratio | seeds |\n|---|--:|--:|--:|--:|');
    for (const [s, p, m, r, n] of thr) md.push(`| ${s} | ${p.toFixed(0)} | ${m.toFixed(0)} | ${r.toFixed(2)} | ${n} |`);
  }
  md.push('\nPer run:\n');
  md.push('| scenario | regime | mode | seed | requests sent | s | requests/s | end heap MB | memory reads / errors | rows (requests per row) | GC duty (last GC ms) | last memory error |\n|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|');
  for (const r of [...results].sort((a, b) => (a.scenario + a.regime + a.mode).localeCompare(b.scenario + b.regime + b.mode) || a.seed - b.seed)) {
    const h = r.memory?.health || {}, g = r.memory?.extra?.gc || {};
    md.push(`| ${r.scenario} | ${r.regime} | ${r.mode} | ${r.seed} | ${r.sent ?? '–'} | ${(r.seconds ?? 0).toFixed(0)} | ${r.rps ? r.rps.toFixed(0) : '–'} | ${r.end_heap_mb ?? '–'} | ` +
      `${h.reads ?? '–'} / ${h.errors ?? '–'} | ${r.memory?.extra?.rows !== undefined ? `${r.memory.extra.rows} (${r.sent && r.memory.extra.rows ? (r.sent / r.memory.extra.rows).toFixed(0) : '–'})` : '–'} | ` +
      `${g.duty !== undefined ? `${(+g.duty).toFixed(2)} (${(+g.last_ms).toFixed(0)})` : '–'} | ${(r.error || h.last_error || '').replace(/http:\/\/127\.0\.0\.1:\d+/, '').slice(0, 80)} |`);
  }
  const text = md.join('\n') + '\n';
  const mdFile = opt.md || path.join(work, 'synth.md');
  fs.writeFileSync(mdFile, text);
  const jsonFile = opt.json || path.join(work, 'synth.json');
  fs.writeFileSync(jsonFile, JSON.stringify({ meta, runs: results.map((r) => ({ ...r, polls: undefined, last_poll: r.polls?.at(-1) })) }, null, 1));
  const traces = path.join(work, 'synth-traces.json');
  fs.writeFileSync(traces, JSON.stringify({ meta, opt, runs: results }));
  process.stdout.write(text);
  process.stderr.write(`# markdown ${mdFile}\n# per-run results ${jsonFile}\n# every poll ${traces}\n`);
}

async function main() {
  const lpSrc = process.env.LEAKPROXY || path.join(ROOT, 'leakproxy');
  if (!fs.existsSync(lpSrc)) throw new Error(`${lpSrc} missing: run make first`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'synthbench-'));
  const lpBin = path.join(work, 'proxy.bin');   // a private copy: others rebuild ./leakproxy meanwhile
  fs.copyFileSync(lpSrc, lpBin);
  fs.chmodSync(lpBin, 0o755);
  const git = (a) => spawnSync('git', ['-C', ROOT, ...a], { encoding: 'utf8' }).stdout.trim();
  const meta = { date: new Date().toISOString(), node: process.version,
    leakproxy_sha256: createHash('sha256').update(fs.readFileSync(lpBin)).digest('hex').slice(0, 12),
    git_head: git(['rev-parse', '--short', 'HEAD']), cpus: os.cpus().length,
    loadavg_start: os.loadavg().map((x) => x.toFixed(1)).join(' '),
    argv: process.argv.slice(2).map((a) => (/[\s"{]/.test(a) ? `'${a}'` : a)).join(' ') };
  process.stderr.write(`# work dir ${work}; leakproxy ${meta.leakproxy_sha256}, HEAD ${meta.git_head}\n`);
  const jobs = [];
  for (const s of scenNames) {
    const n = opt.requests ?? SCEN[s].requests;
    for (const reg of opt.regimes) {
      const k = reg === 'full' ? opt.seeds : opt.rateSeeds;
      const maxSeconds = opt.maxSeconds ?? SCEN[s].max_seconds ?? 90;
      for (let seed = opt.firstSeed; seed < opt.firstSeed + k; seed++) jobs.push({ scenario: s, regime: reg, mode: 'mem', seed, n, maxSeconds });
      if (reg === 'full') for (let seed = opt.firstSeed; seed < opt.firstSeed + Math.min(k, opt.plainSeeds); seed++) jobs.push({ scenario: s, regime: reg, mode: 'plain', seed, n, maxSeconds });
    }
  }
  process.stderr.write(`# ${jobs.length} runs, one at a time\n`);
  const results = [];
  const t0 = Date.now();
  for (const j of jobs) {
    let run;
    for (let attempt = 0; attempt < 2; attempt++) {
      try { run = await oneRun(work, lpBin, j); } catch (e) { run = { ...j, requests: j.n, error: String(e.message || e), polls: [] }; }
      if (!run.error) break;
      process.stderr.write(`# ${j.scenario} ${j.regime} ${j.mode} seed ${j.seed}: FAILED (${attempt ? 'giving up' : 'retrying'}): ${run.error}\n`);
    }
    run.analysis = analyze(run);
    results.push(run);
    // every poll so far (re-render a cut-short sweep with --from)
    fs.writeFileSync(path.join(work, 'synth-traces.json'), JSON.stringify({ meta: { ...meta, seconds: (Date.now() - t0) / 1000,
      loadavg_end: os.loadavg().map((x) => x.toFixed(1)).join(' ') }, opt, runs: results }));
  }
  meta.seconds = (Date.now() - t0) / 1000;
  meta.loadavg_end = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  render(meta, results, work);
}

function rerender() {
  const j = JSON.parse(fs.readFileSync(opt.from, 'utf8'));
  Object.assign(opt, { ...j.opt, md: opt.md, json: opt.json });
  scenNames.splice(0, scenNames.length, ...(j.opt.scenarios || Object.keys(SCEN)));
  for (const r of j.runs) r.analysis = analyze(r);
  render(j.meta, j.runs, fs.mkdtempSync(path.join(os.tmpdir(), 'synthbench-render-')));
}

(opt.from ? Promise.resolve().then(rerender) : main()).catch((e) => { console.error(e); killAll(); process.exit(1); });
