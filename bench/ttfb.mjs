#!/usr/bin/env node
// bench/ttfb.mjs -- time to first byte, direct vs through leakproxy, with a
// streaming upstream (Node built-ins only).
//
// The upstream answers every request like an SSR framework that streams: it
// sends the head and a first chunk (~2 KB, the document shell) at once, waits
// DELAY_MS (200), then sends the rest (~18 KB) and ends (chunked encoding).
// Requests alternate direct / through leakproxy, sequentially, over keep-alive
// connections. For each: time to the response head, to the first body byte,
// and to the end. The first body byte must arrive through the proxy long
// before the upstream finishes (the check: median first-body-byte time below
// DELAY_MS / 2, and the body complete and byte-identical).
//
// Env: N (requests per target, 50), DELAY_MS (200), LEAKPROXY (../leakproxy).
// Output: a markdown table on stdout. Exit 1 on any failed check.
import http from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.N || 50);
const DELAY_MS = Number(process.env.DELAY_MS || 200);
const LEAKPROXY = process.env.LEAKPROXY || path.join(here, '..', 'leakproxy');

const shell = '<!doctype html><html><head><title>stream</title></head><body>\n' +
  '<div id="shell">' + 'S'.repeat(2000) + '</div>\n';
const rest = '<main>' + Array.from({ length: 600 }, (_, i) =>
  `<p>streamed paragraph ${String(i).padStart(5, '0')}</p>`).join('\n') + '</main></body></html>\n';
const full = shell + rest;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'leakproxy-ttfb.'));
let proxy = null;
let upstream = null;
function cleanup() {
  if (proxy && proxy.exitCode === null) proxy.kill('SIGKILL');
  try { fs.rmSync(work, { recursive: true, force: true }); } catch { /* gone */ }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
const hardStop = setTimeout(() => { console.error('FATAL: ttfb.mjs timed out'); process.exit(1); },
  60000 + N * 2 * (DELAY_MS + 500));
hardStop.unref();

function startUpstream() {
  return new Promise((resolve) => {
    upstream = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.write(shell);
      const t = setTimeout(() => res.end(rest), DELAY_MS);
      res.on('close', () => clearTimeout(t));
    });
    upstream.keepAliveTimeout = 60000;
    upstream.listen(0, '127.0.0.1', () => resolve(upstream.address().port));
  });
}

function startProxy(upPort) {
  const bin = path.join(work, 'leakproxy.bin');
  fs.copyFileSync(LEAKPROXY, bin);           // others may rebuild ./leakproxy meanwhile
  fs.chmodSync(bin, 0o755);
  const conf = path.join(work, 'conf.json');
  fs.writeFileSync(conf, JSON.stringify({
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${upPort}`, admin: '127.0.0.1:0',
    routes: [{ name: 'stream', match: '/stream/:id' }],
  }));
  proxy = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    let port = 0, admin = 0;
    const t = setTimeout(() => reject(new Error('leakproxy did not report its ports:\n' + err)), 10000);
    proxy.stderr.on('data', (d) => {
      err += d;
      const m = /proxy listening on 127\.0\.0\.1:(\d+)/.exec(err);
      const a = /admin listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) port = Number(m[1]);
      if (a) admin = Number(a[1]);
      if (port && admin) { clearTimeout(t); resolve({ port, admin }); }
    });
    proxy.on('exit', (code, sig) => {
      clearTimeout(t);
      reject(new Error(`leakproxy exited (${code ?? sig}):\n${err}`));
    });
  });
}

const agents = new Map();
function get(port, p) {
  if (!agents.has(port)) agents.set(port, new http.Agent({ keepAlive: true, maxSockets: 1 }));
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: agents.get(port) }, (res) => {
      const head = ms();
      let first = -1;
      const chunks = [];
      res.on('data', (c) => { if (first < 0) first = ms(); chunks.push(c); });
      res.on('end', () => resolve({
        status: res.statusCode, head, first, total: ms(), body: Buffer.concat(chunks).toString(),
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
  });
}

const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const upPort = await startUpstream();
let lp;
try { lp = await startProxy(upPort); } catch (e) { console.error('FATAL:', e.message); process.exit(1); }

const res = { direct: [], leakproxy: [] };
const failures = [];
for (let i = 0; i < N + 2; i++) {          // 2 warm-up pairs, not counted
  for (const [name, port] of [['direct', upPort], ['leakproxy', lp.port]]) {
    let r;
    try { r = await get(port, `/stream/${i}`); } catch (e) { failures.push(`${name} #${i}: ${e.message}`); continue; }
    if (r.status !== 200) failures.push(`${name} #${i}: status ${r.status}`);
    else if (r.body !== full) failures.push(`${name} #${i}: body differs (${r.body.length} bytes, want ${full.length})`);
    if (i >= 2) res[name].push(r);
  }
}
if (proxy.exitCode !== null) failures.push(`leakproxy died (exit ${proxy.exitCode})`);

const routes = await new Promise((resolve) => {
  http.get({ host: '127.0.0.1', port: lp.admin, path: '/api/routes/stream' }, (r) => {
    let b = ''; r.on('data', (d) => { b += d; }); r.on('end', () => { try { resolve(JSON.parse(b)); } catch { resolve(null); } });
  }).on('error', () => resolve(null));
});

const f = (x) => x.toFixed(2);
console.log('## ttfb.mjs: time to first byte, streaming upstream, direct vs leakproxy');
console.log();
console.log(`${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} CPUs, node ${process.version}; ` +
  `upstream sends head + ${shell.length} B, waits ${DELAY_MS} ms, sends ${rest.length} B (chunked); ` +
  `${N} sequential keep-alive requests per target, alternating; no pinning.`);
console.log();
console.log('| target | n | head ms p50 | first body byte ms p50 | p90 | max | complete ms p50 |');
console.log('|---|---|---|---|---|---|---|');
for (const name of ['direct', 'leakproxy']) {
  const a = res[name];
  if (!a.length) { console.log(`| ${name} | 0 | - | - | - | - | - |`); continue; }
  const fb = a.map((r) => r.first);
  console.log(`| ${name} | ${a.length} | ${f(median(a.map((r) => r.head)))} | ${f(median(fb))} | ${f(q(fb, 0.9))} | ` +
    `${f(Math.max(...fb))} | ${f(median(a.map((r) => r.total)))} |`);
}
const lpFirst = res.leakproxy.length ? median(res.leakproxy.map((r) => r.first)) : Infinity;
const lpTotal = res.leakproxy.length ? median(res.leakproxy.map((r) => r.total)) : 0;
const dFirst = res.direct.length ? median(res.direct.map((r) => r.first)) : 0;
console.log();
console.log(`Proxy overhead on the first body byte (median): ${f(lpFirst - dFirst)} ms; ` +
  `first byte at ${f(100 * lpFirst / Math.max(lpTotal, 1e-9))} % of the complete response time.`);
if (routes && routes.ttfb_ms) {
  console.log(`leakproxy's own /api/routes/stream: requests ${routes.requests}, ttfb_ms ${JSON.stringify(routes.ttfb_ms)}, ` +
    `latency_ms ${JSON.stringify(routes.latency_ms)}.`);
}
const lpMax = res.leakproxy.length ? Math.max(...res.leakproxy.map((r) => r.first)) : 0;
if (lpMax >= DELAY_MS) {
  console.log(`WARNING: the slowest first body byte through leakproxy came at ${f(lpMax)} ms, after the upstream's ` +
    `${DELAY_MS} ms pause (CPU contention, or buffering?).`);
}
if (!(lpFirst < DELAY_MS / 2)) failures.push(`first body byte through leakproxy at ${f(lpFirst)} ms (median), not well before ${DELAY_MS} ms`);
if (!(lpTotal >= DELAY_MS)) failures.push(`complete response through leakproxy at ${f(lpTotal)} ms, expected >= ${DELAY_MS} ms`);
console.log();
if (failures.length) {
  console.log('Status: FAILED');
  for (const x of failures.slice(0, 20)) console.log(`- ${x}`);
  console.error('FAIL:', failures.length, 'problems');
  upstream.close(); for (const a of agents.values()) a.destroy();
  process.exit(1);
}
console.log('Status: OK (every response 200, bodies byte-identical, first byte well before the upstream finished).');
upstream.close(); for (const a of agents.values()) a.destroy();
process.exit(0);
