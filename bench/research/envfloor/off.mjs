import { loadRun, ROUTES } from './lib.mjs';
import { troughs, scavTroughs, fallPoints, mcFloors } from './floors.mjs';
import { gcFit } from './gcmodel.mjs';
import { fmt } from './common.mjs';
const run = loadRun('data/' + (process.argv[2] || 'off5'));
for (const [nm, pts] of [['w1000 cur', troughs(run.mem, 1000, 'cur')], ['w1000 mid', troughs(run.mem, 1000, 'mid')], ['scav mid', scavTroughs(run.mem, 'mid')], ['fall mid', fallPoints(run.mem, 'mid')]])
  for (const mode of ['none', 'drop', 'model']) {
    const f = gcFit(pts, { mode, thrMin: 5e6, thrFrac: 0.05 });
    console.log(nm.padEnd(10), mode.padEnd(5), 'mc', f.nmc, fmt(f, run), 'all:', ROUTES.map((r) => `${r} ${f.beta[r]?.toFixed(0)}±${f.se[r]?.toFixed(0)}`).join(' '));
  }
const mc = mcFloors(run.mem, { dropMin: 8e6, dropFrac: 0.05 });
console.log('MCs', mc.length, mc.map((p) => (p.t0 / 1000).toFixed(1) + '(' + (p.drop / 1e6).toFixed(0) + ')').join(' '));
