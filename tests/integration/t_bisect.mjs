// Bisection: groups of routes switched to csr under live traffic,
// the memory slope compared round by round. On the Vue demo under a mixed
// load restricted to news, about, products and user (demo/load.mjs --only
// keeps those routes of demo/vue/routes.json with their weights: news 6,
// about 3, products 10, user 6), the result is exactly news, and every mode
// is back afterwards. With fakes: what is a candidate, the refusals, DELETE
// during a run, and SIGTERM during a run.

import {
  test, get, hdr, check, eq, sleep, note, pollUntil,
  startDemo, VUE_SHELL, adminCall, setMode, routesByName, demoMemory, demoProxyConfig, startFakeMemory, startLoad,
} from './lib.mjs';

const KB = 1024;
const modesOf = (routes) => Object.values(routes).map((r) => `${r.name}:${r.mode}/${r.mode_by}`).join(' ');
const roundLine = (r) => `#${r.round} ${r.kind} off [${r.off}] rows ${r.rows} ${r.growth_bytes_per_s !== undefined ? (r.growth_bytes_per_s / KB).toFixed(0) + ' KB/s' : ''} ${r.decision ?? r.state}`;

test('bisect: Vue demo under mixed load: leaking is exactly news, modes switched by bisect during rounds and restored after', async (ctx) => {
  const app = await startDemo(ctx, 'vue', {});
  // max_gc_duty 0.25 (0.1 in the staging example): news grows the heap by ~4.5 MB/s, a forced GC
  // of it soon takes 200-300 ms, and at 10 % duty that is one floor every 2-3 s, 2 or 3 rows in a
  // 6 s round; bisect then lengthens rounds and the run takes 36-60 s instead of ~36 s.
  const p = await ctx.proxy(demoProxyConfig(app, { fallback: { file: VUE_SHELL }, memory: demoMemory(app, { max_gc_duty: 0.25 }) }));
  const load = startLoad(ctx, ['--app', 'vue', '--target', `http://127.0.0.1:${p.port}`, '--rate', '80', '-c', '4',
    '--duration', '170', '--only', 'news,about,products,user']);
  const CAND = ['news', 'about', 'products', 'user'];
  await sleep(2000);
  check(!load.exited, `load driver exited early: ${JSON.stringify(load.exited)} ${load.output().stderr.slice(-300)}`);
  const t0 = Date.now();
  const s = await adminCall(p, 'POST', '/api/bisect', { routes: CAND, round_seconds: 6 });
  eq(s.status, 200, `POST /api/bisect: ${s.text}`);
  eq(s.json.state, 'running', 'state');
  eq([...s.json.candidates].sort().join(','), [...CAND].sort().join(','), 'candidates');
  eq(s.json.rounds[0]?.kind, 'baseline', 'first round');

  // watch: while a test round runs, the routes it switched off, and the leaks
  // found in earlier rounds (kept off), are csr by bisect, the others ssr
  let j, checkedRounds = new Set(), problems = [];
  await pollUntil(async () => {
    j = (await adminCall(p, 'GET', '/api/bisect')).json;
    if (j.state !== 'running') return true;
    const cur = j.rounds.at(-1);
    if (cur && cur.state === 'running') {
      const routes = await routesByName(p);
      const again = (await adminCall(p, 'GET', '/api/bisect')).json;
      if (again.rounds.length === j.rounds.length && again.state === 'running') {
        for (const n of CAND) {
          // a route found before a later find renders again until its re-check round
          const off = cur.off.includes(n) || ((again.leaking || []).includes(n) && !(again.rechecking || []).includes(n));
          const want = off ? 'csr/bisect' : 'ssr/config';
          const got = `${routes[n].mode}/${routes[n].mode_by}`;
          if (got !== want) problems.push(`round ${cur.round} (off [${cur.off}]): ${n} is ${got}, expected ${want}`);
        }
        checkedRounds.add(cur.round);
      }
    }
    return false;
  }, { timeout: 150000, interval: 700, what: 'the bisection to finish', describe: () => `${j.state}: ${j.rounds.map(roundLine).join(' | ')}` });
  const secs = (Date.now() - t0) / 1000;
  const after = await routesByName(p);
  await load.stop();
  for (const r of j.rounds) note(roundLine(r));
  note(`${j.state} in ${secs.toFixed(1)} s, ${j.rounds.length} rounds: leaking ${JSON.stringify(j.leaking)}; rounds watched ${[...checkedRounds]}`);
  eq(j.state, 'done', `bisect state (message ${JSON.stringify(j.message)}); rounds: ${j.rounds.map(roundLine).join(' | ')}`);
  eq(JSON.stringify(j.leaking), '["news"]', `leaking; rounds: ${j.rounds.map(roundLine).join(' | ')}`);
  check(problems.length === 0, `modes during rounds: ${problems.slice(0, 4).join('; ')}`);
  check(checkedRounds.size >= 2, `test rounds watched while running: ${[...checkedRounds]}`);
  for (const r of j.rounds) {
    check(['baseline', 'test'].includes(r.kind), `round kind ${r.kind}`);
    check(typeof r.decision === 'string' && r.decision.length > 5, `round ${r.round} has a decision: ${JSON.stringify(r)}`);
    if (r.kind === 'baseline') eq(r.off.length, 0, `baseline round ${r.round} switches nothing off`);
    else check(r.off.length >= 1 && r.off.every((n) => CAND.includes(n)), `test round ${r.round} off ${r.off}`);
  }
  const newsAlone = j.rounds.find((r) => r.kind === 'test' && r.off.length === 1 && r.off[0] === 'news');
  check(newsAlone && /leak/i.test(newsAlone.decision), `a round with news alone off decided leaking: ${newsAlone && roundLine(newsAlone)}`);
  // 6 with every decision right, 8 with news confirmed; a group left
  // undecided while news rendered is tested once more
  // ~10 on a quiet machine; a confirmation round per name and re-tests of undecided groups add a few
  // under load (the round counts are measured in bench/RESULTS.md, not here)
  // (18 under ASan on a loaded 2-core machine): the bound catches a runaway, not a slow run
  check(j.rounds.length <= 24, `${j.rounds.length} rounds for 4 candidates and one leak`);
  // modes restored, and every candidate was served in csr at some point
  for (const n of Object.keys(after)) {
    eq(after[n].mode, 'ssr', `${n} mode after the bisection`);
    check(after[n].mode_by !== 'bisect', `${n} mode_by after the bisection: ${after[n].mode_by}`);
  }
  for (const n of CAND) check(after[n].csr_requests > 0, `${n} was switched to csr by a round: csr_requests ${after[n].csr_requests}`);
  const st = await get(p.port, '/news/3');
  eq(hdr(st, 'x-leakproxy-mode'), undefined, '/news/3 rendered after the bisection');
}, { timeout: 170000 });

// ---------------------------------------------------------------------------

function fakeConfig(upPort, mem, extra = {}) {
  return {
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${upPort}`, admin: '127.0.0.1:0',
    fallback: { file: VUE_SHELL },
    routes: [
      { name: 'home', match: '/' }, { name: 'about', match: '/about' }, { name: 'news', match: '/news/:id' },
      { name: 'user', match: '/user/:name', never_csr: true }, { name: 'search', match: '/search' },
      { name: 'cfgcsr', match: '/old', mode: 'csr' },
    ],
    ...(mem ? { memory: mem } : {}), ...extra,
  };
}

test('bisect: refusals: no memory source 409, unknown route 404, bad body 400, no candidates 409, running 409', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p0 = await ctx.proxy(fakeConfig(up.port, null));
  let r = await adminCall(p0, 'POST', '/api/bisect', { routes: 'all', round_seconds: 2 });
  eq(r.status, 409, `without a memory source: ${r.text}`);
  check(/memory/.test(r.json?.error || ''), `409 names the memory source: ${r.text}`);
  const noFb = fakeConfig(up.port, { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100 });
  delete noFb.fallback;
  noFb.routes = noFb.routes.filter((x) => !x.mode);
  const p1 = await ctx.proxy(noFb);
  r = await adminCall(p1, 'POST', '/api/bisect', { routes: 'all', round_seconds: 2 });
  eq(r.status, 409, `no route has a fallback: ${r.text}`);

  const p = await ctx.proxy(fakeConfig(up.port, { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 }));
  eq((await adminCall(p, 'GET', '/api/bisect')).json.state, 'idle', 'GET /api/bisect before any bisection');
  r = await adminCall(p, 'POST', '/api/bisect', { routes: ['news', 'nosuch'], round_seconds: 2 });
  eq(r.status, 404, `an unknown route: ${r.text}`);
  for (const [body, what] of [['nope', 'not JSON'], [{ routes: [], round_seconds: 2 }, 'empty routes'], [{ routes: 'some' }, 'routes a string'],
    [{ routes: [1] }, 'routes of numbers'], [{ routes: 'all', round_seconds: 1 }, 'round_seconds 1'], [{ routes: 'all', round_seconds: 'x' }, 'round_seconds a string'],
    [{ routes: 'all', metric: 'cpu' }, 'unknown metric']]) {
    r = await adminCall(p, 'POST', '/api/bisect', body);
    eq(r.status, 400, `POST /api/bisect with ${what}: ${r.text}`);
  }
  r = await adminCall(p, 'POST', '/api/bisect', { routes: ['user', 'cfgcsr'], round_seconds: 2 });
  eq(r.status, 409, `only never_csr and csr routes: ${r.text}`);
  r = await adminCall(p, 'POST', '/api/bisect', { routes: ['news', 'about'], round_seconds: 30 });
  eq(r.status, 200, `start: ${r.text}`);
  r = await adminCall(p, 'POST', '/api/bisect', { routes: ['news', 'about'], round_seconds: 30 });
  eq(r.status, 409, `a second bisection while one runs: ${r.text}`);
  r = await adminCall(p, 'DELETE', '/api/bisect');
  eq(r.json.state, 'aborted', 'DELETE');
});

test('bisect: DELETE during a test round restores the modes it changed, leaves manual/config/never_csr alone; SIGTERM restores too', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy(fakeConfig(up.port, { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 }));
  eq((await setMode(p, 'search', 'csr')).status, 200, 'PUT search csr (manual)');
  const before = await routesByName(p);
  let r = await adminCall(p, 'POST', '/api/bisect', { routes: 'all', round_seconds: 2 });
  eq(r.status, 200, `POST /api/bisect all: ${r.text}`);
  eq([...r.json.candidates].sort().join(','), 'about,home,news', 'candidates: ssr routes with a fallback, not never_csr, not already csr');
  let j;
  await pollUntil(async () => { j = (await adminCall(p, 'GET', '/api/bisect')).json; return j.rounds.length >= 2 && j.rounds.at(-1).state === 'running'; },
    { timeout: 8000, interval: 100, what: 'a test round to run', describe: () => JSON.stringify(j).slice(0, 500) });
  const cur = j.rounds.at(-1);
  eq(cur.kind, 'test', 'round 2 kind');
  check(cur.off.length >= 1, `round 2 switches something off: ${cur.off}`);
  let during = await routesByName(p);
  for (const n of cur.off) eq(`${during[n].mode}/${during[n].mode_by}`, 'csr/bisect', `${n} during round 2`);
  const target = { home: '/', about: '/about', news: '/news/1' }[cur.off[0]];
  eq(hdr(await get(p.port, target), 'x-leakproxy-mode'), 'csr', `GET ${target} while ${cur.off[0]} is off`);
  r = await adminCall(p, 'DELETE', '/api/bisect');
  eq(r.status, 200, 'DELETE /api/bisect');
  eq(r.json.state, 'aborted', 'state after DELETE');
  const after = await routesByName(p);
  for (const n of ['home', 'about', 'news']) eq(`${after[n].mode}/${after[n].mode_by}`, 'ssr/config', `${n} after the abort`);
  eq(`${after.search.mode}/${after.search.mode_by}`, 'csr/manual', 'search (manual csr) after the abort');
  eq(`${after.cfgcsr.mode}/${after.cfgcsr.mode_by}`, 'csr/config', 'cfgcsr (config csr) after the abort');
  eq(`${after.user.mode}/${after.user.mode_by}`, 'ssr/config', 'user (never_csr) after the abort');
  eq(after.search.mode_since_ms, before.search.mode_since_ms, 'search mode_since_ms untouched');
  eq(hdr(await get(p.port, target), 'x-leakproxy-mode'), undefined, `GET ${target} rendered again`);
  await sleep(2500);
  eq((await adminCall(p, 'GET', '/api/bisect')).json.state, 'aborted', 'still aborted after a round length (no timer left)');
  eq(modesOf(await routesByName(p)), modesOf(after), 'modes a round length after the abort');

  // SIGTERM in the middle of a test round: the proxy restores, says so, exits 0
  r = await adminCall(p, 'POST', '/api/bisect', { routes: ['news', 'about'], round_seconds: 2 });
  eq(r.status, 200, `second bisection: ${r.text}`);
  await pollUntil(async () => { j = (await adminCall(p, 'GET', '/api/bisect')).json; return j.rounds.length >= 2; },
    { timeout: 8000, interval: 100, what: 'a test round of the second bisection' });
  during = await routesByName(p);
  check(Object.values(during).some((x) => x.mode_by === 'bisect'), `a route is csr by bisect before SIGTERM: ${modesOf(during)}`);
  p.signal('SIGTERM');
  const ex = await p.waitExit(5000);
  eq(ex.code, 0, 'exit code after SIGTERM');
  check(/bisect: aborted[^\n]*stopping/.test(p.stderrText), `stderr says the bisection was aborted on stop: ${JSON.stringify(p.stderrTail(5))}`);
});

// ---------------------------------------------------------------------------
// Full speed: closed-loop clients at concurrency 8, no rate limit (~300-1,000
// requests/s here). The heap grows by MB/s while news renders, forced-GC
// readings take hundreds of ms and the budget spaces them: a round may hold
// only one or two floors. Bisection must still decide (from the troughs of
// heap_used when floors are few) and never end "failed" for lack of
// readings. Candidates: six routes of the Vue demo, two of them heap leaks
// (news ~240 KB per request; live ~7 KB per request over the load's ids, a
// data-dependent leak of odd ids only: demo/vue/README.md).

const FAST_CAND = ['home', 'about', 'products', 'user', 'news', 'live'];

// <strict>: both leaks found and the run "done". Otherwise (floors rare or
// none: slopes of heap_used troughs, several MB/s of noise in 4 s rounds)
// news must be found, nothing healthy blamed, and live either found or
// named in "undecided": an honest end, never "failed".
async function fullSpeedBisect(ctx, memory, what, strict, { round = 4, max = null } = {}) {
  const app = await startDemo(ctx, 'vue', {});
  const mem = memory(app);
  const p = await ctx.proxy(demoProxyConfig(app, { fallback: { file: VUE_SHELL }, memory: mem }));
  const load = startLoad(ctx, ['--app', 'vue', '--target', `http://127.0.0.1:${p.port}`, '--rate', '0', '-c', '8',
    '--duration', '150', '--only', FAST_CAND.join(',')]);
  await sleep(3000);
  check(!load.exited, `load driver exited early: ${JSON.stringify(load.exited)} ${load.output().stderr.slice(-300)}`);
  const t0 = Date.now();
  const s = await adminCall(p, 'POST', '/api/bisect', { routes: FAST_CAND, round_seconds: round, ...(max ? { max_seconds: max } : {}) });
  eq(s.status, 200, `POST /api/bisect: ${s.text}`);
  let j;
  await pollUntil(async () => {
    j = (await adminCall(p, 'GET', '/api/bisect')).json;
    return j.state !== 'running';
  }, { timeout: (max ?? 110) * 1000 + 10000, interval: 1000, what: 'the bisection to finish', describe: () => `${j.state}: ${j.rounds.map(roundLine).join(' | ')}` });
  const secs = (Date.now() - t0) / 1000;
  const routes = await routesByName(p);
  await load.stop();
  const mb = (await adminCall(p, 'GET', '/api/memory')).json;
  for (const r of j.rounds) note(`${roundLine(r)}${r.signal ? ` [${r.signal}, ${r.readings} readings, ${((r.end_ms - r.start_ms) / 1000).toFixed(1)} s]` : ''}`);
  note(`${what}: ${j.state} in ${secs.toFixed(1)} s, ${j.rounds.length} rounds: leaking ${JSON.stringify(j.leaking)} ${j.message}; ` +
    `rendered ${FAST_CAND.map((n) => `${n} ${routes[n].rendered ?? routes[n].requests}`).join(', ')}; gc ${JSON.stringify(mb.health ?? {}).slice(0, 200)}`);
  const all = j.rounds.map(roundLine).join(' | ');
  check(j.state !== 'failed', `${what}: the bisection failed: ${j.message}`);
  check(!j.rounds.some((r) => /too few memory readings/.test(r.decision || '')), `${what}: a round lacked readings: ${all}`);
  if (strict) {
    // "undecided" only for clean routes whose tiny threshold (min_leak_bytes
    // at a rate of a few requests/s) the floors of 4 s rounds cannot resolve
    check(j.state === 'done' || (j.state === 'undecided' && j.undecided.every((n) => !['news', 'live'].includes(n))),
      `${what}: state ${j.state} (message ${JSON.stringify(j.message)}); rounds: ${all}`);
    eq(JSON.stringify([...j.leaking].sort()), '["live","news"]', `${what}: leaking; rounds: ${all}`);
  } else {
    check(['done', 'undecided'].includes(j.state), `${what}: state ${j.state} (${j.message}); rounds: ${all}`);
    check(j.leaking.includes('news'), `${what}: news found: ${JSON.stringify(j.leaking)}; rounds: ${all}`);
    check(j.leaking.every((n) => n === 'news' || n === 'live'), `${what}: only leaks blamed: ${JSON.stringify(j.leaking)}; rounds: ${all}`);
    // live (~7 KB per request) is within the troughs' noise of a few MB/s in
    // short rounds: found, left undecided, or untested when the time limit came
    check(j.leaking.includes('live') || j.state === 'undecided', `${what}: live found or the run undecided: ${JSON.stringify(j)}`.slice(0, 600));
  }
  for (const n of FAST_CAND) eq(`${routes[n].mode}/${routes[n].mode_by}`, 'ssr/config', `${n} after the bisection`);
}

test('bisect: full speed (-c 8, no rate limit), forced GC with designed rows (the default): exactly news and live found, never failed', async (ctx) => {
  await fullSpeedBisect(ctx, (app) => {
    const base = `http://127.0.0.1:${app.port}`;
    return { source: 'http', url: `${base}/__mem`, gc_url: `${base}/__mem?gc=1`, interval_ms: 100 };
  }, 'rows on', true);
}, { timeout: 150000 });

test('bisect: full speed (-c 8, no rate limit), forced GC without designed rows: news found, nothing healthy blamed, never failed (max_seconds 90)', async (ctx) => {
  await fullSpeedBisect(ctx, (app) => {
    const base = `http://127.0.0.1:${app.port}`;
    return { source: 'http', url: `${base}/__mem`, gc_url: `${base}/__mem?gc=1`, interval_ms: 100, rows: { design: false } };
  }, 'rows off', false, { round: 6, max: 90 });
}, { timeout: 150000, long: true });   // make test-long: 90 s, the same rounds as the case above on other floors

// Without forced floors the rounds read heap troughs, several MB/s noisy at
// full speed: whether news is found within 90 s depends on how fast the
// machine serves the load (on a loaded CI machine it was not, 1 run in 2).
// `make test-long` runs it (LEAKPROXY_IT_LONG=1).
test('bisect: full speed (-c 8, no rate limit), no forced GC (no gc_url): news found, nothing healthy blamed, never failed (max_seconds 90)', async (ctx) => {
  await fullSpeedBisect(ctx, (app) => ({ source: 'http', url: `http://127.0.0.1:${app.port}/__mem`, interval_ms: 100 }), 'no gc_url', false, { round: 6, max: 90 });
}, { timeout: 150000, long: true });
