import { loadRun } from './lib.mjs';
import { troughs, scavTroughs } from './floors.mjs';
import { gcFit } from './gcmodel.mjs';
import { fmt } from './common.mjs';
for (const s of ['s1', 's2', 's3']) {
  const run = loadRun('data/' + s);
  for (const [name, pts] of [['tr1s', troughs(run.mem, 1000)], ['scav', scavTroughs(run.mem)]]) {
    for (const mode of ['none', 'drop', 'model']) {
      const f = gcFit(pts, { mode, thrMin: 3e6, thrFrac: 0.02 });
      console.log(s, name, mode.padEnd(5), `mc ${f.nmc}`, fmt(f, run), mode === 'model' ? `gamma ${f.beta.extra0.toFixed(1)}±${f.se.extra0.toFixed(1)}` : '');
    }
  }
}
