import { loadRun, ROUTES, HEALTHY } from './lib.mjs';
import { troughs, gcFloors } from './floors.mjs';
import { rowsFrom, diffFit } from './fit.mjs';
const fmt = (f, run) => {
  if (!f) return 'no fit';
  const h = HEALTHY.filter((r) => f.beta[r] !== undefined);
  const zs = h.map((r) => f.beta[r] / f.se[r]);
  const worst = h.reduce((a, r) => (Math.abs(f.beta[r]) > Math.abs(f.beta[a]) ? r : a), h[0]);
  return `rows ${f.n} sd ${(f.sd / 1024).toFixed(2)}MB rho ${f.rho.toFixed(2)} drop ${f.dropped} | news ${f.beta.news.toFixed(0)} ± ${f.se.news.toFixed(0)} | live ${f.beta.live.toFixed(1)}±${f.se.live.toFixed(0)} (truth ${run.liveTruthKB.toFixed(1)}) | max|healthy| ${worst} ${f.beta[worst].toFixed(0)}±${f.se[worst].toFixed(0)} | rms z healthy ${Math.sqrt(zs.reduce((s, z) => s + z * z, 0) / zs.length).toFixed(2)}`;
};
for (const s of ['s1', 's2', 's3', 'gc1']) {
  const run = loadRun('data/' + s);
  for (const win of [1000, 2000, 5000, 10000]) {
    const pts = s === 'gc1' && win === 1000 ? gcFloors(run.mem) : troughs(run.mem.filter((m) => !m.gc), win);
    for (const dt of [false, true]) console.log(s, s === 'gc1' && win === 1000 ? 'forcedGC' : win, dt ? 'dt' : '  ', fmt(diffFit(rowsFrom(pts), { dt }), run));
  }
}
