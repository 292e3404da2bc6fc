// bias diagnostic: replace y by y - truth-implied live growth (news 239 KiB, live 18.4 KiB on odd ids,
// product cache 20 KiB per new id until 200 entries): what remains is the GC noise; its fit = bias.
import { loadRun, ROUTES } from './lib.mjs';
import { troughs, scavTroughs } from './floors.mjs';
import { gcFit } from './gcmodel.mjs';
import { fmt } from './common.mjs';
export function truthLevel(run) {
  if (run.leaksOff) return () => 0;
  // per-request truth in bytes at completion time; returns fn(t)-> cumulative retained
  const ev = run.req.map((r) => {
    let b = 0;
    if (r.route === 'news') b = 244747;
    if (r.route === 'live' && +r.path.split('/').pop() % 2 === 1) b = 18847;
    return [r.te, b];
  }).sort((a, b) => a[0] - b[0]);
  return (t) => { let s = 0; for (const [te, b] of ev) { if (te > t) break; s += b; } return s; };
}
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const s of ['s1', 's2', 's3']) {
    const run = loadRun('data/' + s);
    const L = truthLevel(run);
    for (const [name, pts0] of [['tr1s', troughs(run.mem, 1000)], ['scav', scavTroughs(run.mem)]]) {
      const pts = pts0.map((p) => ({ ...p, level: p.level - L(p.t) }));
      for (const mode of ['none', 'drop', 'model']) {
        const f = gcFit(pts, { mode, thrMin: 3e6, thrFrac: 0.02 });
        console.log(s, name, mode.padEnd(5), 'BIAS', fmt(f, run));
      }
    }
  }
}
