#!/usr/bin/env node
// soak_accesslog.mjs -- summarises leakproxy's access log after a
// `bench/soak.sh --hostile` run, splitting the main load from the hostile
// clients (bench/soak_hostile.mjs puts "hostile" in every target it sends; a
// request refused before its target was parsed is logged with an empty path
// and counted as hostile too: the load driver sends none): per side,
// requests by status class, error kinds, and for requests held at the
// admission gate (held_ms: a designed row, at most rows.hold_ms, then a
// quiesce around a forced GC, at most 2 x quiesce_ms) the count, the maximum
// and how many were held longer than HELD_LIMIT_MS. With the hostile memory
// source's output (MEMFAKE_OUT, its "window N: MODE" lines), the main load's
// holds are also split by when the request started: during a hang_gc window
// or the 12 s after it (the hung forced-GC read runs to its 10 s timeout), and
// at any other time. With SCHED (lines "EPOCH_US CPU_NS RUNQUEUE_WAIT_NS",
// leakproxy's /proc/PID/schedstat sampled every ~0.25 s by soak.sh), each
// hold over the limit is checked against the time leakproxy spent waiting
// for a CPU while it lasted (the samples overlapping the hold, pro rata): a
// hold whose length minus that wait is within the limit is "explained" by
// the machine (its timer could not fire on time), any other is not. Prints
// one JSON line: {"normal": {...}, "hostile": {...}, "hang_gc": {...},
// "other": {...}, "sched": {...}, "minutes": {...}, "lines": N, "unparsed":
// N}; "minutes" is the main load per whole minute (the first and last left
// out): the median and lowest count, the median and highest share of held
// requests, and the minute of each extreme.
//
//   node bench/soak_accesslog.mjs ACCESS_LOG HELD_LIMIT_MS [MEMFAKE_OUT [SCHED]]
import fs from 'node:fs';
import readline from 'node:readline';

const [file, limitArg, memfakeOut, schedFile] = process.argv.slice(2);
if (!file) { console.error('usage: soak_accesslog.mjs ACCESS_LOG HELD_LIMIT_MS'); process.exit(2); }
const limit = +(limitArg || 100);
const side = () => ({ requests: 0, status: {}, errors: {}, held: 0, held_max_ms: 0, held_over_limit: 0, held_over_samples: [],
  held_over_explained: 0, held_over_unexplained: 0, s5_samples: [] });
const out = { normal: side(), hostile: side(), lines: 0, unparsed: 0, held_limit_ms: limit };
// [start, end] in ms of each hang_gc window, extended by 12 s
const hang = [];
if (memfakeOut && fs.existsSync(memfakeOut)) {
  for (const l of fs.readFileSync(memfakeOut, 'utf8').split('\n')) {
    const m = /^memfake: (\S+) \S+ window \d+: hang_gc for (\d+)s/.exec(l);
    if (m) hang.push([Date.parse(m[1]), Date.parse(m[1]) + (+m[2] + 12) * 1000]);
  }
}
// leakproxy's run-queue wait: t (ms) and cumulative wait (ms) per sample
const sched = [];
if (schedFile && fs.existsSync(schedFile)) {
  for (const l of fs.readFileSync(schedFile, 'utf8').split('\n')) {
    const [us, , wait] = l.trim().split(/\s+/).map(Number);
    if (us > 0 && wait >= 0) sched.push([us / 1000, wait / 1e6]);
  }
}
// run-queue wait (ms) within [a, b] (ms), each sample interval's wait spread evenly over it
function waitWithin(a, b) {
  let lo = 0, hi = sched.length - 1;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (sched[mid][0] < a) lo = mid + 1; else hi = mid; }
  let w = 0;
  for (let i = Math.max(1, lo); i < sched.length && sched[i - 1][0] < b; i++) {
    const [t0, w0] = sched[i - 1], [t1, w1] = sched[i];
    const ov = Math.min(b, t1) - Math.max(a, t0);
    if (ov > 0 && t1 > t0) w += (w1 - w0) * ov / (t1 - t0);
  }
  return w;
}
const perMin = {};
const holds = () => ({ requests: 0, held: 0, held_ms: [], windows: 0 });
const during = holds(), other = holds();
during.windows = hang.length;

const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
for await (const line of rl) {
  if (!line) continue;
  out.lines++;
  let j;
  try { j = JSON.parse(line); } catch { out.unparsed++; continue; }
  const s = /hostile/.test(j.path || '') || !j.path ? out.hostile : out.normal;
  if (s === out.normal) {
    const m = (perMin[j.time.slice(0, 16)] ??= { n: 0, held: 0 });
    m.n++;
    if (j.held_ms != null) m.held++;
  }
  s.requests++;
  const cls = j.status >= 100 && j.status <= 599 ? `${String(j.status)[0]}xx` : `status_${j.status}`;
  s.status[cls] = (s.status[cls] || 0) + 1;
  if (j.error) s.errors[j.error] = (s.errors[j.error] || 0) + 1;
  if (cls === '5xx' && s.s5_samples.length < 10) s.s5_samples.push(line);
  if (s === out.normal && hang.length) {
    const t = Date.parse(j.time) - (j.duration_ms || 0) - (j.held_ms || 0);
    const h = hang.some(([a, b]) => t >= a && t <= b) ? during : other;
    h.requests++;
    if (j.held_ms != null) { h.held++; h.held_ms.push(j.held_ms); }
  }
  if (j.held_ms != null) {
    s.held++;
    if (j.held_ms > s.held_max_ms) s.held_max_ms = j.held_ms;
    if (j.held_ms > limit) {
      s.held_over_limit++;
      const release = Date.parse(j.time) - (j.duration_ms || 0);
      const w = sched.length ? waitWithin(release - j.held_ms, release) : 0;
      if (sched.length && j.held_ms - w <= limit) s.held_over_explained++;
      else {
        s.held_over_unexplained++;
        if (s.held_over_samples.length < 10) s.held_over_samples.push(`${line} (run-queue wait meanwhile ${w.toFixed(1)} ms)`);
      }
    }
  }
}
const q = (xs, p) => xs.length ? +xs[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(1) : null;
for (const [k, h] of [['hang_gc', during], ['other', other]]) {
  if (!hang.length) break;
  const xs = h.held_ms.sort((a, b) => a - b);
  out[k] = { requests: h.requests, held: h.held, held_p50_ms: q(xs, 0.5), held_p99_ms: q(xs, 0.99), held_max_ms: q(xs, 1),
    ...(k === 'hang_gc' ? { windows: h.windows } : {}) };
}
{
  const mins = Object.entries(perMin).slice(1, -1).map(([k, v]) => ({ k, n: v.n, share: v.n ? v.held / v.n : 0 }));
  if (mins.length) {
    const byN = [...mins].sort((a, b) => a.n - b.n), byS = [...mins].sort((a, b) => a.share - b.share);
    out.minutes = { minutes: mins.length, requests_median: byN[byN.length >> 1].n, requests_lowest: byN[0].n,
      requests_lowest_at: byN[0].k, held_share_median: +byS[byS.length >> 1].share.toFixed(2),
      held_share_highest: +byS.at(-1).share.toFixed(2), held_share_highest_at: byS.at(-1).k };
  }
}
if (sched.length > 1) {
  const [t0, w0] = sched[0], [t1, w1] = sched.at(-1);
  let maxs = 0;   // the largest wait within one second
  for (let i = 0, j = 0; i < sched.length; i++) {
    while (sched[i][0] - sched[j][0] > 1000) j++;
    maxs = Math.max(maxs, sched[i][1] - sched[j][1]);
  }
  out.sched = { samples: sched.length, seconds: +((t1 - t0) / 1000).toFixed(0), runqueue_wait_share: +((w1 - w0) / (t1 - t0)).toFixed(3),
    max_wait_ms_in_1s: +maxs.toFixed(0) };
}
console.log(JSON.stringify(out));
