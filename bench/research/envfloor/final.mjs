// final.mjs -- the comparison table in the report (s1..s4 leaks on, off5 leaks off).
import { loadRun, HEALTHY, ROUTES, ols } from './lib.mjs';
import { troughs, scavTroughs, fallPoints, mcFloors } from './floors.mjs';
import { rowsFrom, diffFit, levelFit } from './fit.mjs';
import { gcFit } from './gcmodel.mjs';
import { truthLevel } from './bias.mjs';
const seeds = ['s1', 's2', 's3', 's4'].map((s) => { const r = loadRun('data/' + s); r.L = truthLevel(r); return r; });
const off = loadRun('data/off5'); off.L = () => 0;
const M = {
  'A current: 1 s troughs, counts at arrival': (pts, o) => gcFit(troughs(pts, 1000, 'cur'), { mode: 'none', ...o }),
  'B 2 s troughs': (pts, o) => gcFit(troughs(pts, 2000, 'cur'), { mode: 'none', ...o }),
  'C 1 s troughs, mid counts, MC column': (pts, o) => gcFit(troughs(pts, 1000, 'mid'), { mode: 'model', thrMin: 3e6, thrFrac: 0.02, ...o }),
  'D 1 s troughs, mid counts, MC rows dropped': (pts, o) => gcFit(troughs(pts, 1000, 'mid'), { mode: 'drop', thrMin: 3e6, thrFrac: 0.02, ...o }),
  'E scavenge troughs (local minima), counts at arrival': (pts, o) => gcFit(scavTroughs(pts, 'cur'), { mode: 'none', ...o }),
  'F scavenge troughs, mid counts': (pts, o) => gcFit(scavTroughs(pts, 'mid'), { mode: 'none', ...o }),
  'G scavenge troughs, mid counts, MC column': (pts, o) => gcFit(scavTroughs(pts, 'mid'), { mode: 'model', thrMin: 6e6, thrFrac: 0.04, ...o }),
  'H every fall of heapUsed, mid counts': (pts, o) => gcFit(fallPoints(pts, 'mid'), { mode: 'none', ...o }),
  'I levels on 1 s troughs, NW(5)': (pts) => levelFit(troughs(pts, 1000, 'cur'), { nwLag: 5 }),
};
const rms = (a) => Math.sqrt(a.reduce((s, z) => s + z * z, 0) / a.length);
const withBias = (mem, L) => mem.map((m) => ({ ...m, heap: m.heap - L(m.tr) }));
console.log('| method | rows | resid sd MB | news β ± SE, seeds 1-4 (KB) | healthy max|β|/SE (KB) | healthy rms z (bias-diag) | LEAKS=off: news β±SE; max|z| all routes |');
console.log('|---|--:|--:|---|---|--:|---|');
for (const [name, fn] of Object.entries(M)) {
  const cells = [], hmax = [], hz = [];
  let rows = 0, sd = 0;
  for (const run of seeds) {
    const f = fn(run.mem, {}), fb = fn(withBias(run.mem, run.L), {});
    rows += f.n / 4; sd += f.sd / 1024 / 4;
    cells.push(`${f.beta.news.toFixed(0)}±${f.se.news.toFixed(0)}`);
    const h = HEALTHY.filter((r) => f.beta[r] !== undefined);
    const w = h.reduce((a, r) => (Math.abs(f.beta[r]) > Math.abs(f.beta[a]) ? r : a), h[0]);
    hmax.push(`${Math.abs(f.beta[w]).toFixed(0)}/${f.se[w].toFixed(0)}`);
    for (const r of HEALTHY) if (fb.beta[r] !== undefined) hz.push(fb.beta[r] / fb.se[r]);
  }
  const g = fn(off.mem, {});
  const zoff = ROUTES.filter((r) => g.beta[r] !== undefined).map((r) => Math.abs(g.beta[r] / g.se[r]));
  console.log(`| ${name} | ${rows.toFixed(0)} | ${sd.toFixed(2)} | ${cells.join(', ')} | ${hmax.join(', ')} | ${rms(hz).toFixed(2)} | ${g.beta.news.toFixed(0)}±${g.se.news.toFixed(0)}; ${Math.max(...zoff).toFixed(1)} |`);
}
// post-major-GC floors only: how many rows would there be?
const mcs = [...seeds, off].map((r) => mcFloors(r.mem, { dropMin: 4e6, dropFrac: 0.03 }).length);
console.log(`\npost-major-GC floors (heapUsed fall > max(4 MB, 3 %) below the last 1 s minimum): ${mcs.join(', ')} per run (s1-s4, off5)`);
// news vs pooled others on post-MC rows (2 columns) to show their noise
for (const run of [...seeds, off]) {
  const pts = mcFloors(run.mem, { dropMin: 4e6, dropFrac: 0.03 });
  const rows = rowsFrom(pts, { skipFirst: false }).slice(1);
  if (rows.length < 3) { console.log('  too few rows', rows.length); continue; }
  const f = ols(rows.map((r) => [r.x[5], r.x.reduce((s, v) => s + v, 0) - r.x[5]]), rows.map((r) => r.y), { hc: 'hc3' });
  console.log(`  post-MC rows ${rows.length}: news ${(f.b[0] / 1024).toFixed(0)}±${(f.se[0] / 1024).toFixed(0)} others ${(f.b[1] / 1024).toFixed(1)}±${(f.se[1] / 1024).toFixed(1)}, resid sd ${(f.sd / 1048576).toFixed(2)} MB`);
}
