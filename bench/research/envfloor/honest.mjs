// honesty: fits on thirds of each run (9 fits per method) -> RMS of z for news (truth 239) and for
// healthy routes on the bias-diagnostic series; plus whole-run results.
import { loadRun, HEALTHY } from './lib.mjs';
import { troughs, scavTroughs, fallPoints } from './floors.mjs';
import { rowsFrom, diffFit } from './fit.mjs';
import { truthLevel } from './bias.mjs';
const names = process.argv[2] ? process.argv[2].split(',') : ['s1', 's2', 's3'];
const runs = names.map((s) => { const r = loadRun('data/' + s); r.L = truthLevel(r); r.name = s; return r; });
export const METHODS = {
  'current w1000 cur': (m) => troughs(m, 1000, 'cur'),
  'w1000 mid': (m) => troughs(m, 1000, 'mid'),
  'w500 mid': (m) => troughs(m, 500, 'mid'),
  'scav cur': (m) => scavTroughs(m, 'cur'),
  'scav mid': (m) => scavTroughs(m, 'mid'),
  'fall mid': (m) => fallPoints(m, 'mid'),
  'fall1MB mid': (m) => fallPoints(m, 'mid', 1e6),
};
const rms = (a) => Math.sqrt(a.reduce((s, z) => s + z * z, 0) / a.length);
for (const [name, fn] of Object.entries(METHODS)) {
  const whole = [], nz = [], hz = [], hzw = [], subse = [];
  for (const run of runs) {
    const pts = fn(run.mem);
    const rows = rowsFrom(pts), rowsB = rowsFrom(pts.map((p) => ({ ...p, level: p.level - run.L(p.t) })));
    const f = diffFit(rows), fb = diffFit(rowsB);
    whole.push(`${f.beta.news.toFixed(0)}±${f.se.news.toFixed(0)}`);
    for (const r of HEALTHY) if (fb.beta[r] !== undefined) hzw.push(fb.beta[r] / fb.se[r]);
    const T = run.mem[run.mem.length - 1].tr;
    for (let k = 0; k < 3; k++) {
      const sel = (rs) => rs.filter((r) => r.t0 >= (k * T) / 3 && r.t1 < ((k + 1) * T) / 3);
      const g = diffFit(sel(rows)), gb = diffFit(sel(rowsB));
      if (!g) continue;
      nz.push((g.beta.news - run.newsTruthKB) / g.se.news); subse.push(g.se.news);
      for (const r of HEALTHY) if (gb.beta[r] !== undefined && !(k === 0 && r === 'product')) hz.push(gb.beta[r] / gb.se[r]);
    }
  }
  console.log(`${name.padEnd(18)} whole: news ${whole.join(' ')}  healthy rms z ${rms(hzw).toFixed(2)} | thirds: news rms z ${rms(nz).toFixed(2)} (${nz.map((z) => z.toFixed(1)).join(' ')}) median SE ${subse.sort((a, b) => a - b)[Math.floor(subse.length / 2)].toFixed(0)}; healthy rms z ${rms(hz).toFixed(2)} (n ${hz.length}), |z|>2.58: ${hz.filter((z) => Math.abs(z) > 2.58).length}`);
}
