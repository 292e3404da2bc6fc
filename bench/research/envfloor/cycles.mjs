// Per major-GC cycle: garbage collected D = (last 1 s trough before the MC) - (post-MC floor),
// against the cycle's request counts (news vs the rest). If news garbage sits in old space until the
// next major GC, D grows with the news count of the cycle.
import { loadRun, ols } from './lib.mjs';
import { mcFloors, troughs } from './floors.mjs';
for (const s of process.argv.slice(2)) {
  const run = loadRun('data/' + s);
  const mc = mcFloors(run.mem, { dropMin: 4e6, dropFrac: 0.03 });
  const rows = [];
  for (let k = 1; k < mc.length; k++) {
    // highest post-scavenge level just before the MC: min over the 1 s before detection
    const pre = run.mem.filter((m) => m.tr < mc[k].t0 && m.tr >= mc[k].t0 - 1000);
    const preLo = Math.min(...pre.map((m) => m.heap));
    const D = preLo - mc[k].level;
    const n = mc[k].counts.map((c, r) => c - mc[k - 1].counts[r]);
    const news = n[5], tot = n.reduce((a, b) => a + b, 0);
    rows.push({ D, news, other: tot - news });
    console.log(s, `cycle ${k}: ${(mc[k - 1].t0 / 1000).toFixed(1)}-${(mc[k].t0 / 1000).toFixed(1)} s, requests ${tot}, news ${news}, garbage collected ${(D / 1e6).toFixed(1)} MB = ${(D / tot / 1024).toFixed(1)} KB/req`);
  }
  if (rows.length >= 4) {
    const f = ols(rows.map((r) => [r.news, r.other]), rows.map((r) => r.D), { hc: 'hc3' });
    console.log(s, `D ~ news + other: news ${(f.b[0] / 1024).toFixed(0)}±${(f.se[0] / 1024).toFixed(0)} KB, other ${(f.b[1] / 1024).toFixed(1)}±${(f.se[1] / 1024).toFixed(1)} KB per request`);
  }
}
