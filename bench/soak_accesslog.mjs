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
// at any other time. Prints one JSON line: {"normal": {...}, "hostile":
// {...}, "hang_gc": {...}, "other": {...}, "lines": N, "unparsed": N}.
//
//   node bench/soak_accesslog.mjs ACCESS_LOG HELD_LIMIT_MS [MEMFAKE_OUT]
import fs from 'node:fs';
import readline from 'node:readline';

const [file, limitArg, memfakeOut] = process.argv.slice(2);
if (!file) { console.error('usage: soak_accesslog.mjs ACCESS_LOG HELD_LIMIT_MS'); process.exit(2); }
const limit = +(limitArg || 100);
const side = () => ({ requests: 0, status: {}, errors: {}, held: 0, held_max_ms: 0, held_over_limit: 0, held_over_samples: [],
  s5_samples: [] });
const out = { normal: side(), hostile: side(), lines: 0, unparsed: 0, held_limit_ms: limit };
// [start, end] in ms of each hang_gc window, extended by 12 s
const hang = [];
if (memfakeOut && fs.existsSync(memfakeOut)) {
  for (const l of fs.readFileSync(memfakeOut, 'utf8').split('\n')) {
    const m = /^memfake: (\S+) \S+ window \d+: hang_gc for (\d+)s/.exec(l);
    if (m) hang.push([Date.parse(m[1]), Date.parse(m[1]) + (+m[2] + 12) * 1000]);
  }
}
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
      if (s.held_over_samples.length < 10) s.held_over_samples.push(line);
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
console.log(JSON.stringify(out));
