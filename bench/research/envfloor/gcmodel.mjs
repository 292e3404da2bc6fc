// gcmodel.mjs -- trough rows with a "garbage since the last major GC" column.
import { rowsFrom, diffFit } from './fit.mjs';
/**
 * Marks major GCs on a trough sequence: trough k is post-MC when it is below the previous trough
 * by more than max(thrMin, thrFrac * level). Adds to each point S = requests completed since the
 * last post-MC trough (or seconds, unit='s'). Returns points with .mc and .S.
 */
export function markMC(points, { thrMin = 3e6, thrFrac = 0.02, unit = 'req' } = {}) {
  let lastN = null, lastT = null;
  return points.map((p, k) => {
    const n = p.counts.reduce((s, c) => s + c, 0);
    const prev = points[k - 1];
    const mc = !!prev && prev.level - p.level > Math.max(thrMin, thrFrac * prev.level);
    if (mc || lastN === null) { lastN = n; lastT = p.t; }
    return { ...p, mc, S: unit === 's' ? (p.t - lastT) / 1000 : n - lastN };
  });
}
/** Rows with an extra regressor dS; mode 'model' (dS column), 'drop' (drop MC rows), 'none'. */
export function gcFit(points, { mode = 'model', thrMin, thrFrac, unit, robust = true, dt = false, hc = 'hc3', keep = null } = {}) {
  const pts = markMC(points, { thrMin, thrFrac, unit });
  let rows = rowsFrom(pts);
  rows.forEach((r) => { r.dS = r.b.S - r.a.S; r.mc = r.b.mc; });
  if (mode === 'drop') rows = rows.filter((r) => !r.mc);
  if (keep) rows = rows.filter(keep);
  const f = diffFit(rows.map((r) => (mode === 'model' ? { ...r, x: [...r.x, r.dS] } : r)), { robust, dt, hc, extraCols: mode === 'model' ? 1 : 0 });
  if (f) f.nmc = pts.filter((p) => p.mc).length;
  return f;
}
