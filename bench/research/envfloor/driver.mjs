// driver.mjs -- load + /__mem poller in one process (same clock).
// usage: node driver.mjs PORT SEED OUTPREFIX [--requests N] [--rate R] [-c C] [--gc-every K]
//   --gc-every K: every K-th poll uses /__mem?gc=1 (0 = never; default 0)
// Writes OUTPREFIX.mem.csv  (t_send,t_recv,heapUsed,heapTotal,external,arrayBuffers,rss,gc,gc_ms)
//        OUTPREFIX.req.csv  (t_start,t_end,route,path,status)     times in ms since start
import http from 'node:http';
import { createWriteStream } from 'node:fs';
import { loadMix, sequence } from '../../../demo/load.mjs';

const a = process.argv.slice(2);
const port = Number(a[0]), seed = Number(a[1]), out = a[2];
const opt = { requests: 10500, rate: 150, c: 4, gcEvery: 0 };
for (let i = 3; i < a.length; i += 2) {
  const k = a[i], v = Number(a[i + 1]);
  if (k === '--requests') opt.requests = v; else if (k === '--rate') opt.rate = v;
  else if (k === '-c') opt.c = v; else if (k === '--gc-every') opt.gcEvery = v;
  else throw new Error('bad arg ' + k);
}
const routes = loadMix(new URL('../../../demo/vue/routes.json', import.meta.url).pathname);
const seq = sequence(routes, seed);
const memW = createWriteStream(out + '.mem.csv');
const reqW = createWriteStream(out + '.req.csv');
memW.write('t_send,t_recv,heapUsed,heapTotal,external,arrayBuffers,rss,gc,gc_ms\n');
reqW.write('t_start,t_end,route,path,status\n');

const agent = new http.Agent({ keepAlive: true, maxSockets: opt.c });
const memAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const t0 = performance.now();
const now = () => performance.now() - t0;

function get(path, ag) {
  return new Promise((resolve) => {
    const req = http.request({ hostname: '127.0.0.1', port, path, agent: ag, timeout: 30000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', () => resolve({ status: 0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0 }));
    req.end();
  });
}

let polls = 0, outstanding = false, skipped = 0, stopPoll = false;
const pollTimer = setInterval(async () => {
  if (stopPoll) return;
  if (outstanding) { skipped++; return; }
  outstanding = true;
  const gc = opt.gcEvery > 0 && (polls % opt.gcEvery === opt.gcEvery - 1);
  polls++;
  const ts = now();
  const r = await get(gc ? '/__mem?gc=1' : '/__mem', memAgent);
  const tr = now();
  outstanding = false;
  if (r.status !== 200) return;
  const m = JSON.parse(r.body.toString());
  memW.write(`${ts.toFixed(3)},${tr.toFixed(3)},${m.heapUsed},${m.heapTotal},${m.external},${m.arrayBuffers},${m.rss},${gc ? 1 : 0},${m.gc_ms ?? ''}\n`);
}, 100);

let issued = 0, done = 0;
async function worker() {
  while (issued < opt.requests) {
    const i = issued++;
    const q = seq.next();
    const wait = (i * 1000) / opt.rate - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const ts = now();
    const r = await get(q.path, agent);
    const te = now();
    done++;
    reqW.write(`${ts.toFixed(3)},${te.toFixed(3)},${q.route},${q.path},${r.status}\n`);
  }
}
const prog = setInterval(() => process.stderr.write(`\r${(now() / 1000).toFixed(0)}s ${done} req, polls ${polls}, skipped ${skipped}   `), 2000);
await Promise.all(Array.from({ length: opt.c }, worker));
// keep polling 3 s after the load so the last trough exists
await new Promise((r) => setTimeout(r, 3000));
stopPoll = true; clearInterval(pollTimer); clearInterval(prog);
await new Promise((r) => setTimeout(r, 300));
memW.end(); reqW.end();
agent.destroy(); memAgent.destroy();
process.stderr.write(`\ndone ${done} req in ${(now() / 1000).toFixed(1)} s, polls ${polls}, skipped ${skipped}\n`);
