import { loadRun } from './lib.mjs';
import { mcFloors } from './floors.mjs';
for (const s of ['s1', 's2', 's3']) {
  const run = loadRun('data/' + s);
  for (const o of [{ dropMin: 4e6, dropFrac: 0.03 }, { dropMin: 3e6, dropFrac: 0.0 }, {dropMin: 6e6, dropFrac: 0.0}]) {
    const f = mcFloors(run.mem, o);
    console.log(s, JSON.stringify(o), f.length, f.map((p) => `${(p.t0 / 1000).toFixed(1)}(${(p.drop / 1e6).toFixed(1)})`).join(' '));
  }
}
