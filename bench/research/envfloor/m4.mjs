import { loadRun } from './lib.mjs';
import { scavTroughs, troughs } from './floors.mjs';
import { rowsFrom, diffFit } from './fit.mjs';
import { fmt } from './common.mjs';
import { truthLevel } from './bias.mjs';
for (const s of ['s1', 's2', 's3']) {
  const run = loadRun('data/' + s); const L = truthLevel(run);
  for (const robust of [true, false]) for (const [nm, fn] of [['tr1', (m) => troughs(m, 1000, 'mid')], ['scav', (m) => scavTroughs(m, 'mid')]]) {
    const pts = fn(run.mem);
    const f = diffFit(rowsFrom(pts), { robust });
    const fb = diffFit(rowsFrom(pts.map((p) => ({ ...p, level: p.level - L(p.t) }))), { robust });
    console.log(s, nm, robust ? 'robust' : 'plain ', 'dropped', f.dropped, fmt(f, run), '|| BIAS news', fb.beta.news.toFixed(0), 'healthy mean', (['home','about','products','product','user','gallery','search','static'].reduce((a,r)=>a+fb.beta[r],0)/8).toFixed(1));
  }
}
