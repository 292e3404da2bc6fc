// floors.mjs -- ways to turn the 100 ms heapUsed series into floor points {t, level, counts, i}.
// Every function sees only what a proxy sees: the samples (heapUsed, heapTotal, ...) in time order
// and the completed-request counts at each sample's arrival.

/** leakproxy's current rule (series_batch SERIES_FLOOR_ENV): windows of >= win ms; the trough
 *  (lowest heapUsed) of each window, with the counts at that sample. */
export function troughs(mem, win = 1000, cm = 'cur') {
  const out = [];
  let winT = null, best = null;
  for (let i = 0; i < mem.length; i++) {
    const m = mem[i];
    if (winT === null) winT = m.tr;
    if (best === null || m.heap < best.heap) best = { ...m, i };
    if (m.tr - winT < win) continue;
    out.push({ t: best.tr, level: best.heap, counts: pick(mem, best.i, cm), i: best.i, total: best.total });
    winT = m.tr;
    best = null;
  }
  return out;
}

/** Local minima of heapUsed (a sample lower than both neighbours): the samples just after a
 *  scavenge. */
export function scavTroughs(mem, cm = 'cur') {
  const out = [];
  for (let i = 1; i < mem.length - 1; i++)
    if (mem[i].heap <= mem[i - 1].heap && mem[i].heap < mem[i + 1].heap)
      out.push({ t: mem[i].tr, level: mem[i].heap, counts: pick(mem, i, cm), i, total: mem[i].total });
  return out;
}

/**
 * Major-GC (mark-compact) detection from the 100 ms series, online, per sample:
 * a sample is an MC candidate when heapUsed fell below the previous post-scavenge minimum
 * ("running trough") by more than dropFrac of that level AND by at least dropMin bytes.
 * The floor of that cycle is the lowest heapUsed over the next postMs after the detection.
 * Returns the post-MC floors (what a C implementation would emit as rows).
 *   opts: dropMin bytes, dropFrac, postMs, useTotal (also require heapTotal not to fall), lookMs
 *   (the "running trough" is the minimum over the last lookMs)
 */
export function mcFloors(mem, { dropMin = 4e6, dropFrac = 0.03, postMs = 1000, lookMs = 1000, minGapMs = 1500 } = {}) {
  const out = [];
  let pending = null, lastMc = -Infinity;
  for (let i = 0; i < mem.length; i++) {
    const m = mem[i];
    if (pending) {
      if (m.heap < pending.level) Object.assign(pending, { t: m.tr, level: m.heap, counts: m.counts, i, total: m.total });
      if (m.tr - pending.t0 >= postMs) { out.push(pending); pending = null; }
      continue;
    }
    // running minimum over the last lookMs (excluding this sample)
    let lo = Infinity;
    for (let k = i - 1; k >= 0 && m.tr - mem[k].tr <= lookMs; k--) lo = Math.min(lo, mem[k].heap);
    if (lo === Infinity) continue;
    const drop = lo - m.heap;
    if (drop > dropMin && drop > dropFrac * lo && m.tr - lastMc > minGapMs) {
      lastMc = m.tr;
      pending = { t0: m.tr, t: m.tr, level: m.heap, counts: m.counts, i, total: m.total, drop };
    }
  }
  if (pending) out.push(pending);
  return out;
}

/** Forced-GC readings (reference run). */
export function gcFloors(mem) {
  return mem.map((m, i) => ({ m, i })).filter(({ m }) => m.gc).map(({ m, i }) => ({ t: m.tr, level: m.heap, counts: m.counts, i, total: m.total }));
}

/** counts for sample i: 'cur' at its arrival, 'prev' at the previous sample's, 'mid' the mean */
export function pick(mem, i, cm) {
  if (cm === 'cur' || i === 0) return mem[i].counts;
  if (cm === 'prev') return mem[i - 1].counts;
  if (cm === 'send') return mem[i].sendCounts;
  return mem[i].counts.map((c, r) => (c + mem[i - 1].counts[r]) / 2);
}

/** Every sample where heapUsed fell since the previous one (a scavenge or a major GC happened in
 *  between); no lookahead. minDrop: smallest fall that counts (bytes). */
export function fallPoints(mem, cm = 'mid', minDrop = 0) {
  const out = [];
  for (let i = 1; i < mem.length; i++)
    if (mem[i].heap < mem[i - 1].heap - minDrop)
      out.push({ t: mem[i].tr, level: mem[i].heap, counts: pick(mem, i, cm), i, total: mem[i].total });
  return out;
}
