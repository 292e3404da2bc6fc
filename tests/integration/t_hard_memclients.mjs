// Hardening, second round: memory sources and the HTTP clients inside the
// proxy. Each case is a hostile memory endpoint or upstream talking to one of
// leakproxy's own clients (the http/prometheus memory source, its forced-GC
// read, a probe's replays, the guard's webhook) and asserts what the proxy
// must still do: stay small, keep serving, and say in /api/memory what went
// wrong. docs/hardening.md ("Second round (red team)") lists them.

import fs from 'node:fs';
import net from 'node:net';
import {
  test, get, check, eq, sleep, note, getJson, adminJson, adminCall, pollUntil, startHttp, startFakeMemory,
} from './lib.mjs';

const MB = 1024 * 1024;
const rssKb = (pid) => +/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1];
const sendBody = (res, status, body, type = 'application/json') => {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
};
const memJson = (pid, heapUsed = 20 * MB, extra = {}) =>
  JSON.stringify({ pid, rss: 80 * MB, heapTotal: heapUsed + 8 * MB, heapUsed, external: 2 * MB, arrayBuffers: 100000, ...extra });

// A raw TCP server the test fully controls: onConn(socket) per connection.
async function rawServer(ctx, onConn) {
  const socks = new Set();
  const s = net.createServer((sock) => { socks.add(sock); sock.on('close', () => socks.delete(sock)); sock.on('error', () => {}); onConn(sock); });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  ctx.defer(() => new Promise((r) => { for (const x of socks) x.destroy(); s.close(() => r()); setTimeout(r, 500).unref(); }));
  return s.address().port;
}

function proxyConfig(upPort, memory, extra = {}) {
  return { listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${upPort}`, admin: '127.0.0.1:0', access_log: null,
    routes: [{ name: 'home', match: '/' }, { name: 'page', match: '/page/:id' }], memory, ...extra };
}

// GET /api/memory: status 200 and a JSON body, whatever the source said.
async function memory(p) {
  const { status, json, res } = await getJson(p.adminPort, '/api/memory');
  eq(status, 200, `/api/memory status (body ${JSON.stringify(res.body.toString().slice(0, 200))})`);
  return json;
}

// ---------------------------------------------------------------------------
// Text from the memory source, cut into a fixed buffer

test('hard2: a memory source error cut in the middle of a UTF-8 character: /api/memory stays JSON, recovers', async (ctx) => {
  // The source's error message quotes what the endpoint sent (a worker key,
  // a line of Prometheus text) and is cut to a fixed size: jansson refuses
  // a string cut inside a character, and /api/memory answered an empty 200
  // from then on, even after the source recovered.
  let body = memJson(7);
  const ep = await startHttp(ctx, (req, res) => sendBody(res, 200, body));
  const up = await startHttp(ctx, (req, res) => sendBody(res, 200, 'ok', 'text/plain'));
  const p = await ctx.proxy(proxyConfig(up.port, { source: 'http', url: `http://127.0.0.1:${ep.port}/__mem`, interval_ms: 50, timeout_ms: 500 }));
  await pollUntil(async () => (await memory(p)).workers.some((w) => w.pid === 7 && w.alive), { timeout: 3000, what: 'a first reading' });
  const bad = [];
  // a worker key of multi-byte characters, quoted (cut) in the message, at
  // every offset; then invalid UTF-8 itself (a JSON parser error quoting it)
  for (let k = 0; k < 4; k++) bad.push(JSON.stringify({ ['x'.repeat(k) + 'é'.repeat(40)]: { foo: 1 } }));
  for (let k = 0; k < 3; k++) bad.push(JSON.stringify({ ['x'.repeat(k) + '€'.repeat(60)]: { foo: 1 } }));
  bad.push(Buffer.concat([Buffer.from('{"rss": '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('}')]));
  for (const b of bad) {
    body = b;
    let j;
    await pollUntil(async () => { j = await memory(p); return j.health.failing; },
      { timeout: 3000, what: `failing on ${JSON.stringify(b.toString().slice(0, 40))}`, describe: () => JSON.stringify(j.health) });
    check(j.health.last_error.includes('/__mem') && !j.health.last_error.includes('\uFFFD'),
      `last_error must be valid UTF-8 and name the URL: ${JSON.stringify(j.health.last_error)}`);
    body = memJson(7);
    await pollUntil(async () => { j = await memory(p); return !j.health.failing; }, { timeout: 3000, what: 'recovery' });
  }
  // the same for the prometheus source: a line quoted in the message
  const ep2 = await startHttp(ctx, (req, res) => sendBody(res, 200, `process_resident_memory_bytes{w="${'é'.repeat(50)}"} x\n`, 'text/plain'));
  const p2 = await ctx.proxy(proxyConfig(up.port, { source: 'prometheus', url: `http://127.0.0.1:${ep2.port}/metrics${'a'.repeat(41)}`, interval_ms: 50 }));
  let j2;
  await pollUntil(async () => { j2 = await memory(p2); return j2.health.failing; }, { timeout: 3000, what: 'prometheus failing' });
  check(/not valid Prometheus/.test(j2.health.last_error), `prometheus last_error: ${JSON.stringify(j2.health.last_error)}`);
  eq((await get(p.port, '/')).status, 200, 'proxying');
});

// ---------------------------------------------------------------------------
// Hostile figures

test('hard2: memory figures near 2^63 (http, prometheus, header) are refused, naming 1 PiB; proxy keeps reading', async (ctx) => {
  // Before: accepted as samples; series.c subtracted them as int64 (signed
  // overflow: UBSan aborted the proxy, release builds made rows of nonsense).
  const huge = '9223372036854775807';
  let body = memJson(7);
  const ep = await startHttp(ctx, (req, res) => sendBody(res, 200, body));
  let hv = 'pid=8; rss=1000; heap_used=500; heap_total=900';
  const up = await startHttp(ctx, (req, res) => { res.setHeader('X-Leakproxy-Memory', hv); sendBody(res, 200, 'ok', 'text/plain'); });
  const p = await ctx.proxy(proxyConfig(up.port, { source: 'http', url: `http://127.0.0.1:${ep.port}/__mem`, interval_ms: 50 }));
  await pollUntil(async () => (await memory(p)).workers.some((w) => w.pid === 7), { timeout: 3000, what: 'a first reading' });
  let j;
  for (const b of [`{"pid":7,"rss":${huge},"heapUsed":1,"heapTotal":2}`, `{"pid":7,"rss":1,"heapUsed":${huge},"heapTotal":${huge}}`,
    `{"pid":7,"rss":1,"heapUsed":1,"heapTotal":2,"external":4611686018427387904}`]) {
    body = b;
    await pollUntil(async () => { j = await memory(p); return j.health.failing; }, { timeout: 3000, what: `failing on ${b}` });
    check(/1 PiB/.test(j.health.last_error), `last_error should say the figure is implausible: ${JSON.stringify(j.health.last_error)}`);
    body = memJson(7);
    await pollUntil(async () => { j = await memory(p); return !j.health.failing; }, { timeout: 3000, what: 'recovery' });
  }
  for (const w of j.workers) check(w.latest.rss < 2 ** 50 && w.latest.heap_used < 2 ** 50, `worker ${w.pid}: ${JSON.stringify(w.latest)}`);

  const ep2 = await startHttp(ctx, (req, res) => sendBody(res, 200, `process_resident_memory_bytes 9.2e18\n`, 'text/plain'));
  const p2 = await ctx.proxy(proxyConfig(up.port, { source: 'prometheus', url: `http://127.0.0.1:${ep2.port}/metrics`, interval_ms: 50 }));
  await pollUntil(async () => { j = await memory(p2); return j.health.failing; }, { timeout: 3000, what: 'prometheus failing' });
  check(/1 PiB/.test(j.health.last_error) && /line 1/.test(j.health.last_error), `prometheus last_error: ${JSON.stringify(j.health.last_error)}`);

  const p3 = await ctx.proxy(proxyConfig(up.port, { source: 'header', interval_ms: 50 }));
  eq((await get(p3.port, '/')).status, 200, 'proxying (header source)');
  await pollUntil(async () => { j = await memory(p3); return j.workers.some((w) => w.pid === 8); }, { timeout: 3000, what: 'header reading' });
  hv = `pid=9; rss=${huge}; heap_used=1; heap_total=2`;
  for (let i = 0; i < 3; i++) eq((await get(p3.port, '/')).status, 200, 'proxying with a hostile memory header');
  j = await memory(p3);
  check(j.health.failing && /1 PiB/.test(j.health.last_error), `header source health: ${JSON.stringify(j.health)}`);
  check(!j.workers.some((w) => w.pid === 9), 'no series for the hostile reading');
});
