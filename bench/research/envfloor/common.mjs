import { HEALTHY } from './lib.mjs';
export const fmt = (f, run) => {
  if (!f) return 'no fit';
  const h = HEALTHY.filter((r) => f.beta[r] !== undefined);
  const zs = h.map((r) => f.beta[r] / f.se[r]);
  const worst = h.reduce((a, r) => (Math.abs(f.beta[r]) > Math.abs(f.beta[a]) ? r : a), h[0]);
  return `n ${f.n} sd ${(f.sd / 1024).toFixed(2)}MB rho ${f.rho.toFixed(2)} | news ${f.beta.news.toFixed(0)} ± ${f.se.news.toFixed(0)} | live ${f.beta.live?.toFixed(1)}±${f.se.live?.toFixed(0)} (${run.liveTruthKB.toFixed(1)}) | max|h| ${worst} ${f.beta[worst].toFixed(0)}±${f.se[worst].toFixed(0)} | rmsz_h ${Math.sqrt(zs.reduce((s, z) => s + z * z, 0) / zs.length).toFixed(2)}`;
};
