// lib.mjs -- data loading, OLS with HC3, helpers. Plain JS, no deps.
import { readFileSync } from 'node:fs';

export const ROUTES = ['home', 'about', 'products', 'product', 'user', 'news', 'live', 'gallery', 'search', 'static'];
export const TRUTH_KB = { home: 0.1, about: 0.4, products: 0.2, product: 0.9, user: 0.4, news: 239.0, live: null, gallery: 0.3, search: 0.6, static: 0.1 };
export const HEALTHY = ['home', 'about', 'products', 'product', 'user', 'gallery', 'search', 'static'];

function csv(file) {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const head = lines[0].split(',');
  return lines.slice(1).map((l) => { const v = l.split(','); const o = {}; head.forEach((h, i) => { o[h] = v[i]; }); return o; });
}

/** Loads a run: mem samples with counts (completed by t_recv) and in-flight counts. */
export function loadRun(prefix, { countAt = 'recv' } = {}) {
  const mem = csv(prefix + '.mem.csv').map((m) => ({
    ts: +m.t_send, tr: +m.t_recv, heap: +m.heapUsed, total: +m.heapTotal, ext: +m.external, ab: +m.arrayBuffers, rss: +m.rss, gc: m.gc === '1',
  })).sort((a, b) => a.tr - b.tr);
  const req = csv(prefix + '.req.csv').map((r) => ({ ts: +r.t_start, te: +r.t_end, route: r.route, path: r.path, status: +r.status }));
  const ri = Object.fromEntries(ROUTES.map((r, i) => [r, i]));
  const ends = req.map((r) => [r.te, ri[r.route]]).sort((a, b) => a[0] - b[0]);
  const starts = req.map((r) => [r.ts, ri[r.route]]).sort((a, b) => a[0] - b[0]);
  const c = new Array(ROUTES.length).fill(0), s = new Array(ROUTES.length).fill(0);
  let j = 0, k = 0;
  for (const m of mem) {
    const t = countAt === 'send' ? m.ts : countAt === 'mid' ? (m.ts + m.tr) / 2 : m.tr;
    while (j < ends.length && ends[j][0] <= t) c[ends[j++][1]]++;
    while (k < starts.length && starts[k][0] <= t) s[starts[k++][1]]++;
    m.counts = c.slice();
    m.started = s.slice();
    m.n = j;
  }
  // live truth: share of odd ids
  const live = req.filter((r) => r.route === 'live');
  const odd = live.filter((r) => +r.path.split('/').pop() % 2 === 1).length / live.length;
  const leaksOff = /off/.test(prefix);
  return { mem, req, leaksOff, liveTruthKB: leaksOff ? 0 : 18.4 * odd, oddShare: odd, newsTruthKB: leaksOff ? 0.5 : 239 };
}

// ---- linear algebra ----
export function cholSolve(A, b) {   // A symmetric PD (n x n arrays), returns x; also inverse via solveInv
  const n = A.length, L = A.map((r) => r.slice());
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = L[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      if (i === j) { if (s <= 0) s = 1e-300; L[i][i] = Math.sqrt(s); } else L[i][j] = s / L[j][j];
    }
    for (let j = i + 1; j < n; j++) L[i][j] = 0;
  }
  const solve = (v) => {
    const y = v.slice();
    for (let i = 0; i < n; i++) { for (let k = 0; k < i; k++) y[i] -= L[i][k] * y[k]; y[i] /= L[i][i]; }
    for (let i = n - 1; i >= 0; i--) { for (let k = i + 1; k < n; k++) y[i] -= L[k][i] * y[k]; y[i] /= L[i][i]; }
    return y;
  };
  return { x: b ? solve(b) : null, solve };
}
export function inverse(A) {
  const { solve } = cholSolve(A);
  return A.map((_, i) => solve(A.map((__, j) => (i === j ? 1 : 0))));
}

/**
 * OLS y = X b (+ e). Options: hc ('hc3'|'hc0'|'nw' with lag L), weights w (WLS), ridge.
 * Returns {b, se, resid, sd, h, n, p, rho, vif}.
 */
export function ols(X, y, { hc = 'hc3', nwLag = 0, w = null, scale = null } = {}) {
  const n = X.length, p = X[0].length;
  const sw = w ? w.map(Math.sqrt) : new Array(n).fill(1);
  const Xw = X.map((r, i) => r.map((v) => v * sw[i])), yw = y.map((v, i) => v * sw[i]);
  // column scaling for conditioning
  const cs = new Array(p).fill(0);
  for (const r of Xw) r.forEach((v, j) => { cs[j] += v * v; });
  for (let j = 0; j < p; j++) cs[j] = Math.sqrt(cs[j] / n) || 1;
  const Z = Xw.map((r) => r.map((v, j) => v / cs[j]));
  const XtX = Array.from({ length: p }, () => new Array(p).fill(0)), Xty = new Array(p).fill(0);
  for (let i = 0; i < n; i++) for (let a = 0; a < p; a++) { Xty[a] += Z[i][a] * yw[i]; for (let c = 0; c <= a; c++) XtX[a][c] += Z[i][a] * Z[i][c]; }
  for (let a = 0; a < p; a++) { for (let c = a + 1; c < p; c++) XtX[a][c] = XtX[c][a]; XtX[a][a] += 1e-9 * n; }
  const inv = inverse(XtX);
  const bz = inv.map((r) => r.reduce((s, v, j) => s + v * Xty[j], 0));
  const resid = yw.map((v, i) => v - Z[i].reduce((s, z, j) => s + z * bz[j], 0));
  const h = Z.map((r) => { let s = 0; for (let a = 0; a < p; a++) { let t = 0; for (let c = 0; c < p; c++) t += inv[a][c] * r[c]; s += r[a] * t; } return s; });
  const u = resid.map((e, i) => (hc === 'hc3' ? e / Math.max(1e-6, 1 - h[i]) : hc === 'hc1' ? e * Math.sqrt(n / Math.max(1, n - p)) : e));
  // meat
  const M = Array.from({ length: p }, () => new Array(p).fill(0));
  const sc = Z.map((r, i) => r.map((v) => v * u[i]));
  for (let i = 0; i < n; i++) for (let a = 0; a < p; a++) for (let c = 0; c < p; c++) M[a][c] += sc[i][a] * sc[i][c];
  for (let L = 1; L <= nwLag; L++) {
    const wt = 1 - L / (nwLag + 1);
    for (let i = L; i < n; i++) for (let a = 0; a < p; a++) for (let c = 0; c < p; c++) M[a][c] += wt * (sc[i][a] * sc[i - L][c] + sc[i - L][a] * sc[i][c]);
  }
  let V;
  if (hc === 'classic') {
    const s2 = resid.reduce((s, e) => s + e * e, 0) / Math.max(1, n - p);
    V = inv.map((r) => r.map((v) => v * s2));
  } else V = mul(mul(inv, M), inv);
  const b = bz.map((v, j) => v / cs[j]);
  const se = V.map((r, j) => Math.sqrt(Math.max(0, r[j])) / cs[j]);
  const sd = Math.sqrt(resid.reduce((s, e) => s + e * e, 0) / Math.max(1, n - p));
  // lag-1 autocorrelation of residuals
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) { den += resid[i] * resid[i]; if (i) num += resid[i] * resid[i - 1]; }
  const rho = den ? num / den : 0;
  // VIF from correlation-free inverse of scaled X'X: vif_j = inv_jj * XtX_jj (uncentred)
  const vif = inv.map((r, j) => r[j] * XtX[j][j]);
  return { b, se, resid, sd, h, n, p, rho, vif, V: V.map((r, a) => r.map((v, c) => v / cs[a] / cs[c])) };
}
function mul(A, B) { return A.map((r) => B[0].map((_, j) => r.reduce((s, v, k) => s + v * B[k][j], 0))); }

export const median = (xs) => { const s = xs.slice().sort((a, b) => a - b); const n = s.length; return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : NaN; };
export const mean = (xs) => xs.reduce((s, v) => s + v, 0) / xs.length;
export const sdev = (xs) => { const m = mean(xs); return Math.sqrt(xs.reduce((s, v) => s + (v - m) ** 2, 0) / Math.max(1, xs.length - 1)); };
