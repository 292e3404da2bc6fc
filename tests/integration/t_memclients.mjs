// Memory sources and the HTTP clients inside the proxy. Each case is a
// hostile memory endpoint or upstream talking to one of leakproxy's own
// clients (the http/prometheus/header memory source, its forced-GC read, a
// probe's replays, the guard's webhook) and asserts what the proxy must
// still do: stay small, keep serving, replay only what it forwarded, and say
// in /api/memory what went wrong. docs/hardening.md ("Second round (red
// team)") lists them.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  test, note, sleep, hdr, request, get, getJson, memEnv, check, eq, pollUntil, startHttp, adminCall,
  startFakeMemory,
  rawServer,
} from './lib.mjs';

const MB = 1024 * 1024;
const rssKb = (pid) => +/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1];
const sendBody = (res, status, body, type = 'application/json') => {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
};
const memJson = (pid, heapUsed = 20 * MB, extra = {}) =>
  JSON.stringify({ pid, rss: 80 * MB, heapTotal: heapUsed + 8 * MB, heapUsed, external: 2 * MB, arrayBuffers: 100000, ...extra });

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

test('memclients: a memory source error cut in the middle of a UTF-8 character: /api/memory stays JSON, recovers', async (ctx) => {
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

test('memclients: memory figures near 2^63 (http, prometheus, header) are refused, naming 1 PiB; proxy keeps reading', async (ctx) => {
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

// ---------------------------------------------------------------------------
// The proxy's own HTTP clients read bounded responses

const hwmKb = (pid) => +/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1];

// Writes <total> bytes made by <piece>() to <sock> as fast as it drains;
// stops early if the peer closes. Resolves the bytes written.
function pump(sock, total, piece) {
  return new Promise((resolve) => {
    let sent = 0, done = false;
    const finish = () => { if (!done) { done = true; resolve(sent); } };
    sock.on('close', finish);
    sock.on('error', finish);
    const go = () => {
      while (!done && sent < total) {
        const b = piece();
        sent += b.length;
        if (!sock.write(b)) return sock.once('drain', go);
      }
      if (!done) { sock.end(); finish(); }
    };
    go();
  });
}

// Reads one request head from <sock>, then calls onHead(head text).
function onRequest(sock, onHead) {
  let buf = '';
  const f = (d) => {
    buf += d.toString('latin1');
    const i = buf.indexOf('\r\n\r\n');
    if (i < 0) return;
    sock.off('data', f);
    onHead(buf.slice(0, i));
  };
  sock.on('data', f);
}

const HEADER_LINES = Buffer.from(`X-Pad: ${'a'.repeat(90)}\r\n`.repeat(700));   // ~68 KB of header lines
const BODY_PIECE = Buffer.alloc(1 << 20, 'x');

test('memclients: memory endpoint with endless header lines or an endless body -> read refused at its cap, proxy RSS bounded', async (ctx) => {
  // Before: libevent's client buffered the whole head (the red team's 916 MB).
  let mode = 'good';
  const sent = [];
  const port = await rawServer(ctx, (sock) => onRequest(sock, async () => {
    if (mode === 'good') {
      const b = memJson(7);
      sock.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n${b}`);
    } else if (mode === 'head') {
      sock.write('HTTP/1.1 200 OK\r\n');
      sent.push(await pump(sock, 200 * MB, () => HEADER_LINES));
    } else if (mode === 'chunked') {
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
      sent.push(await pump(sock, 200 * MB, () => Buffer.concat([Buffer.from('100000\r\n'), BODY_PIECE, Buffer.from('\r\n')])));
    } else {   // a JSON body of 2 MB: valid, but over the 1 MiB cap
      const b = JSON.stringify({ pad: 'x'.repeat(2 * MB), pid: 7, rss: 80 * MB, heapUsed: MB, heapTotal: 2 * MB });
      sock.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
    }
  }));
  const up = await startHttp(ctx, (req, res) => sendBody(res, 200, 'ok', 'text/plain'));
  const p = await ctx.proxy(proxyConfig(up.port, { source: 'http', url: `http://127.0.0.1:${port}/__mem`, interval_ms: 300, timeout_ms: 5000 }), { env: memEnv() });   // ASan: no quarantine, RSS is what is held
  let j;
  await pollUntil(async () => { j = await memory(p); return j.workers.some((w) => w.pid === 7) && !j.health.failing; }, { timeout: 3000, what: 'a first reading' });
  const base = hwmKb(p.pid);
  for (const [m, re] of [['head', /head over the 64 KiB cap/], ['chunked', /body over the 1 MiB cap/], ['big', /body over the 1 MiB cap/]]) {
    mode = m;
    await pollUntil(async () => { j = await memory(p); return j.health.failing; }, { timeout: 8000, what: `failing on ${m}`, describe: () => JSON.stringify(j.health) });
    check(re.test(j.health.last_error), `${m}: last_error should name the cap (${re}): ${JSON.stringify(j.health.last_error)}`);
    eq((await get(p.port, '/')).status, 200, `proxying while the memory endpoint sends ${m}`);
    mode = 'good';
    await pollUntil(async () => { j = await memory(p); return !j.health.failing; }, { timeout: 5000, what: `recovery after ${m}` });
    const grew = hwmKb(p.pid) - base;
    note(`${m}: peak RSS +${grew} kB; endpoint wrote ${sent.map((x) => (x / MB).toFixed(1)).join(', ')} MB`);
    check(grew < 16 * 1024, `${m}: proxy peak RSS grew ${grew} kB (limit 16 MB)`);
  }
});

test('memclients: a probe replaying a route whose page is 100 MB (or has 100 MB of headers) -> bodies streamed and dropped, proxy RSS bounded', async (ctx) => {
  // Before: each replay's body was buffered whole (the red team saw 416 MB
  // for a 100 MB page); a head without end was buffered too.
  let replays = 0;
  const sent = [];
  const port = await rawServer(ctx, (sock) => onRequest(sock, async (head) => {
    if (!/\r\nX-Leakproxy-Probe: 1/i.test(head)) {
      sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\nConnection: close\r\n\r\npage');
      return;
    }
    const k = replays++;
    if (k === 0) {
      sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${100 * MB}\r\nConnection: close\r\n\r\n`);
      sent.push(await pump(sock, 100 * MB, () => BODY_PIECE));
    } else if (k === 1) {
      sock.write('HTTP/1.1 200 OK\r\n');
      sent.push(await pump(sock, 100 * MB, () => HEADER_LINES));
    } else if (k === 2) {
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
      sent.push(await pump(sock, 100 * MB, () => Buffer.concat([Buffer.from('100000\r\n'), BODY_PIECE, Buffer.from('\r\n')])));
    } else {
      sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\nConnection: close\r\n\r\npage');
    }
  }));
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy(proxyConfig(port, { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 }), { env: memEnv() });
  for (let i = 1; i <= 3; i++) eq((await get(p.port, `/page/${i}`)).status, 200, `GET /page/${i}`);
  const base = hwmKb(p.pid);
  const s = await adminCall(p, 'POST', '/api/probe', { route: 'page', requests: 10, block: 2, concurrency: 1 });
  eq(s.status, 200, `POST /api/probe: ${s.text}`);
  let j;
  await pollUntil(async () => { j = (await adminCall(p, 'GET', '/api/probe')).json; return j.state !== 'running'; },
    { timeout: 30000, what: 'the probe to finish', describe: () => JSON.stringify(j).slice(0, 300) });
  const grew = hwmKb(p.pid) - base;
  note(`probe ${j.state} (${j.message}); ${replays} replays; upstream wrote ${sent.map((x) => (x / MB).toFixed(1)).join(', ')} MB; peak RSS +${grew} kB`);
  check(replays >= 4, `replays: ${replays}`);
  eq(j.state, 'done', `probe state (${j.message})`);
  check(grew < 16 * 1024, `proxy peak RSS grew ${grew} kB during the probe (limit 16 MB)`);
  eq((await get(p.port, '/page/9')).status, 200, 'proxying after the probe');
});

test('memclients: the guard webhook answering 100 MB of headers or of body -> dropped, proxy RSS bounded, retried', async (ctx) => {
  let posts = 0;
  const sent = [];
  const port = await rawServer(ctx, (sock) => onRequest(sock, async () => {
    const k = posts++;
    if (k === 0) {
      sock.write('HTTP/1.1 200 OK\r\n');
      sent.push(await pump(sock, 100 * MB, () => HEADER_LINES));
    } else {
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${100 * MB}\r\nConnection: close\r\n\r\n`);
      sent.push(await pump(sock, 100 * MB, () => BODY_PIECE));
    }
  }));
  const fm = await startFakeMemory(ctx, { heap: () => 300 * MB });
  const up = await startHttp(ctx, (req, res) => sendBody(res, 200, 'ok', 'text/plain'));
  const shell = path.join(ctx.tmp(), 'shell.html');
  fs.writeFileSync(shell, '<!doctype html><div id="app"></div>');
  const p = await ctx.proxy(proxyConfig(up.port, { source: 'http', url: fm.url, interval_ms: 100, floor_window_ms: 300 }, {
    fallback: { file: shell },
    guard: { metric: 'heap_used', high_bytes: 200 * MB, low_bytes: 150 * MB, action: 'all', dry_run: true, hold_seconds: 1,
      webhook: `http://127.0.0.1:${port}/hook` } }), { env: memEnv() });
  const base = hwmKb(p.pid);
  await pollUntil(() => posts >= 3 && sent.length >= 3, { timeout: 15000, what: 'three webhook posts (the first refused for its head, then retried)' });
  const grew = hwmKb(p.pid) - base;
  note(`${posts} posts; webhook wrote ${sent.map((x) => (x / MB).toFixed(1)).join(', ')} MB; peak RSS +${grew} kB`);
  check(grew < 16 * 1024, `proxy peak RSS grew ${grew} kB (limit 16 MB)`);
  eq((await get(p.port, '/')).status, 200, 'proxying');
});

// ---------------------------------------------------------------------------
// Forced GC: quiescing and the duty cap

test('memclients: quiesce_ms with a gc_url that never answers -> requests held at most ~2 x quiesce_ms, never the read timeout', async (ctx) => {
  // Before: the held requests were released only when the forced-GC read
  // ended, i.e. at its 10 s timeout (30 s after a GC that said "gc_ms": 3000).
  let gcHits = 0;
  const ep = await startHttp(ctx, (req, res) => {
    if (req.url.includes('gc=1')) { gcHits++; return; }        // never answers
    sendBody(res, 200, memJson(7));
  });
  const up = await startHttp(ctx, (req, res) => sendBody(res, 200, 'ok', 'text/plain'));
  const url = `http://127.0.0.1:${ep.port}/__mem`;
  const p = await ctx.proxy(proxyConfig(up.port, { source: 'http', url, gc_url: `${url}?gc=1`, interval_ms: 100,
    gc_interval_ms: 100, max_gc_duty: 0.5, quiesce_ms: 50 }));
  await pollUntil(() => gcHits >= 1, { timeout: 3000, what: 'a forced-GC read' });
  const times = [];
  const t0 = Date.now();
  while (Date.now() - t0 < 2500) {
    const t = Date.now();
    const r = await get(p.port, '/', { timeout: 3000 });
    eq(r.status, 200, 'status');
    times.push(Date.now() - t);
    await sleep(10);
  }
  const worst = Math.max(...times);
  note(`${times.length} requests, worst ${worst} ms; ${gcHits} forced-GC reads`);
  check(worst < 400, `a request took ${worst} ms while the forced-GC read hung (quiesce_ms 50)`);
});

test('memclients: a memory source claiming a GC pause of an hour cannot stop forced GCs (duty cap uses the measured round trip)', async (ctx) => {
  // Before: "gc_ms": 3600000 made the next forced GC wait 3600 s / max_gc_duty.
  let gcHits = 0;
  const ep = await startHttp(ctx, (req, res) => {
    const gc = req.url.includes('gc=1');
    if (gc) gcHits++;
    sendBody(res, 200, memJson(7, 20 * MB, gc ? { gc_ms: 3600000 } : {}));
  });
  const up = await startHttp(ctx, (req, res) => sendBody(res, 200, 'ok', 'text/plain'));
  const url = `http://127.0.0.1:${ep.port}/__mem`;
  const p = await ctx.proxy(proxyConfig(up.port, { source: 'http', url, gc_url: `${url}?gc=1`, interval_ms: 100,
    gc_interval_ms: 100, max_gc_duty: 0.1 }));
  await pollUntil(() => gcHits >= 1, { timeout: 3000, what: 'a first forced GC' });
  await sleep(2000);
  const j = await memory(p);
  note(`${gcHits} forced GCs in ~2 s; gc ${JSON.stringify(j.gc)}`);
  check(gcHits >= 4, `forced GCs after one that claimed an hour: ${gcHits} (want several in 2 s)`);
  check(j.gc.last_ms < 1000, `gc.last_ms should be bounded by the read's round trip: ${j.gc.last_ms}`);
});

// --- probes replay what was forwarded ------------------------------------------

test('memclients: a probe replays requests as forwarded: no control header, no Connection-named header, no refused request', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy({
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${up.port}`, admin: '127.0.0.1:0',
    routes: [{ name: 'rest', match: '/*' }],
    fallback: { header: 'X-SSR-Off: 1' },
    memory: { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 },
  });
  for (let i = 0; i < 8; i++) {
    const r = await request(p.port, 'GET', `/page/${i}`, { headers: [['X-SSR-Off', '1'], ['Connection', 'x-hop'], ['X-Hop', 'h'], ['X-Keep', 'k']] });
    eq(r.status, 200, `GET /page/${i}`);
  }
  for (const t of ['/__mem', '/__mem?gc=1']) eq((await get(p.port, t)).status, 403, `GET ${t}`);
  const live = up.requests.length;
  const s = await adminCall(p, 'POST', '/api/probe', { route: 'rest', requests: 20, block: 10, concurrency: 1 });
  eq(s.status, 200, `POST /api/probe: ${s.text}`);
  let j;
  await pollUntil(async () => { j = (await adminCall(p, 'GET', '/api/probe')).json; return j.state !== 'running'; },
    { timeout: 20000, interval: 200, what: 'the probe to end', describe: () => JSON.stringify(j).slice(0, 300) });
  const replays = up.requests.slice(live);
  check(replays.length >= 20, `replays at the upstream: ${replays.length}`);
  for (const q of replays) {
    check(/^\/page\/\d$/.test(q.target), `replayed target ${q.target} (a refused request was captured)`);
    eq(hdr(q, 'x-ssr-off'), undefined, `X-SSR-Off in the replay of ${q.target}`);
    eq(hdr(q, 'x-hop'), undefined, `X-Hop (named by Connection) in the replay of ${q.target}`);
    eq(hdr(q, 'x-keep'), 'k', `X-Keep in the replay of ${q.target}`);
  }
});
