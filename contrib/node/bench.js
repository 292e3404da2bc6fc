'use strict';
// Per-request cost of leakproxy-memory: `node bench.js` (micro, ns/request), and
// `node bench.js --wrk` (also end to end: a hello-world node:http server with and without the
// hook under wrk, when wrk is installed). Numbers are medians of 5 rounds.
const http = require('node:http');
const { execFileSync, spawn } = require('node:child_process');
const lp = require('.');

function nsPerOp(fn, n) {
  for (let i = 0; i < Math.min(n, 20000); i++) fn(i); // warm-up
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    rounds.push(Number(process.hrtime.bigint() - t0) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2];
}

const req = new http.IncomingMessage(null);
req.url = '/products/1';
req.method = 'GET';
let sink = 0;

function micro() {
  const cached = lp.create({ maxAgeMs: 50 });
  const fresh = lp.create({ maxAgeMs: 0 });
  const rows = [
    ['process.memoryUsage()', nsPerOp(() => { sink += process.memoryUsage().rss; }, 2e5)],
    ['process.memoryUsage.rss()', nsPerOp(() => { sink += process.memoryUsage.rss(); }, 2e5)],
    ['header value, no cache (maxAgeMs 0)', nsPerOp(() => { sink += fresh.headerValue().length; }, 2e5)],
    ['header value, cached (maxAgeMs 50)', nsPerOp(() => { sink += cached.headerValue().length; }, 2e6)],
  ];
  // A whole response head: new ServerResponse + writeHead (serialises the head), without and
  // with the hook (setHeader at request start + writeHead patch + refresh).
  const base = nsPerOp(() => { const res = new http.ServerResponse(req); res.setHeader('Content-Type', 'text/html'); res.writeHead(200); sink += res._header.length; }, 2e5);
  const withC = nsPerOp(() => { const res = new http.ServerResponse(req); cached.hook(req, res); res.setHeader('Content-Type', 'text/html'); res.writeHead(200); sink += res._header.length; }, 2e5);
  const withF = nsPerOp(() => { const res = new http.ServerResponse(req); fresh.hook(req, res); res.setHeader('Content-Type', 'text/html'); res.writeHead(200); sink += res._header.length; }, 2e5);
  rows.push(['response head, no hook (baseline)', base]);
  rows.push(['response head + hook, cached: extra', withC - base]);
  rows.push(['response head + hook, no cache: extra', withF - base]);
  console.log(`node ${process.version}, ${require('os').cpus()[0].model.trim()}`);
  for (const [k, v] of rows) console.log(`${k.padEnd(42)} ${v.toFixed(0).padStart(7)} ns`);
  return sink;
}

async function e2e() {
  try { execFileSync('wrk', ['--version'], { stdio: 'ignore' }); } catch (e) {
    if (e.code === 'ENOENT') { console.log('wrk not installed: end-to-end skipped'); return; }
  }
  // The server's own CPU time per request (process.cpuUsage() over the wrk run) is measured
  // rather than req/s, which swings with whatever else runs on the machine.
  const server = (mode) => `const http=require('node:http');const lp=require(${JSON.stringify(__dirname)});
    const body='<html>'+'x'.repeat(1000)+'</html>';
    let s=http.createServer((q,r)=>{r.setHeader('Content-Type','text/html');r.end(body)});
    if(${JSON.stringify(mode)}!=='none') lp.attach(s,{maxAgeMs:${mode === 'nocache' ? 0 : 50}});
    let c0;process.stdin.on('data',(d)=>{if(String(d)[0]==='s')c0=process.cpuUsage();else{const c=process.cpuUsage(c0);console.log(c.user+c.system);}});
    s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const line = (child) => new Promise((r) => child.stdout.once('data', (d) => r(Number(String(d)))));
  const res = { none: [], cached: [], nocache: [] };
  const rps = { none: [], cached: [], nocache: [] };
  for (let round = 0; round < 5; round++) {
    for (const mode of Object.keys(res)) {
      const child = spawn(process.execPath, ['-e', server(mode)], { stdio: ['pipe', 'pipe', 'inherit'] });
      const port = await line(child);
      execFileSync('wrk', ['-t1', '-c32', '-d1s', `http://127.0.0.1:${port}/`]); // warm-up
      child.stdin.write('s\n');
      await new Promise((r) => setTimeout(r, 50));
      const out = execFileSync('wrk', ['-t1', '-c32', '-d3s', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
      const cpu = line(child);
      child.stdin.write('e\n');
      const us = await cpu;
      child.kill();
      const n = Number(/(\d+) requests in/.exec(out)[1]);
      res[mode].push((us * 1000) / n);
      rps[mode].push(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]));
    }
  }
  const med = (a) => a.slice().sort((x, y) => x - y)[2];
  const base = med(res.none);
  console.log('\nend to end (wrk -t1 -c32, 1 KB page, node:http; server CPU per request, medians of 5 rounds):');
  for (const mode of Object.keys(res)) {
    const v = med(res[mode]);
    const extra = mode === 'none' ? '' : `  (+${(v - base).toFixed(0)} ns)`;
    console.log(`  ${mode.padEnd(8)} ${v.toFixed(0).padStart(7)} ns CPU/request, ${med(rps[mode]).toFixed(0)} req/s${extra}`);
  }
}

micro();
if (process.argv.includes('--wrk')) e2e();
