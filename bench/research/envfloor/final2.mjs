// robust pass on/off for the scavenge-resolution methods (the pass can drop major-GC rows)
import { loadRun, HEALTHY, ROUTES } from './lib.mjs';
import { troughs, scavTroughs } from './floors.mjs';
import { gcFit } from './gcmodel.mjs';
import { truthLevel } from './bias.mjs';
const seeds = ['s1', 's2', 's3', 's4'].map((s) => { const r = loadRun('data/' + s); r.L = truthLevel(r); return r; });
const off = loadRun('data/off5');
const M = {
  'A current': (m, o) => gcFit(troughs(m, 1000, 'cur'), { mode: 'none', ...o }),
  'F scav mid': (m, o) => gcFit(scavTroughs(m, 'mid'), { mode: 'none', ...o }),
  'G scav mid + MC column (6MB/4%)': (m, o) => gcFit(scavTroughs(m, 'mid'), { mode: 'model', thrMin: 6e6, thrFrac: 0.04, ...o }),
  'G3 scav mid + MC column (3MB/2%)': (m, o) => gcFit(scavTroughs(m, 'mid'), { mode: 'model', thrMin: 3e6, thrFrac: 0.02, ...o }),
};
const rms = (a) => Math.sqrt(a.reduce((s, z) => s + z * z, 0) / a.length);
for (const robust of [true, false]) for (const [name, fn] of Object.entries(M)) {
  const cells = [], hz = [], hm = [];
  let dropped = 0, sd = 0;
  for (const run of seeds) {
    const f = fn(run.mem, { robust }), fb = fn(run.mem.map((m) => ({ ...m, heap: m.heap - run.L(m.tr) })), { robust });
    cells.push(`${f.beta.news.toFixed(0)}±${f.se.news.toFixed(0)}`); dropped += f.dropped; sd += f.sd / 4096;
    for (const r of HEALTHY) if (fb.beta[r] !== undefined) hz.push(fb.beta[r] / fb.se[r]);
    hm.push(HEALTHY.reduce((s, r) => s + (f.beta[r] ?? 0), 0) / HEALTHY.length);
  }
  const g = fn(off.mem, { robust });
  const zoff = ROUTES.map((r) => g.beta[r] / g.se[r]);
  console.log(`${robust ? 'robust' : 'plain '} ${name.padEnd(32)} dropped ${dropped} sd ${sd.toFixed(2)}MB | news ${cells.join(' ')} | healthy rms z ${rms(hz).toFixed(2)} mean healthy β ${hm.map((v) => v.toFixed(0)).join(' ')} | off5 news ${g.beta.news.toFixed(0)}±${g.se.news.toFixed(0)} rms z all ${rms(zoff).toFixed(2)} mean β ${(ROUTES.reduce((s, r) => s + g.beta[r], 0) / 10).toFixed(0)}${g.beta.extra0 !== undefined ? ` γ ${g.beta.extra0.toFixed(1)}±${g.se.extra0.toFixed(1)}` : ''}`);
}
