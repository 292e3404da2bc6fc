// fit.mjs -- regressions on floor points.
import { ols, ROUTES, median } from './lib.mjs';

/** Rows from consecutive floor points, as series.c builds them. */
export function rowsFrom(points, { skipFirst = true } = {}) {
  const rows = [];
  for (let k = 1; k < points.length; k++) {
    const a = points[k - 1], b = points[k];
    const x = b.counts.map((c, r) => c - a.counts[r]);
    const first = b.counts.some((c, r) => c > 0 && a.counts[r] === 0) || a.counts.every((c) => c === 0);
    if (skipFirst && first) continue;
    rows.push({ y: b.level - a.level, x, dt: (b.t - a.t) / 1000, t0: a.t, t1: b.t, a, b });
  }
  return rows;
}

/**
 * leakproxy's fit on rows: OLS (+ optional dt column), HC3, one robust pass (8 x 1.4826 x MAD on
 * busy rows), rho > 0 inflation. Returns {beta{route:KB}, se{route:KB}, n, sd (KB), rho, dropped}.
 */
export function diffFit(rows, { dt = false, robust = true, minReq = 20, inflate = true, hc = 'hc3', nwLag = 0, weights = null, extraCols = 0 } = {}) {
  if (rows.length < 3) return null;
  let use = rows.map(() => true);
  const cols = ROUTES.map((_, r) => r).filter((r) => {
    const tot = rows.reduce((s, w) => s + w.x[r], 0), nr = rows.filter((w) => w.x[r] > 0).length;
    return tot >= minReq && nr >= 4;
  });
  for (let e = 0; e < extraCols; e++) cols.push(ROUTES.length + e);
  const build = () => {
    const idx = rows.map((_, i) => i).filter((i) => use[i]);
    const X = idx.map((i) => [...cols.map((r) => rows[i].x[r]), ...(dt ? [rows[i].dt] : [])]);
    const y = idx.map((i) => rows[i].y);
    const w = weights ? idx.map((i) => weights[i]) : null;
    return { idx, X, y, w };
  };
  let { idx, X, y, w } = build();
  if (X.length <= X[0].length + 1) return null;
  let f = ols(X, y, { hc, nwLag, w });
  let dropped = 0;
  if (robust) {
    const ae = f.resid.map(Math.abs).sort((a, b) => a - b);
    const cut = 8 * 1.4826 * ae[Math.floor(ae.length / 2)];
    f.resid.forEach((e, k) => { if (Math.abs(e) > cut && idx.length - dropped > X[0].length + 3) { use[idx[k]] = false; dropped++; } });
    if (dropped) { ({ idx, X, y, w } = build()); f = ols(X, y, { hc, nwLag, w }); }
  }
  const infl = inflate && f.rho > 0 ? (1 + Math.min(f.rho, 0.9)) / (1 - Math.min(f.rho, 0.9)) : 1;
  const beta = {}, se = {};
  cols.forEach((r, j) => { const k = ROUTES[r] ?? 'extra' + (r - ROUTES.length); beta[k] = f.b[j] / 1024; se[k] = f.se[j] * Math.sqrt(infl) / 1024; });
  return { beta, se, n: f.n, p: f.p, sd: f.sd / 1024, rho: f.rho, dropped, alpha: dt ? f.b[f.p - 1] / 1024 : null, resid: f.resid, idx };
}

/**
 * Regression on levels: level_k = c + sum_r beta_r C_r(t_k) [+ extra columns] + u_k,
 * after every route has been seen (warm-up steps excluded by starting there).
 * SE: Newey-West HAC with lag L (Bartlett), or 'classic'.
 */
export function levelFit(points, { nwLag = 5, minReq = 20, extra = null, hc = 'hc0' } = {}) {
  const start = points.findIndex((p) => p.counts.every((c) => c > 0));
  if (start < 0) return null;
  const pts = points.slice(start + 1);
  const base = pts[0].counts;
  const cols = ROUTES.map((_, r) => r).filter((r) => pts[pts.length - 1].counts[r] - base[r] >= minReq);
  const X = pts.map((p, k) => [1, ...cols.map((r) => p.counts[r] - base[r]), ...(extra ? extra(p, k, pts) : [])]);
  const y = pts.map((p) => p.level);
  const f = ols(X, y, { hc, nwLag });
  const beta = {}, se = {};
  cols.forEach((r, j) => { beta[ROUTES[r]] = f.b[j + 1] / 1024; se[ROUTES[r]] = f.se[j + 1] / 1024; });
  return { beta, se, n: f.n, p: f.p, sd: f.sd / 1024, rho: f.rho, resid: f.resid, f, pts };
}

export { median };
