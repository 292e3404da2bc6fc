// grid2: trough window length x GC mode (counts 'mid'), MC threshold variants; real + bias diag, sub-window honesty
import { loadRun, HEALTHY } from './lib.mjs';
import { troughs, scavTroughs } from './floors.mjs';
import { gcFit } from './gcmodel.mjs';
import { truthLevel } from './bias.mjs';
const runs = ['s1', 's2', 's3'].map((s) => { const r = loadRun('data/' + s); r.L = truthLevel(r); return r; });
const cm = process.argv[2] || 'mid';
const defs = [['scav', (m) => scavTroughs(m, cm)], ['w300', (m) => troughs(m, 300, cm)], ['w500', (m) => troughs(m, 500, cm)], ['w700', (m) => troughs(m, 700, cm)], ['w1000', (m) => troughs(m, 1000, cm)]];
for (const [d, fn] of defs) for (const [mode, thr] of [['none', 0], ['drop', 3e6], ['drop', 6e6], ['model', 3e6], ['model', 6e6]]) {
  const cells = [], hz = [], nz = [];
  let rows = 0, sd = 0, nmc = 0;
  for (const run of runs) {
    const pts = fn(run.mem);
    const opt = { mode, thrMin: thr, thrFrac: thr / 150e6 };
    const f = gcFit(pts, opt);
    const fb = gcFit(pts.map((p) => ({ ...p, level: p.level - run.L(p.t) })), opt);
    rows += f.n / 3; sd += f.sd / 1024 / 3; nmc += f.nmc / 3;
    cells.push(`${f.beta.news.toFixed(0)}±${f.se.news.toFixed(0)}`);
    nz.push((f.beta.news - 239) / f.se.news);
    for (const r of HEALTHY) if (fb.beta[r] !== undefined) hz.push(fb.beta[r] / fb.se[r]);
  }
  const rms = (a) => Math.sqrt(a.reduce((s, z) => s + z * z, 0) / a.length).toFixed(2);
  console.log(`${d.padEnd(5)} ${mode.padEnd(5)} ${(thr / 1e6).toFixed(0)}MB | rows ${rows.toFixed(0).padStart(3)} mc ${nmc.toFixed(1)} sd ${sd.toFixed(2)} | news ${cells.join(' ')} | news z ${nz.map((z) => z.toFixed(1)).join(' ')} | healthy rms z ${rms(hz)}`);
}
