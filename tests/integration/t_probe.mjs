// Probes: captured requests replayed straight to the upstream
// between forced-GC floor readings. On the Vue demo: news leaking within
// +-15 % of demo/vue/truth.json, about not leaking, a split of /live/:id by
// its id naming the odd ids. With fakes: what is captured and replayed
// (no Cookie/Authorization, last 32 per route, not counted as live traffic),
// and every refusal (no gc-capable memory source, nothing captured, unknown
// route, bad body, a probe already running), abort.

import {
  test, get, request, hdr, check, eq, sleep, note, drive, pollUntil,
  startDemo, VUE_SHELL, adminCall, routesByName, demoMemory, demoProxyConfig, truthSteadyHeap, startFakeMemory,
  routeStats, startLoad,
} from './lib.mjs';

const KB = 1024;

// POST /api/probe <body>, then GET /api/probe until it is no longer running.
async function runProbe(p, body, timeout = 45000) {
  const s = await adminCall(p, 'POST', '/api/probe', body);
  eq(s.status, 200, `POST /api/probe ${JSON.stringify(body)}: ${s.text}`);
  eq(s.json.state, 'running', 'state right after POST');
  eq(s.json.route, body.route, 'route in the answer');
  let j;
  await pollUntil(async () => { j = (await adminCall(p, 'GET', '/api/probe')).json; return j.state !== 'running'; },
    { timeout, interval: 250, what: `the probe of ${body.route} to finish`, describe: () => JSON.stringify(j).slice(0, 600) });
  return j;
}

const groupLine = (g) => `${g.value || '(all)'}: ${g.verdict} ${g.bytes_per_request} [${g.low}, ${g.high}] first ${g.first_block_bytes_per_request} blocks ${JSON.stringify(g.blocks_bytes_per_request)}`;

// ~40 GETs of news and about through the proxy (the captured requests).
async function warm(p, n = 80) {
  const r = await drive(p.port, (i) => (i % 2 ? `/news/${1 + (i >> 1)}` : '/about'), { requests: n, concurrency: 2 });
  eq(r.statuses[200], n, `warm-up through the proxy: ${JSON.stringify(r.statuses)}`);
}

// The memory source as documented for the demo (no timeout_ms: see the case
// "default memory timeout" below).
const demoProbeProxy = (ctx, app, memExtra = {}) =>
  ctx.proxy(demoProxyConfig(app, { fallback: { file: VUE_SHELL }, memory: demoMemory(app, memExtra) }));

test('probe: Vue demo, news (200 requests) leaking within +-15 % of the truth', async (ctx) => {
  const app = await startDemo(ctx, 'vue', {});
  const p = await demoProbeProxy(ctx, app);
  await warm(p);
  const truth = truthSteadyHeap('vue', 'news');
  const before = await routesByName(p);
  const j = await runProbe(p, { route: 'news', requests: 200, concurrency: 1 });
  eq(j.state, 'done', `probe state (message ${JSON.stringify(j.message)})`);
  eq(j.groups.length, 1, 'one group without split');
  const g = j.groups[0];
  note(`news: ${groupLine(g)}; truth ${truth}; summary ${JSON.stringify(j.summary)}`);
  eq(g.verdict, 'leaking', `news verdict: ${groupLine(g)}`);
  check(Math.abs(g.bytes_per_request - truth) <= 0.15 * truth,
    `news estimate ${(g.bytes_per_request / KB).toFixed(1)} KB/request, truth ${(truth / KB).toFixed(1)} KB (band +-15 %): ${groupLine(g)}`);
  check(g.low <= g.bytes_per_request && g.bytes_per_request <= g.high && g.low > 4096, `interval [${g.low}, ${g.high}] around ${g.bytes_per_request}`);
  check(typeof g.first_block_bytes_per_request === 'number', `first_block_bytes_per_request: ${g.first_block_bytes_per_request}`);
  check(Array.isArray(g.blocks_bytes_per_request) && g.blocks_bytes_per_request.length >= 5, `blocks: ${JSON.stringify(g.blocks_bytes_per_request)}`);
  check(typeof j.summary === 'string' && /news/.test(j.summary) && /leaking/.test(j.summary), `summary: ${JSON.stringify(j.summary)}`);
  eq(j.live_requests_during_probe, 0, 'live_requests_during_probe on an idle app');
  // replayed requests are not live traffic; modes untouched
  const after = await routesByName(p);
  eq(after.news.requests, before.news.requests, 'news requests through the proxy (the replays went straight to the app)');
  // a replay is SSR work the upstream did: attribution must see it (else it
  // blames the growth on live routes), so it counts in rendered, not requests
  eq(after.news.rendered, before.news.rendered + j.requests, 'news rendered includes the replays');
  eq(`${after.news.mode}/${after.news.mode_by}`, 'ssr/config', 'news mode after the probe');
}, { timeout: 60000 });

// Live traffic during a probe: the proxy subtracts what the live requests are
// expected to retain (the attribution engine's estimates). The replays are
// not live requests, so the heap growth they cause must not be blamed on the
// live routes by the engine -- and then subtracted from the probe's blocks.
test('probe: Vue demo, live about traffic during a news probe: news still within +-15 %, about not blamed', async (ctx) => {
  const app = await startDemo(ctx, 'vue', {});
  const p = await demoProbeProxy(ctx, app);
  await warm(p);
  const truth = truthSteadyHeap('vue', 'news');
  let stop = false;
  const live = drive(p.port, () => (stop ? null : '/about'), { requests: 1e6, concurrency: 1, rate: 10, maxMs: 45000 });
  let j;
  try { j = await runProbe(p, { route: 'news', requests: 400, concurrency: 1 }); } finally { stop = true; }
  const lr = await live;
  await sleep(2500);                  // an evaluation of the engine after the probe
  const r = await routesByName(p);
  const g = j.groups[0];
  const ab = r.about.estimate?.heap_used;
  note(`news: ${groupLine(g)}; live ${j.live_requests_during_probe} (${j.live_requests_not_estimated} not estimated), ${lr.done} sent; about after: ${r.about.verdict} ${JSON.stringify(ab)}`);
  eq(j.state, 'done', `probe state (message ${JSON.stringify(j.message)})`);
  check(lr.errors === 0 && lr.done > 10, `live load: ${JSON.stringify(lr.statuses)}, ${lr.errors} errors`);
  // live requests are held at the gate during each chain of blocks (they
  // wait, then go through between chains): none lands inside a block
  check(j.live_requests_during_probe <= 2, `live_requests_during_probe ${j.live_requests_during_probe} (held at the gate), live requests sent ${lr.done}`);
  check(r.about.held.requests > 0, `about requests held at the gate during the probe: ${JSON.stringify(r.about.held)}`);
  eq(g.verdict, 'leaking', `news verdict under live traffic: ${groupLine(g)}; about's engine estimate after: ${r.about.verdict} ${JSON.stringify(ab)}`);
  check(Math.abs(g.bytes_per_request - truth) <= 0.15 * truth,
    `news estimate under live traffic ${(g.bytes_per_request / KB).toFixed(1)} KB/request, truth ${(truth / KB).toFixed(1)} KB (band +-15 %): ${groupLine(g)}; about's engine estimate after: ${r.about.verdict} ${JSON.stringify(ab)}`);
  // misattributed replays (~240 KB each) would give about a large, tight
  // estimate; a few dozen live requests may give a wide, uncertain one.
  // (RSS moves in MB steps while the replays run: about can end
  // `suspect` on RSS with a few dozen requests -- not proven, not blamed.)
  check(r.about.verdict !== 'leaking' && !(ab && ab.low > 4 * KB),
    `about (healthy, ${truthSteadyHeap('vue', 'about')} B/request) blamed for the probe's replays: ${r.about.verdict} ${JSON.stringify(ab)}`);
}, { timeout: 60000 });

test('probe: Vue demo, about (400 requests) not leaking, estimate under 4 KB', async (ctx) => {
  const app = await startDemo(ctx, 'vue', {});
  const p = await demoProbeProxy(ctx, app);
  await warm(p);
  const truth = truthSteadyHeap('vue', 'about');
  const j = await runProbe(p, { route: 'about', requests: 400 });
  eq(j.state, 'done', `probe state (message ${JSON.stringify(j.message)})`);
  const g = j.groups[0];
  note(`about: ${groupLine(g)}; truth ${truth}; summary ${JSON.stringify(j.summary)}`);
  check(g.verdict !== 'leaking', `about verdict: ${groupLine(g)}`);
  check(['clean', 'unknown'].includes(g.verdict), `about verdict: ${groupLine(g)}`);
  check(Math.abs(g.bytes_per_request) < 4096, `about estimate ${g.bytes_per_request} B/request (|x| < 4 KB expected): ${groupLine(g)}`);
  check(g.low < 4096, `about interval low ${g.low} must be under min_leak_bytes`);
}, { timeout: 60000 });

test('probe: Vue demo, split param:id on /live/:id: odd ids leaking, even ids not', async (ctx) => {
  const app = await startDemo(ctx, 'vue', {});
  const p = await demoProbeProxy(ctx, app);
  const r = await drive(p.port, (i) => `/live/${1 + (i % 6)}`, { requests: 36, concurrency: 1 });
  eq(r.statuses[200], 36, `/live/1..6 through the proxy: ${JSON.stringify(r.statuses)}`);
  const truthOdd = truthSteadyHeap('vue', 'live', 'odd id');
  // 6 values x 16 blocks of 25 (a few unmeasured: warm-up, chain starts);
  // with 10 a block one GC's lag pulled below zero left an odd id unknown
  // in 1 of ~5 runs (18 KB x 25 requests is 460 KB a block, GC noise
  // 100-200 KB)
  const j = await runProbe(p, { route: 'live', requests: 2400, split: 'param:id' }, 75000);
  eq(j.state, 'done', `probe state (message ${JSON.stringify(j.message)})`);
  eq(j.split, 'param:id', 'split');
  for (const g of j.groups) note(`live ${groupLine(g)}`);
  note(`summary: ${j.summary}; truth odd ${truthOdd}`);
  const byValue = Object.fromEntries(j.groups.map((g) => [g.value, g]));
  eq(Object.keys(byValue).sort().join(','), '1,2,3,4,5,6', 'split values probed');
  for (const id of ['1', '3', '5'])
    eq(byValue[id].verdict, 'leaking', `live id ${id}: ${groupLine(byValue[id])}`);
  for (const id of ['2', '4', '6']) {
    check(byValue[id].verdict !== 'leaking', `live id ${id} must not be leaking: ${groupLine(byValue[id])}`);
    check(byValue[id].bytes_per_request < 4096, `live id ${id} estimate ${byValue[id].bytes_per_request} B/request`);
  }
  const m = /leaks for param:id ([^;]*);/.exec(j.summary || '');
  check(m, `summary "live leaks for param:id ...; not for ...": ${JSON.stringify(j.summary)}`);
  eq(m[1].split(/,\s*/).sort().join(','), '1,3,5', `values named leaking in the summary ${JSON.stringify(j.summary)}`);
  for (const id of ['2', '4', '6'])
    check(new RegExp(`not for [^;]*\\b${id}\\b|not enough evidence for [^;]*\\b${id}\\b`).test(j.summary), `summary places ${id} among the non-leaking: ${JSON.stringify(j.summary)}`);
}, { timeout: 90000 });

// Regression: with the memory source as given for the demo (interval_ms 100,
// no timeout_ms: reads time out after min(2 x interval, 2000) = 200 ms), a
// forced GC of a heap of 100 MB and more takes about that long or longer, and
// one forced-GC reading that timed out failed the whole probe ("the forced-GC
// memory reading failed"). Forced-GC reads now get a longer allowance; a probe
// on a large heap must finish. The app's heap is first grown by 400 news requests.
test('probe: default memory timeout: slow forced GCs of a large heap do not fail a probe', async (ctx) => {
  const app = await startDemo(ctx, 'vue', {});
  const p = await demoProbeProxy(ctx, app);
  const w = await drive(p.port, (i) => `/news/${1 + i}`, { requests: 400, concurrency: 4 });
  eq(w.statuses[200], 400, `400 news through the proxy: ${JSON.stringify(w.statuses)}`);
  const truth = truthSteadyHeap('vue', 'news');
  const j = await runProbe(p, { route: 'news', requests: 300 });
  const mem = await adminCall(p, 'GET', '/api/memory?points=0');
  note(`state ${j.state} ${JSON.stringify(j.message)}; gc ${JSON.stringify(mem.json.gc)}; health ${JSON.stringify(mem.json.health)}`);
  eq(j.state, 'done', `probe state: message ${JSON.stringify(j.message)}, blocks so far ${JSON.stringify(j.groups[0]?.blocks_bytes_per_request)}, memory health ${JSON.stringify(mem.json.health)}, last GC ${JSON.stringify(mem.json.gc)}`);
  const g = j.groups[0];
  check(g.verdict === 'leaking' && Math.abs(g.bytes_per_request - truth) <= 0.15 * truth, `news: ${groupLine(g)}, truth ${truth}`);
}, { timeout: 60000 });

// ---------------------------------------------------------------------------
// Fakes: a raw upstream (sees every replayed byte) and a fake memory endpoint
// whose heap never moves.

function fakeConfig(upPort, memory, extra = {}) {
  return {
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${upPort}`, admin: '127.0.0.1:0',
    routes: [{ name: 'home', match: '/' }, { name: 'news', match: '/news/:id' }, { name: 'form', match: '/form' }],
    ...(memory ? { memory } : {}), ...extra,
  };
}

test('probe: captured GET/HEAD replayed straight to the upstream, last 32, without Cookie/Authorization', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy(fakeConfig(up.port, { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 }));
  for (let i = 1; i <= 40; i++) {
    const r = await request(p.port, i === 40 ? 'HEAD' : 'GET', `/news/${i}?q=${i}`, {
      headers: [['Cookie', 'sid=secret'], ['Authorization', 'Bearer t0ken'], ['X-Custom', `c${i}`], ['Accept-Language', 'fr']],
    });
    eq(r.status, 200, `GET /news/${i}`);
  }
  // POSTs and GETs with a body are not captured
  await request(p.port, 'POST', '/form', { body: 'a=1' });
  await request(p.port, 'GET', '/form', { body: 'x' });
  const live = up.requests.length;
  const before = await routesByName(p);
  const j = await runProbe(p, { route: 'news', requests: 100, block: 10, concurrency: 2 }, 20000);
  eq(j.state, 'done', `probe state (${j.message})`);
  eq(j.block, 10, 'block');
  eq(j.concurrency, 2, 'concurrency');
  const g = j.groups[0];
  eq(g.verdict, 'clean', `a flat heap: ${groupLine(g)}`);
  eq(g.bytes_per_request, 0, 'bytes_per_request on a flat heap');
  const replays = up.requests.slice(live);
  check(replays.length >= 100, `replayed requests at the upstream: ${replays.length}`);
  const ids = new Set();
  for (const q of replays) {
    const m = /^\/news\/(\d+)\?q=(\d+)$/.exec(q.target);
    check(m && m[1] === m[2], `replayed target ${q.target}`);
    ids.add(+m[1]);
    check(['GET', 'HEAD'].includes(q.method), `replayed method ${q.method}`);
    eq(hdr(q, 'cookie'), undefined, `Cookie in a replay of ${q.target}`);
    eq(hdr(q, 'authorization'), undefined, `Authorization in a replay of ${q.target}`);
    eq(hdr(q, 'x-custom'), `c${m[1]}`, `X-Custom in the replay of ${q.target}`);
    eq(hdr(q, 'accept-language'), 'fr', `Accept-Language in the replay of ${q.target}`);
    eq(hdr(q, 'x-leakproxy-probe'), '1', `X-Leakproxy-Probe in the replay of ${q.target}`);
  }
  eq([...ids].sort((a, b) => a - b).join(','), Array.from({ length: 32 }, (_, k) => k + 9).join(','), 'replayed ids: the last 32 captured');
  check(replays.some((q) => q.method === 'HEAD'), 'the HEAD request is replayed as HEAD');
  const after = await routesByName(p);
  eq(after.news.requests, before.news.requests, 'replays are not counted as requests of the route');
  check(after.news.rendered > before.news.rendered, 'replays are counted as rendered (SSR work the engine must see)');
  // the form route had only a POST and a GET with a body: nothing captured
  const f = await adminCall(p, 'POST', '/api/probe', { route: 'form' });
  eq(f.status, 409, `probe of a route with nothing captured: ${f.text}`);
});

// Live requests of the probed route keep arriving while a probe runs (the gate
// lets them through between chains) and are captured too: each group must
// go on replaying the requests it was formed from, never the newer ones.
test('probe: live traffic of the probed route during a split probe: each group replays only its own captured ids', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy(fakeConfig(up.port, { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 }));
  for (let k = 0; k < 5; k++)
    for (let id = 1; id <= 6; id++) eq((await get(p.port, `/news/${id}`)).status, 200, `GET /news/${id}`);
  const live = up.requests.length;
  const s = await adminCall(p, 'POST', '/api/probe', { route: 'news', requests: 300, block: 5, split: 'param:id' });
  eq(s.status, 200, `POST /api/probe: ${s.text}`);
  // live requests of other ids of the same route while the probe runs
  let n = 0, j;
  for (;;) {
    j = (await adminCall(p, 'GET', '/api/probe')).json;
    if (j.state !== 'running') break;
    await get(p.port, `/news/${1000 + (n++ % 50)}`);
  }
  eq(j.state, 'done', `probe state (${j.message})`);
  check(n >= 20, `live requests sent during the probe: ${n}`);
  const replays = up.requests.slice(live).filter((q) => hdr(q, 'x-leakproxy-probe') === '1');
  check(replays.length >= 30, `replays: ${replays.length}`);
  const strays = replays.filter((q) => !/^\/news\/[1-6]$/.test(q.target));
  eq(strays.length, 0, `replays of requests captured after the probe started: ${strays.slice(0, 5).map((q) => q.target)}`);
  const values = j.groups.map((g) => g.value).sort();
  check(values.length >= 2 && values.every((v) => /^[1-6]$/.test(v)), `groups: ${values}`);
}, { timeout: 40000 });

test('probe: refusals: no gc-capable source, nothing captured, unknown route, bad body; running -> 409; DELETE aborts', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.headers.some(([k]) => /^x-leakproxy-probe$/i.test(k))) await sleep(40);
    res.send(200, [['Content-Type', 'text/plain']], 'ok');
  });
  const fm = await startFakeMemory(ctx);
  // no memory source; http without gc_url; proc
  const sources = [
    [null, 'no memory source'],
    [{ source: 'http', url: fm.url, interval_ms: 100 }, 'http without gc_url'],
    [{ source: 'proc', pid: process.pid, interval_ms: 100 }, 'proc'],
  ];
  for (const [mem, what] of sources) {
    const p = await ctx.proxy(fakeConfig(up.port, mem));
    eq((await get(p.port, '/news/1')).status, 200, 'GET /news/1');
    const r = await adminCall(p, 'POST', '/api/probe', { route: 'news' });
    eq(r.status, 409, `probe with ${what}: ${r.text}`);
    check(/gc_url|forced GC|floor/i.test(r.json?.error || ''), `409 with ${what} says why (gc_url / forced GC): ${r.text}`);
  }
  const p = await ctx.proxy(fakeConfig(up.port, { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 }));
  eq((await adminCall(p, 'GET', '/api/probe')).json.state, 'idle', 'GET /api/probe before any probe');
  let r = await adminCall(p, 'POST', '/api/probe', { route: 'news' });
  eq(r.status, 409, `probe before any request: ${r.text}`);
  check(/no requests.*captured/i.test(r.json?.error || ''), `409 says no requests captured: ${r.text}`);
  r = await adminCall(p, 'POST', '/api/probe', { route: 'nosuch' });
  eq(r.status, 404, `probe of an unknown route: ${r.text}`);
  for (let i = 1; i <= 5; i++) await get(p.port, `/news/${i}`);
  for (const [body, what] of [['{}', 'no route'], ['nope', 'not JSON'], [{ route: 'news', requests: 5 }, 'requests < 10'],
    [{ route: 'news', concurrency: 0 }, 'concurrency 0'], [{ route: 'news', requests: 'many' }, 'requests a string'],
    [{ route: 'news', split: 'cookie:x' }, 'bad split kind']]) {
    r = await adminCall(p, 'POST', '/api/probe', body);
    eq(r.status, 400, `POST /api/probe with ${what}: ${r.text}`);
  }
  // a long probe: a second one is refused, DELETE aborts it and the replays stop
  r = await adminCall(p, 'POST', '/api/probe', { route: 'news', requests: 2000 });
  eq(r.status, 200, `start: ${r.text}`);
  await up.waitFor(() => up.requests.filter((q) => hdr(q, 'x-leakproxy-probe')).length >= 3, 5000, 'replays to start');
  r = await adminCall(p, 'POST', '/api/probe', { route: 'news' });
  eq(r.status, 409, `a second probe while one runs: ${r.text}`);
  check(/running/.test(r.json?.error || ''), `409 says a probe is running: ${r.text}`);
  r = await adminCall(p, 'DELETE', '/api/probe');
  eq(r.status, 200, 'DELETE /api/probe');
  eq(r.json.state, 'aborted', 'state after DELETE');
  await sleep(200);
  const n = up.requests.length;
  await sleep(400);
  eq(up.requests.length, n, 'replays after the abort');
  eq((await adminCall(p, 'GET', '/api/probe')).json.state, 'aborted', 'GET /api/probe after the abort');
  // and a new probe can start
  r = await adminCall(p, 'POST', '/api/probe', { route: 'news', requests: 10, block: 2 });
  eq(r.status, 200, `a new probe after the abort: ${r.text}`);
  await pollUntil(async () => (await adminCall(p, 'GET', '/api/probe')).json.state !== 'running', { timeout: 10000, what: 'the new probe to finish' });
  eq((await adminCall(p, 'GET', '/api/probe')).json.state, 'done', 'state of the new probe');
  eq((await routeStats(p.adminPort, 'news')).mode, 'ssr', 'news mode');
});

// Full-speed live traffic (closed-loop clients at concurrency 8, no rate
// limit, the demo's whole mix with its leaks) while the engine is still
// blind: the probe holds live requests at the gate during its blocks, so
// neither the live leaks nor the missing estimates reach its figures.
for (const [route, leaking] of [['news', true], ['about', false]]) {
  test(`probe: full-speed live traffic, attribution still blind: ${route} ${leaking ? 'within +-10 % of the truth' : 'under 4 KB/request'}`, async (ctx) => {
    const app = await startDemo(ctx, 'vue', {});
    const p = await demoProbeProxy(ctx, app);
    await warm(p);
    const load = startLoad(ctx, ['--app', 'vue', '--seed', '3', '--target', `http://127.0.0.1:${p.port}`,
      '--duration', '40', '--concurrency', '8', '--rate', '0']);
    await sleep(500);
    const before = await routesByName(p);
    check(['unknown', undefined].includes(before[route].verdict) || before[route].verdict !== 'leaking',
      `the engine already named ${route}: ${before[route].verdict}`);
    const j = await runProbe(p, { route, requests: 200, block: 25, concurrency: 2 }, 40000);
    await load.stop();
    const g = j.groups[0];
    note(`${route}: ${groupLine(g)}; live during blocks ${j.live_requests_during_probe}`);
    eq(j.state, 'done', `probe state (${j.message})`);
    const truth = truthSteadyHeap('vue', route);
    if (leaking) {
      eq(g.verdict, 'leaking', `${route} verdict: ${groupLine(g)}`);
      check(Math.abs(g.bytes_per_request - truth) <= 0.10 * truth,
        `${route} ${(g.bytes_per_request / KB).toFixed(1)} KB/request, truth ${(truth / KB).toFixed(1)} KB (+-10 %): ${groupLine(g)}`);
    } else {
      check(g.verdict !== 'leaking' && Math.abs(g.bytes_per_request) < 4 * KB,
        `${route} (healthy) ${g.bytes_per_request} B/request: ${groupLine(g)}`);
    }
  }, { timeout: 90000 });
}
