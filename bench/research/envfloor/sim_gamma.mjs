// Does route-specific old-gen garbage (reclaimed only at major GCs) bias trough-row OLS?
// 2 routes (A: garbage gA per request, B: none), true beta = 0 for both; MC every ~cycle requests.
import { prng, } from '../../../demo/load.mjs';
import { ols } from './lib.mjs';
const rand = prng(7);
function run(rowReq, cycleReq, gA, endogenous) {
  const rows = []; let G = 0, sinceMC = 0, prevLevel = 0;
  let nA = 0, nB = 0, cum = 0; const X = [], y = [];
  for (let i = 0; i < 200000; i++) {
    const a = rand() < 0.3; if (a) { nA++; G += gA; } else nB++;
    sinceMC++; cum++;
    // MC: after cycleReq requests (exogenous) or when G exceeds gA*0.3*cycleReq (endogenous)
    if ((!endogenous && sinceMC >= cycleReq) || (endogenous && G >= gA * 0.3 * cycleReq)) { G = 0; sinceMC = 0; }
    if (cum % rowReq === 0) { X.push([nA, nB]); y.push(G - prevLevel); prevLevel = G; nA = 0; nB = 0; }
  }
  const f = ols(X, y, { hc: 'hc3' });
  return f.b.map((v) => (v / gA).toFixed(2)).join(' / ');
}
for (const endo of [false, true]) for (const [rowReq, cyc] of [[150, 1500], [30, 1500], [750, 1500], [1500, 1500], [150, 150000]])
  console.log(`endogenous=${endo} row ${rowReq} req, cycle ${cyc} req (R=${cyc / rowReq}): beta_A/gA, beta_B/gA = ${run(rowReq, cyc, 100, endo)}`);
