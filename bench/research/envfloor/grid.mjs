// grid: trough definition x counts timing x GC mode; real estimates and bias diagnostic
import { loadRun, HEALTHY } from './lib.mjs';
import { troughs, scavTroughs } from './floors.mjs';
import { gcFit } from './gcmodel.mjs';
import { truthLevel } from './bias.mjs';
const runs = ['s1', 's2', 's3'].map((s) => { const r = loadRun('data/' + s); r.L = truthLevel(r); return r; });
const defs = { tr1: (m, cm) => troughs(m, 1000, cm), tr2: (m, cm) => troughs(m, 2000, cm), tr5: (m, cm) => troughs(m, 5000, cm), scav: (m, cm) => scavTroughs(m, cm) };
const only = process.argv[2] ? process.argv[2].split(',') : Object.keys(defs);
console.log('def  counts mode  | rows  sd(MB) | news est±SE per seed | news-truth z per seed | healthy: rms z (bias diag), max |b|/SE | SE ratio');
for (const d of only) for (const cm of ['cur', 'prev', 'mid']) for (const mode of ['none', 'drop', 'model']) {
  const cells = [], zs = [], hz = [], maxh = [];
  let rows = 0, sd = 0;
  for (const run of runs) {
    const pts = defs[d](run.mem, cm);
    const f = gcFit(pts, { mode, thrMin: 3e6, thrFrac: 0.02 });
    const fb = gcFit(pts.map((p) => ({ ...p, level: p.level - run.L(p.t) })), { mode, thrMin: 3e6, thrFrac: 0.02 });
    rows += f.n / 3; sd += f.sd / 1024 / 3;
    cells.push(`${f.beta.news.toFixed(0)}±${f.se.news.toFixed(0)}`);
    zs.push(((f.beta.news - 239) / f.se.news).toFixed(1));
    for (const r of HEALTHY) if (fb.beta[r] !== undefined) { hz.push(fb.beta[r] / fb.se[r]); }
    const h = HEALTHY.filter((r) => f.beta[r] !== undefined);
    maxh.push(Math.max(...h.map((r) => Math.abs(f.beta[r]))).toFixed(0) + '/' + Math.max(...h.map((r) => f.se[r])).toFixed(0));
  }
  console.log(`${d.padEnd(4)} ${cm.padEnd(4)} ${mode.padEnd(5)} | ${rows.toFixed(0).padStart(4)} ${sd.toFixed(2)} | ${cells.join(' ')} | z ${zs.join(' ')} | rmsz_h ${Math.sqrt(hz.reduce((s, z) => s + z * z, 0) / hz.length).toFixed(2)} max ${maxh.join(' ')}`);
}
