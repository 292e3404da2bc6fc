#!/usr/bin/env node
// bench/probe.mjs -- the probe's accuracy (POST /api/probe) on the demo apps under live traffic,
// with the attribution engine blind. Node built-ins only. Run through bench/probe.sh (which checks
// the prerequisites and runs it niced).
//
// Target: "Probe under full-speed live traffic, with attribution still blind: leaking route within
// ±10 % of its truth, a healthy route below 4 KB/request." For each app x regime x seed x route, one
// at a time: a fresh demo app (node --expose-gc demo/<app>/server.js), a fresh leakproxy in front of
// it (demo/<app>/leakproxy.json, the forced-GC http memory source paced as in the tests, and
// attribution.confirm_requests 1e8 so the engine never names a route `leaking`), the app's whole
// seeded mix through the proxy (demo/load.mjs --seed S -c 8, --rate 0 = full speed or --rate 150),
// then, once the route has 32 requests captured (and at least --warm-seconds), one probe of the
// route while the load goes on: {"route", "requests": 200, "block": 25, "concurrency": 2}; the
// data-dependent vue route `live` is probed with "split": "param:id" and 750 requests (odd ids
// leak, even ids do not). Truth: demo/<app>/truth.json (steady heap bytes per request).
//
//   node bench/probe.mjs [--apps vue,react] [--regimes full,rate] [--seeds 5] [--first-seed 1]
//        [--routes news,about,...] [--requests 200] [--block 25] [--conc 2] [--load-conc 8]
//        [--rate 150] [--warm-seconds 3] [--md FILE] [--json FILE]
//   node bench/probe.mjs --from RAW.json [--md FILE]      (re-renders a previous run's report)
// About 8 s per probe (app start, warm-up, probe) on a loaded 2-core machine: the default matrix
// (2 apps x 2 regimes x 4 routes x 5 seeds = 80 probes) takes about 11 minutes, --seeds 10 about 21.
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

// ---- the cases ------------------------------------------------------------------------------------
// kind "leak": within ±10 % of truth; "healthy": |estimate| below 4 KB. A split case's groups are
// scored by the value's variant (vue live: odd id leaks, even id does not).
const CASES = {
  vue: [
    { route: 'news', kind: 'leak' },
    { route: 'live', kind: 'split', split: 'param:id', requests: 750,
      variant: (v) => (Number(v) % 2 === 1 ? ['odd id', 'leak'] : ['even id', 'healthy']) },
    { route: 'about', kind: 'healthy' },
    { route: 'home', kind: 'healthy' },
  ],
  react: [
    { route: 'item', kind: 'leak' },
    { route: 'beacon', kind: 'leak' },
    { route: 'home', kind: 'healthy' },
    { route: 'detail', kind: 'healthy' },
  ],
};

// ---- options --------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = { apps: ['vue', 'react'], regimes: ['full', 'rate'], seeds: 5, firstSeed: 1, routes: null, requests: 200,
  block: 25, conc: 2, loadConc: 8, rate: 150, warmSeconds: 3, md: null, json: null, from: null };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i], v = () => argv[++i];
  if (a === '--apps') opt.apps = v().split(',');
  else if (a === '--regimes') opt.regimes = v().split(',');
  else if (a === '--seeds') opt.seeds = +v();
  else if (a === '--first-seed') opt.firstSeed = +v();
  else if (a === '--routes') opt.routes = v().split(',');
  else if (a === '--requests') opt.requests = +v();
  else if (a === '--block') opt.block = +v();
  else if (a === '--conc') opt.conc = +v();
  else if (a === '--load-conc') opt.loadConc = +v();
  else if (a === '--rate') opt.rate = +v();
  else if (a === '--warm-seconds') opt.warmSeconds = +v();
  else if (a === '--md') opt.md = v();
  else if (a === '--json') opt.json = v();
  else if (a === '--from') opt.from = v();
  else if (a === '-h' || a === '--help') {
    console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 22).join('\n'));
    process.exit(0);
  } else { console.error(`unknown option ${a}`); process.exit(2); }
}
for (const a of opt.apps) if (!CASES[a]) { console.error(`unknown app ${a}`); process.exit(2); }
for (const r of opt.regimes) if (!['full', 'rate'].includes(r)) { console.error(`unknown regime ${r}`); process.exit(2); }

function truthOf(app, route, variant = null) {
  const t = JSON.parse(fs.readFileSync(path.join(ROOT, 'demo', app, 'truth.json'), 'utf8'));
  const r = t.routes.find((x) => x.route === route && (x.variant ?? null) === variant);
  if (!r) throw new Error(`no ${route}${variant ? ` (${variant})` : ''} in demo/${app}/truth.json`);
  return r.measured.steady.heap_per_req;
}

// ---- processes: bench/procs.mjs (own process groups, killed on exit) -------------------------
function call(port, method, p, body, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, path: p, method, timeout,
      headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => { let j = null; try { j = JSON.parse(b); } catch { /* not JSON */ } resolve({ status: res.statusCode, json: j, text: b }); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}
const getJson = async (port, p, timeout) => (await call(port, 'GET', p, undefined, timeout)).json;
// Neutral names in the work dir: someone else's broad `pkill -f load.mjs` must not end our runs.
function entry(work, rel, name) {
  const link = path.join(work, name);
  if (!fs.existsSync(link)) fs.symlinkSync(path.join(ROOT, rel), link);
  return link;
}
const load1 = () => +os.loadavg()[0].toFixed(2);

// ---- one probe ------------------------------------------------------------------------------------------
async function routesByName(adminPort) {
  const j = await getJson(adminPort, '/api/routes');
  return Object.fromEntries((j.routes || []).map((r) => [r.name, r]));
}
const sumOf = (rs, f) => Object.values(rs).reduce((s, r) => s + (f(r) || 0), 0);

async function oneRun(work, lpBin, j) {
  const c = CASES[j.app].find((x) => x.route === j.route);
  const dir = fs.mkdtempSync(path.join(work, `${j.app}-${j.regime}-${j.route}-${j.seed}-`));
  const procs = [];
  const t0 = Date.now();
  const run = { app: j.app, regime: j.regime, route: j.route, seed: j.seed, kind: c.kind, split: c.split || null,
    loadavg_start: load1() };
  let appP = null, lpP = null, load = null;
  try {
    // the app: demo/<app>/server.js under a neutral name (node resolves the symlink for imports)
    appP = start(process.execPath, ['--expose-gc', entry(work, `demo/${j.app}/server.js`, `probebench-${j.app}.js`)],
      { cwd: path.join(ROOT, 'demo', j.app), env: { ...process.env, PORT: '0', HOST: '127.0.0.1' } });
    procs.push(appP);
    collect(appP, 'stdout');
    collect(appP, 'stderr');
    const upPort = +(await waitFor(appP, 'stdout', /listening on 127\.0\.0\.1:(\d+)/, 60000, `demo/${j.app}`))[1];
    const base = `http://127.0.0.1:${upPort}`;
    const conf = { ...JSON.parse(fs.readFileSync(path.join(ROOT, 'demo', j.app, 'leakproxy.json'), 'utf8')),
      upstream: base, listen: '127.0.0.1:0', admin: '127.0.0.1:0', access_log: null,
      memory: { source: 'http', url: `${base}/__mem`, gc_url: `${base}/__mem?gc=1`, interval_ms: 100,
        gc_interval_ms: 100, max_gc_duty: 0.1, quiesce_ms: 50 },
      attribution: { confirm_requests: 100000000 } };
    fs.writeFileSync(path.join(dir, 'proxy.json'), JSON.stringify(conf, null, 1));
    lpP = start(lpBin, ['-c', path.join(dir, 'proxy.json')], { cwd: dir });
    procs.push(lpP);
    collect(lpP, 'stdout');
    collect(lpP, 'stderr');
    const proxyPort = +(await waitFor(lpP, 'stderr', /proxy listening on 127\.0\.0\.1:(\d+)/, 10000, 'leakproxy'))[1];
    const adminPort = +(await waitFor(lpP, 'stderr', /admin listening on 127\.0\.0\.1:(\d+)/, 10000, 'leakproxy'))[1];

    const largs = ['--preserve-symlinks-main', entry(work, 'demo/load.mjs', 'probebench-driver.mjs'),
      '--mix', path.join(ROOT, 'demo', j.app, 'routes.json'),
      '--target', `http://127.0.0.1:${proxyPort}`, '--seed', String(j.seed), '-c', String(opt.loadConc),
      '--duration', '600', '--quiet', '--rate', j.regime === 'full' ? '0' : String(opt.rate)];
    load = start(process.execPath, largs, { cwd: ROOT });
    procs.push(load);
    collect(load, 'stdout');
    collect(load, 'stderr');

    // warm: the route has a full capture ring (32) and the load ran --warm-seconds
    const tw = Date.now();
    let rs;
    for (;;) {
      await sleep(250);
      if (load.exited) throw new Error(`load exited: ${load.buf.stderr.slice(-300)}`);
      rs = await routesByName(adminPort);
      const n = rs[j.route]?.requests ?? 0;
      if (n >= 32 && Date.now() - tw >= opt.warmSeconds * 1000) break;
      if (Date.now() - tw > 60000) throw new Error(`route ${j.route}: ${n} requests after 60 s of load`);
    }
    run.warm_seconds = +((Date.now() - tw) / 1000).toFixed(1);
    run.warm_requests = sumOf(rs, (r) => r.requests);
    run.route_requests_before = rs[j.route].requests;
    run.engine_before = rs[j.route].verdict ?? null;
    const held0 = sumOf(rs, (r) => r.held?.requests), req0 = sumOf(rs, (r) => r.requests);
    run.loadavg_probe = load1();

    const body = { route: j.route, requests: c.requests ?? opt.requests, block: opt.block, concurrency: opt.conc,
      ...(c.split ? { split: c.split } : {}) };
    run.body = body;
    const tp = Date.now();
    const s = await call(adminPort, 'POST', '/api/probe', body);
    if (s.status !== 200) throw new Error(`POST /api/probe ${JSON.stringify(body)}: ${s.status} ${s.text.slice(0, 300)}`);
    let pj;
    for (;;) {
      await sleep(250);
      pj = await getJson(adminPort, '/api/probe', 10000).catch(() => null);
      if (pj && pj.state !== 'running') break;
      if (appP.exited) throw new Error(`the app exited during the probe (${appP.exitInfo}): ${appP.buf.stderr.slice(-300)}`);
      if (Date.now() - tp > 240000) {
        await call(adminPort, 'DELETE', '/api/probe').catch(() => null);
        throw new Error(`probe still running after 240 s: ${JSON.stringify(pj).slice(0, 600)}`);
      }
    }
    const wall = (Date.now() - tp) / 1000;
    rs = await routesByName(adminPort);
    const mem = await getJson(adminPort, '/api/memory?points=0').catch(() => null);
    const leakingRoutes = Object.values(rs).filter((r) => r.verdict === 'leaking').map((r) => r.name);
    Object.assign(run, {
      state: pj.state, message: pj.message || null, summary: pj.summary || null,
      requests: pj.requests, block: pj.block, concurrency: pj.concurrency,
      probe_seconds: pj.finished_ms && pj.started_ms ? (pj.finished_ms - pj.started_ms) / 1000 : wall,
      live_during_blocks: pj.live_requests_during_probe, live_not_estimated: pj.live_requests_not_estimated,
      held_during_probe: sumOf(rs, (r) => r.held?.requests) - held0,
      live_requests_during_probe_wall: sumOf(rs, (r) => r.requests) - req0,
      live_rps: +((sumOf(rs, (r) => r.requests) - req0) / wall).toFixed(1),
      engine_after: rs[j.route]?.verdict ?? null, engine_leaking_routes: leakingRoutes,
      gc: mem?.gc ? { last_ms: mem.gc.last_ms, duty: mem.gc.duty } : null,
      memory_errors: mem?.health?.errors ?? null,
      heap_mb: mem?.workers?.[0]?.heap_used ? +(mem.workers[0].heap_used / 1048576).toFixed(0) : null,
      groups: (pj.groups || []).map((g) => ({ value: g.value, captured: g.captured, verdict: g.verdict ?? null,
        est: g.bytes_per_request ?? null, low: g.low ?? null, high: g.high ?? null,
        first: g.first_block_bytes_per_request ?? null, blocks: g.blocks_bytes_per_request, errors: g.errors })),
    });
    for (const g of run.groups) {
      const [variant, gk] = c.variant ? c.variant(g.value) : [null, c.kind];
      g.variant = variant;
      g.kind = gk;
      g.truth = truthOf(j.app, j.route, variant);
    }
    run.loadavg_end = load1();
    if (appP.exited) run.error = `the app exited during the run (${appP.exitInfo}): ${appP.buf.stderr.slice(-300)}`;
    return run;
  } catch (e) {
    run.error = String(e.message || e).replace(/\s+/g, ' ').trim();
    return run;
  } finally {
    for (const p of procs.reverse()) await stop(p);
    for (const [p, n] of [[lpP, 'leakproxy'], [appP, 'app'], [load, 'load']]) {
      if (p?.buf) fs.writeFileSync(path.join(dir, `${n}.log`), (p.buf.stdout || '') + (p.buf.stderr || ''));
    }
    const g = run.groups?.map((x) => `${x.value ? `${x.value}:` : ''}${x.verdict} ${kb(x.est)}`).join(', ');
    process.stderr.write(`# ${j.app} ${j.regime} ${j.route} seed ${j.seed}: ${((Date.now() - t0) / 1000).toFixed(0)} s, ` +
      `${run.error ? `ERROR ${run.error}` : `${run.state} ${g} KB/req, probe ${run.probe_seconds?.toFixed(1)} s, live ${run.live_rps}/s`} (load ${run.loadavg_start})\n`);
  }
}

// ---- report -----------------------------------------------------------------------------------------------
const kb = (b, d = 1) => (b === null || b === undefined || !Number.isFinite(b) ? '–' : (b / KB).toFixed(d));
const median = (a) => { const s = a.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((x, y) => x - y);
  if (!s.length) return null; return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const counts = (a) => { const c = {}; for (const x of a) c[x] = (c[x] || 0) + 1;
  return Object.entries(c).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(', '); };
const rng = (a, f = (x) => x, d = 0) => { const s = a.filter((x) => x !== null && x !== undefined && Number.isFinite(x));
  return s.length ? `${f(median(s)).toFixed(d)} (${f(Math.min(...s)).toFixed(d)}…${f(Math.max(...s)).toFixed(d)})` : '–'; };
const ok = (g) => g.est !== null && (g.kind === 'leak' ? Math.abs(g.est - g.truth) <= 0.10 * g.truth : Math.abs(g.est) < 4 * KB);

// rows: one per (app, regime, route[, variant]); each sample a group of a probe
function rows(results) {
  const out = [];
  for (const app of opt.apps) {
    for (const reg of opt.regimes) {
      for (const c of CASES[app]) {
        if (opt.routes && !opt.routes.includes(c.route)) continue;
        const runs = results.filter((r) => r.app === app && r.regime === reg && r.route === c.route);
        if (!runs.length) continue;
        const good = runs.filter((r) => !r.error && r.state === 'done');
        const variants = c.variant ? [['odd id', 'leak'], ['even id', 'healthy']] : [[null, c.kind]];
        for (const [variant, kind] of variants) {
          const gs = good.flatMap((r) => r.groups.filter((g) => g.variant === variant).map((g) => ({ ...g, run: r })));
          out.push({ app, regime: reg, route: c.route, variant, kind, runs, good, gs,
            truth: truthOf(app, c.route, variant) });
        }
      }
    }
  }
  return out;
}

function render(meta, results, work) {
  const md = [];
  const R = rows(results);
  md.push(`Command: \`bench/probe.sh ${meta.argv}\` — ${meta.date.slice(0, 10)}, ${(meta.seconds / 60).toFixed(1)} min, ` +
    `leakproxy sha256 ${meta.leakproxy_sha256} (HEAD ${meta.git_head}), Node ${meta.node}, ${meta.cpus} CPUs, everything under \`nice -n 5\` ` +
    `(1-minute load average at start ${meta.loadavg_start}, at end ${meta.loadavg_end}; per probe below). ` +
    `A fresh app and proxy per probe; memory source \`{"source":"http", "url":".../__mem", "gc_url":".../__mem?gc=1", "interval_ms":100, ` +
    `"gc_interval_ms":100, "max_gc_duty":0.1, "quiesce_ms":50}\`, \`"attribution": {"confirm_requests": 100000000}\` (blind); ` +
    `live load \`demo/load.mjs --app APP --seed S -c ${opt.loadConc}\` with \`--rate 0\` (full speed, closed loop) or \`--rate ${opt.rate}\`; ` +
    `the probe starts once the route has 32 requests and the load ran ≥ ${opt.warmSeconds} s: ` +
    `\`{"route", "requests": ${opt.requests}, "block": ${opt.block}, "concurrency": ${opt.conc}}\` ` +
    `(vue \`live\`: \`"split": "param:id", "requests": 750\`, each id value a group, scored by its parity). ` +
    `Truth: \`demo/<app>/truth.json\`, steady heap bytes per request. Pass: a leak within ±10 % of its truth, a healthy route |estimate| < 4 KB/request.`);
  md.push('');
  md.push('| app | regime | route | truth KB/req | probes (groups) | estimate KB/req: median (min…max) | pass | verdicts | probe s: median (max) | live req/s before the probe | live req/s during probe | live requests held (gate) | live requests in blocks | load avg (1 min) |');
  md.push('|---|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|');
  let passT = 0, nT = 0;
  const misses = [];
  for (const r of R) {
    const ests = r.gs.map((g) => g.est);
    const pass = r.gs.filter(ok).length;
    passT += pass; nT += r.gs.length;
    for (const g of r.gs.filter((x) => !ok(x))) {
      misses.push(`${r.app} ${r.regime} ${r.route}${r.variant ? ` (${r.variant}, id ${g.value})` : ''} seed ${g.run.seed}: ${kb(g.est)} KB/req ` +
        `[${kb(g.low)}, ${kb(g.high)}] ${g.verdict}${r.kind === 'leak' ? ` (${g.est !== null ? ((g.est / r.truth - 1) * 100).toFixed(0) : '–'} %)` : ''}, blocks ${JSON.stringify(g.blocks?.map((b) => +(b / KB).toFixed(1)))} KB`);
    }
    const P = r.good;
    const label = `${r.route}${r.variant ? ` (${r.variant}s)` : ''}`;
    md.push(`| ${r.app} | ${r.regime === 'full' ? 'full speed' : `${opt.rate}/s`} | ${label} | ${kb(r.truth)}${r.kind === 'healthy' ? ' (healthy)' : ''} | ` +
      `${P.length}${r.runs.length > P.length ? ` (+${r.runs.length - P.length} failed)` : ''}${r.variant ? ` (${r.gs.length})` : ''} | ` +
      `${rng(ests, (x) => x / KB, 1)} | **${pass}/${r.gs.length}** ${r.kind === 'leak' ? '±10 %' : '< 4 KB'} | ${counts(r.gs.map((g) => g.verdict))} | ` +
      `${P.length ? `${median(P.map((x) => x.probe_seconds)).toFixed(1)} (${Math.max(...P.map((x) => x.probe_seconds)).toFixed(1)})` : '–'} | ` +
      `${rng(P.map((x) => x.warm_requests / x.warm_seconds))} | ${rng(P.map((x) => x.live_rps))} | ${rng(P.map((x) => x.held_during_probe))} | ${rng(P.map((x) => x.live_during_blocks))} | ` +
      `${rng(P.map((x) => x.loadavg_probe), (x) => x, 1)} |`);
  }
  md.push('');
  md.push(`Total: ${passT}/${nT} probe groups pass. Engine verdict \`leaking\` on any route at any probe's end: ` +
    `${results.filter((r) => r.engine_leaking_routes?.length).length} of ${results.length} runs (blind: 0 expected).`);
  const failed = results.filter((r) => r.error || r.state !== 'done');
  if (failed.length) md.push(`\nFailed probes: ${failed.map((r) => `${r.app} ${r.regime} ${r.route} seed ${r.seed}: ${r.error || `${r.state}: ${r.message}`}`).join('; ')}.`);
  if (misses.length) md.push(`\nMisses:\n\n${misses.map((m) => `- ${m}`).join('\n')}`);
  const text = md.join('\n') + '\n';
  const mdFile = opt.md || path.join(work, 'probe.md');
  fs.writeFileSync(mdFile, text);
  const jsonFile = opt.json || path.join(work, 'probe.json');
  // one run per line: small and diffable
  fs.writeFileSync(jsonFile, `{"meta": ${JSON.stringify(meta)},\n "opt": ${JSON.stringify({ ...opt, md: undefined, json: undefined, from: undefined })},\n "runs": [\n` +
    results.map((r) => `  ${JSON.stringify(r)}`).join(',\n') + '\n ]}\n');
  process.stdout.write(text);
  process.stderr.write(`# markdown ${mdFile}\n# per-run results ${jsonFile}\n`);
}

async function main() {
  const lpSrc = process.env.LEAKPROXY || path.join(ROOT, 'leakproxy');
  if (!fs.existsSync(lpSrc)) throw new Error(`${lpSrc} missing: run make first`);
  for (const a of opt.apps) {
    if (!fs.existsSync(path.join(ROOT, 'demo', a, 'node_modules'))) throw new Error(`demo/${a}/node_modules missing (cd demo/${a} && npm ci)`);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'probebench-'));
  const lpBin = path.join(work, 'proxy.bin');   // a private copy: others rebuild ./leakproxy meanwhile
  fs.copyFileSync(lpSrc, lpBin);
  fs.chmodSync(lpBin, 0o755);
  const git = (a) => spawnSync('git', ['-C', ROOT, ...a], { encoding: 'utf8' }).stdout.trim();
  const meta = { date: new Date().toISOString(), node: process.version,
    leakproxy: lpSrc, leakproxy_sha256: createHash('sha256').update(fs.readFileSync(lpBin)).digest('hex').slice(0, 12),
    git_head: git(['rev-parse', '--short', 'HEAD']), cpus: os.cpus().length,
    loadavg_start: os.loadavg().map((x) => x.toFixed(1)).join(' '),
    argv: process.argv.slice(2).map((a) => (/[\s"{]/.test(a) ? `'${a}'` : a)).join(' ') };
  process.stderr.write(`# work dir ${work}; leakproxy ${meta.leakproxy_sha256}, HEAD ${meta.git_head}\n`);
  const jobs = [];
  for (const app of opt.apps) {
    for (const reg of opt.regimes) {
      for (let seed = opt.firstSeed; seed < opt.firstSeed + opt.seeds; seed++) {
        for (const c of CASES[app]) if (!opt.routes || opt.routes.includes(c.route)) jobs.push({ app, regime: reg, seed, route: c.route });
      }
    }
  }
  process.stderr.write(`# ${jobs.length} probes, one at a time\n`);
  const results = [];
  const t0 = Date.now();
  for (const j of jobs) {
    let run = await oneRun(work, lpBin, j);
    if (run.error) {
      process.stderr.write(`# ${j.app} ${j.regime} ${j.route} seed ${j.seed}: FAILED, retrying once: ${run.error}\n`);
      const again = await oneRun(work, lpBin, j);
      again.first_attempt_error = run.error;
      run = again;
    }
    results.push(run);
    // everything so far (re-render a cut-short sweep with --from)
    fs.writeFileSync(path.join(work, 'probe-partial.json'), JSON.stringify({ meta: { ...meta, seconds: (Date.now() - t0) / 1000,
      loadavg_end: os.loadavg().map((x) => x.toFixed(1)).join(' ') }, opt, runs: results }));
  }
  meta.seconds = (Date.now() - t0) / 1000;
  meta.loadavg_end = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  render(meta, results, work);
}

function rerender() {
  const j = JSON.parse(fs.readFileSync(opt.from, 'utf8'));
  Object.assign(opt, { ...j.opt, md: opt.md, json: opt.json, from: opt.from });
  render(j.meta, j.runs, fs.mkdtempSync(path.join(os.tmpdir(), 'probebench-render-')));
}

(opt.from ? Promise.resolve().then(rerender) : main()).catch((e) => { console.error(e); killAll(); process.exit(1); });
