// honesty of SEs: each run cut in thirds (by time) -> 12 fits with leaks (s1-s4) + 3 (off5).
// z = (estimate - truth)/SE; truth: news 239 (0.5 off), healthy routes via the bias diagnostic.
import { loadRun, HEALTHY, ROUTES } from './lib.mjs';
import { troughs, scavTroughs, fallPoints } from './floors.mjs';
import { gcFit } from './gcmodel.mjs';
import { truthLevel } from './bias.mjs';
const runs = ['s1', 's2', 's3', 's4', 'off5'].map((s) => { const r = loadRun('data/' + s); r.L = truthLevel(r); r.name = s; return r; });
const M = {
  A: (m, o) => gcFit(troughs(m, 1000, 'cur'), { mode: 'none', ...o }),
  C: (m, o) => gcFit(troughs(m, 1000, 'mid'), { mode: 'model', thrMin: 3e6, thrFrac: 0.02, ...o }),
  D: (m, o) => gcFit(troughs(m, 1000, 'mid'), { mode: 'drop', thrMin: 3e6, thrFrac: 0.02, ...o }),
  F: (m, o) => gcFit(scavTroughs(m, 'mid'), { mode: 'none', ...o }),
  G: (m, o) => gcFit(scavTroughs(m, 'mid'), { mode: 'model', thrMin: 6e6, thrFrac: 0.04, ...o }),
  H: (m, o) => gcFit(fallPoints(m, 'mid'), { mode: 'none', ...o }),
};
const rms = (a) => Math.sqrt(a.reduce((s, z) => s + z * z, 0) / a.length);
for (const [name, fn] of Object.entries(M)) {
  const nz = [], hz = [], ses = [];
  for (const run of runs) {
    const T = run.mem[run.mem.length - 1].tr;
    const memB = run.mem.map((m) => ({ ...m, heap: m.heap - run.L(m.tr) }));
    for (let k = 0; k < 3; k++) {
      const keep = (r) => r.t0 >= (k * T) / 3 && r.t1 < ((k + 1) * T) / 3;
      const g = fn(run.mem, { keep }), gb = fn(memB, { keep });
      if (!g || !gb) continue;
      nz.push((g.beta.news - run.newsTruthKB) / g.se.news); ses.push(g.se.news);
      const hl = run.leaksOff ? ROUTES : HEALTHY;
      for (const r of hl) if (gb.beta[r] !== undefined && !(k === 0 && r === 'product')) hz.push(gb.beta[r] / gb.se[r]);
    }
  }
  ses.sort((a, b) => a - b);
  console.log(`${name}: thirds ${nz.length}: news rms z ${rms(nz).toFixed(2)} mean z ${(nz.reduce((a, b) => a + b, 0) / nz.length).toFixed(2)}, median SE ${ses[Math.floor(ses.length / 2)].toFixed(0)} KB | healthy rms z ${rms(hz).toFixed(2)} (n ${hz.length}), |z|>2.58: ${hz.filter((z) => Math.abs(z) > 2.58).length} (expect ${(hz.length * 0.01).toFixed(1)})`);
}
