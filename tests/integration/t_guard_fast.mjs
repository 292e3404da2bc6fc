// The guard at full speed: closed-loop clients at concurrency 8, no rate
// limit, on the Vue demo with a small V8 heap, news leaking ~240 KB per
// request. Unguarded, the app dies within seconds of the load (tens of MB/s
// of growth): the guard must trip on whatever readings it gets (forced-GC
// floors are rare at this speed, and without a gc_url there are none), act
// before anything is identified (narrowing down: groups of routes off, then
// halves rendered again while the growth is watched), and end with only the
// leaking route csr, the healthy routes rendering again, the app alive.

import {
  test, check, eq, note, sleep, adminJson, routesByName, startDemo, demoMemory, demoProxyConfig, drive,
  VUE_SHELL,
} from './lib.mjs';

// These run in `make test-long` (LEAKPROXY_IT_LONG=1), not in `make test`:
// at tens of MB/s of growth, whether a 192 MB heap survives the narrowing
// depends on how fast this machine serves the load, and on a CI machine
// shared with other jobs the app died mid-narrowing in all three (the guard
// tripped within ~1 s each time). Measured in bench/RESULTS.md (guard).

const MB = 1024 * 1024;

// A seeded mix: home 50 %, about 25 %, news 25 % (news leaks).
function mix(seed) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296);
  return () => { const u = rand(); return u < 0.25 ? `/news/${1 + Math.floor(rand() * 800)}` : u < 0.75 ? '/' : '/about'; };
}

// <blind>: the attribution engine never calls a route leaking (confirm_requests
// out of reach), so the guard must find the leak itself by narrowing down.
async function fullSpeed(ctx, { heapMb, gc, seconds, rows = true, blind = false }) {
  const d = await startDemo(ctx, 'vue', { NODE_OPTIONS: `--max-old-space-size=${heapMb}` });
  const base = `http://127.0.0.1:${d.port}`;
  const memory = gc
    ? demoMemory(d, { interval_ms: 200, gc_interval_ms: 200, ...(rows ? {} : { rows: { design: false } }) })
    : { source: 'http', url: `${base}/__mem`, interval_ms: 200 };
  const p = await ctx.proxy(demoProxyConfig(d, {
    fallback: { file: VUE_SHELL }, memory,
    attribution: { interval_ms: 1000, ...(blind ? { confirm_requests: 100000000 } : {}) },
    guard: { metric: 'heap_used', high_fraction: 0.6, action: 'leaking', hold_seconds: 600, max_switches_per_hour: 6 },
  }));
  const pick = mix(11);
  const t0 = Date.now();
  const load = drive(p.port, () => pick(), { requests: 1e9, concurrency: 8, rate: 0, maxMs: seconds * 1000 });
  let diedAt = null;
  while (Date.now() - t0 < seconds * 1000 + 500) {
    await sleep(500);
    if (d.exited !== null) { diedAt = (Date.now() - t0) / 1000; break; }
  }
  const res = await load;
  const guardEvents = async () => (await adminJson(p, '/api/events?limit=256')).events.filter((e) => e.source === 'guard').reverse();
  let ev = await guardEvents();
  let timeline = ev.map((e) => `${((e.time_ms - t0) / 1000).toFixed(1)} s ${e.type} ${(e.routes || []).join(',')}: ${e.reason}`);
  note(`load: ${JSON.stringify(res)}`);
  check(diedAt === null, `the app died ${diedAt} s into the load (${JSON.stringify(d.exited)}); guard events:\n${timeline.join('\n')}`);
  // the healthy routes render again: their rendered counters rise in 3 s more of load
  const r0 = await routesByName(p);
  const after = drive(p.port, () => pick(), { requests: 1e9, concurrency: 8, rate: 0, maxMs: 3000 });
  await after;
  const r1 = await routesByName(p);
  ev = await guardEvents();
  timeline = ev.map((e) => `${((e.time_ms - t0) / 1000).toFixed(1)} s ${e.type} ${(e.routes || []).join(',')}: ${e.reason}`);
  note(timeline.join('\n  # '));
  const status = (await adminJson(p, '/api/status')).guard;
  eq(r1.news.mode, 'csr', `news csr at the end; events:\n${timeline.join('\n')}`);
  eq(r1.news.mode_by, 'guard', 'news switched by the guard');
  for (const r of ['home', 'about']) {
    eq(r1[r].mode, 'ssr', `${r} renders again at the end; events:\n${timeline.join('\n')}`);
    check(r1[r].rendered > r0[r].rendered, `${r} rendered ${r0[r].rendered} -> ${r1[r].rendered}`);
  }
  const trip = ev.find((e) => e.type === 'trip');
  check(trip, 'a trip event');
  // it never waits: the trip comes within ~2 s of the heap staying above high
  // through its collections (the first 2 s window whose lowest reading is
  // above high), or before that (the projection)
  const mem = (await adminJson(p, '/api/memory?points=1024')).workers;
  const smp = mem.flatMap((w) => w.samples).filter((x) => x[2] != null).sort((a, b) => a[0] - b[0]);
  let crossed = null;
  for (let i = 0, j = 0; i < smp.length && crossed == null; i++) {
    while (smp[j][0] <= smp[i][0] - 2000) j++;
    if (smp[i][0] - smp[j][0] >= 1000 && Math.min(...smp.slice(j, i + 1).map((x) => x[2])) > status.high_bytes) crossed = smp[i][0];
  }
  note(`trip at ${((trip.time_ms - t0) / 1000).toFixed(1)} s; the heap's 2 s trough crossed high at ${crossed ? ((crossed - t0) / 1000).toFixed(1) : '-'} s`);
  check(crossed == null || trip.time_ms - crossed <= 3000,
    `trip ${((trip.time_ms - crossed) / 1000).toFixed(1)} s after the heap stayed above high (${(status.high_bytes / MB).toFixed(1)} MB) through its collections`);
  check(ev.every((e) => e.reason && e.reason.length > 10), 'every guard event says why');
  check(!status.narrowing || status.narrowing.state === 'done', `narrowing over: ${JSON.stringify(status.narrowing)}`);
  return { ev, trip, t0 };
}

test('guard at full speed, forced GC (designed rows), nothing named: trips without waiting for floors, narrows down to news, app survives', async (ctx) => {
  await fullSpeed(ctx, { heapMb: 192, gc: true, seconds: 90, blind: true });
}, { timeout: 150000, long: true });

test('guard at full speed, forced GC without designed rows, attribution on: news csr, app survives', async (ctx) => {
  await fullSpeed(ctx, { heapMb: 192, gc: true, seconds: 75, rows: false });
}, { timeout: 150000, long: true });

test('guard at full speed without a gc_url (heap_used only), nothing named: trips on troughs, narrows down to news, app survives', async (ctx) => {
  await fullSpeed(ctx, { heapMb: 256, gc: false, seconds: 100, blind: true });
}, { timeout: 150000, long: true });
