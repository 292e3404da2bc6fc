import { loadRun } from './lib.mjs';
import { troughs, scavTroughs } from './floors.mjs';
import { levelFit } from './fit.mjs';
import { fmt } from './common.mjs';
for (const s of ['s1', 's2', 's3']) {
  const run = loadRun('data/' + s);
  for (const [name, pts] of [['tr1s', troughs(run.mem, 1000)], ['scav', scavTroughs(run.mem)]])
    for (const L of [0, 5, 20]) console.log(s, name, 'NW' + L, fmt(levelFit(pts, { nwLag: L }), run));
}
