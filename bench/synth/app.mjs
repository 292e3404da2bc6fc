#!/usr/bin/env node
// bench/synth/app.mjs -- a synthetic SSR-like upstream for leakproxy's attribution benchmark
// (bench/synth.sh). Plain node:http, no npm dependencies: the memory endpoint is contrib/node's
// module (leakproxy-memory) mounted at /__mem (?gc=1 forces a GC first).
//
//   node --expose-gc [--max-old-space-size=2048] bench/synth/app.mjs --spec bench/synth/s1.json
//   SYNTH_SPEC='{"routes":[...]}' PORT=0 node --expose-gc bench/synth/app.mjs
//
// Prints "listening on 127.0.0.1:PORT" once ready (PORT=0, the default, picks a free port).
// GET /__synth answers the spec, the leakproxy route table and the calibrated ground truth.
//
// Spec: {"base_heap_mb": 0, "routes": [{"name", "kind", "share", ...}]}; every route is served
// at /<name>/<id> (leakproxy match "/<name>/:id"); the load mix (bench/synth.mjs) picks ids
// uniformly in 1..keys (cache) or 1..1000. Kinds and parameters:
//   healthy  page_kb (20): builds a page of page_kb KB from per-item objects and strings, then
//            drops everything (transient garbage only)
//   leak     leak_kb: retains leak_kb KB per request in a module-level array (variant "heap",
//            the default: ~70 % unique flat strings and ~30 % small objects; variant "buffer":
//            one Buffer.allocUnsafeSlow of leak_kb KB, i.e. external memory); also renders a page
//   cache    keys (D distinct ids), entry_kb, max (optional LRU bound, default: no eviction): a
//            Map keyed by the id fills to min(D, max) entries, then stays (not a leak)
//   warmup   warm_mb, variants (1): the first request of each variant (id mod variants) builds a
//            warm_mb / variants MB structure kept for good (a lazy template/module compile)
//   static   a small fixed body (~1 KB), nothing allocated
// base_heap_mb: retained data built at start (small objects and strings, so that a full GC has
// real marking work: the 500 MB+ heap case, with node --max-old-space-size).
//
// Ground truth (GET /__synth, "truth"): the spec is the truth for every kind (leaks retain
// leak_kb KB per request forever, nothing else grows in steady state); the bytes a leak entry
// really occupies on the V8 heap (object headers, string headers, array slots) are measured once
// at start: `calib` entries built between two forced GCs, heapUsed (and external) difference /
// calib. Assumptions: a route's retained bytes per request do not depend on the id or on the
// request's position (true by construction); heap numbers are V8's heapUsed after a full GC; the
// leak array's own growth (8 bytes a slot, amortised) is counted in the calibration.
import http from 'node:http';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const leakproxyMemory = require('../../contrib/node/index.js');

// ---- spec ------------------------------------------------------------------------------------
function readSpec() {
  const i = process.argv.indexOf('--spec');
  let text = i > 0 ? fs.readFileSync(process.argv[i + 1], 'utf8') : process.env.SYNTH_SPEC;
  if (!text) throw new Error('no spec: --spec FILE or SYNTH_SPEC (JSON text or a file name)');
  if (!/^\s*\{/.test(text)) text = fs.readFileSync(text, 'utf8');
  const spec = JSON.parse(text);
  if (!Array.isArray(spec.routes) || !spec.routes.length) throw new Error('spec: routes[] is empty');
  const names = new Set();
  for (const r of spec.routes) {
    if (!/^[a-z][a-z0-9_-]*$/.test(r.name || '')) throw new Error(`spec: bad route name ${r.name}`);
    if (names.has(r.name)) throw new Error(`spec: route ${r.name} twice`);
    names.add(r.name);
    if (!['healthy', 'leak', 'cache', 'warmup', 'static'].includes(r.kind)) throw new Error(`spec: ${r.name}: unknown kind ${r.kind}`);
    if (r.kind === 'leak' && !(r.leak_kb > 0)) throw new Error(`spec: ${r.name}: leak_kb missing`);
    if (r.kind === 'cache' && !(r.keys > 0 && r.entry_kb > 0)) throw new Error(`spec: ${r.name}: keys and entry_kb needed`);
    if (r.kind === 'warmup' && !(r.warm_mb > 0)) throw new Error(`spec: ${r.name}: warm_mb missing`);
  }
  return spec;
}
const spec = readSpec();
const KB = 1024, MB = 1024 * 1024;

// ---- data builders -----------------------------------------------------------------------------
// One pool of printable bytes: strings cut from it are fresh flat one-byte strings on the V8 heap
// (Buffer#toString('latin1') copies; below ~1 MB Node does not make them external).
const POOL = Buffer.alloc(256 * KB);
for (let i = 0; i < POOL.length; i++) POOL[i] = 32 + ((i * 7919 + (i >> 7)) % 95);
let strSeq = 0;
function freshString(n) {
  n = Math.max(8, n | 0);
  let out = '';
  // 64 KB pieces at most: each piece is its own flat string (no cons tree over a shared piece)
  const parts = [];
  while (n > 0) {
    const len = Math.min(n, 64 * KB);
    const off = (strSeq++ * 977) % (POOL.length - len);
    parts.push(POOL.toString('latin1', off, off + len));
    n -= len;
  }
  out = parts.length === 1 ? parts[0] : parts;
  return out;
}

// A retained record of ~bytes: ~70 % in 4 strings, ~30 % in small objects (~100 B each).
function record(bytes, seq) {
  const objs = Math.max(1, Math.round((0.3 * bytes) / 100));
  const strBytes = Math.max(32, bytes - objs * 100);
  const items = new Array(objs);
  for (let k = 0; k < objs; k++) items[k] = { id: seq * 1000 + k, label: `item-${seq}-${k}`, score: k + 0.5, next: null };
  const s = [];
  for (let k = 0; k < 4; k++) s.push(freshString(strBytes / 4));
  return { seq, at: Date.now(), items, html: s };
}

// A page of ~kb KB built from per-item objects (transient).
function renderPage(title, kb, seed) {
  const n = Math.max(1, Math.round((kb * KB) / 120));
  const items = [];
  for (let i = 0; i < n; i++) items.push({ i, t: `${title} ${seed} ${i}`, p: (seed * 31 + i) % 997 });
  const body = items.map((x) => `<li class="c${x.p % 7}"><a href="/x/${x.i}">${x.t}</a> <b>${x.p}</b></li>`).join('\n');
  return `<!DOCTYPE html><html><head><title>${title}</title></head><body><ul>\n${body}\n</ul></body></html>\n`;
}

// ---- route state ---------------------------------------------------------------------------------
const leaks = new Map();      // route -> retained array (the leak)
const caches = new Map();     // route -> Map(id -> record)
const warm = new Map();       // route -> Map(variant -> structure)
const counts = new Map();     // route -> requests served
const STATIC_BODY = Buffer.from(`/* static */\n${'console.log("synthetic static asset");\n'.repeat(24)}`);

function leakEntry(r, seq) {
  if (r.variant === 'buffer') {
    const b = Buffer.allocUnsafeSlow(Math.round(r.leak_kb * KB));
    b.fill(seq & 0xff);
    return { seq, b };
  }
  return record(r.leak_kb * KB, seq);
}

function handle(r, id) {
  const n = (counts.get(r.name) || 0) + 1;
  counts.set(r.name, n);
  if (r.kind === 'static') return { type: 'text/javascript', body: STATIC_BODY };
  if (r.kind === 'leak') {
    let a = leaks.get(r.name);
    if (!a) leaks.set(r.name, (a = []));
    a.push(leakEntry(r, n));
  } else if (r.kind === 'cache') {
    let c = caches.get(r.name);
    if (!c) caches.set(r.name, (c = new Map()));
    const hit = c.get(id);
    if (hit) { c.delete(id); c.set(id, hit); }   // LRU order
    else {
      c.set(id, record(r.entry_kb * KB, id));
      if (r.max && c.size > r.max) c.delete(c.keys().next().value);
    }
  } else if (r.kind === 'warmup') {
    let w = warm.get(r.name);
    if (!w) warm.set(r.name, (w = new Map()));
    const v = id % (r.variants || 1);
    if (!w.has(v)) {
      const mb = r.warm_mb / (r.variants || 1);
      const parts = [];
      for (let b = 0; b < mb * MB; b += 32 * KB) parts.push(record(32 * KB, b));
      w.set(v, parts);
    }
  }
  return { type: 'text/html; charset=utf-8', body: renderPage(r.name, r.page_kb ?? 20, id) };
}

// ---- start: calibration, base heap -------------------------------------------------------------------
const gc = global.gc;
if (typeof gc !== 'function') { console.error('start node with --expose-gc'); process.exit(2); }
function fullGc() { gc(); gc(); }

const truth = {};
for (const r of spec.routes) {
  const t = { kind: r.kind, share: r.share, heap_per_req: 0, external_per_req: 0 };
  if (r.kind === 'leak') {
    const bytes = r.leak_kb * KB;
    const calib = Math.min(400, Math.max(30, Math.ceil((8 * MB) / bytes)));
    fullGc();
    const m0 = process.memoryUsage();
    const keep = [];
    for (let k = 0; k < calib; k++) keep.push(leakEntry(r, k + 1));
    fullGc();
    const m1 = process.memoryUsage();
    t.heap_per_req = Math.round((m1.heapUsed - m0.heapUsed) / calib);
    t.external_per_req = Math.round((m1.external - m0.external) / calib);
    t.nominal = bytes;
    t.calib = calib;
    t.metric = r.variant === 'buffer' ? 'external' : 'heap';
    keep.length = 0;
  }
  if (r.kind === 'cache') t.plateau_bytes = Math.min(r.keys, r.max || Infinity) * r.entry_kb * KB;
  if (r.kind === 'warmup') t.once_bytes = r.warm_mb * MB;
  truth[r.name] = t;
}

const base = [];
globalThis.__synthBase = base;   // retained for good (a module-level const alone dies with the module body)
let baseInfo = null;
if (spec.base_heap_mb > 0) {
  const t0 = performance.now();
  // ~60 % small linked objects (the marking work of a real app's heap), ~40 % 4 KB strings
  const objBytes = 0.6 * spec.base_heap_mb * MB;
  const nObj = Math.round(objBytes / 110);
  const chunk = [];
  let prev = null;
  for (let i = 0; i < nObj; i++) {
    const o = { id: i, name: `n${i}`, v: i * 0.25, next: prev };
    prev = (i % 64) ? o : null;
    chunk.push(o);
    if (chunk.length === 65536) { base.push(chunk.splice(0)); }
  }
  base.push(chunk.splice(0));
  for (let b = 0; b < 0.4 * spec.base_heap_mb * MB; b += 4 * KB) base.push(freshString(4 * KB));
  fullGc();
  const gcMs = [];
  for (let k = 0; k < 3; k++) { const g0 = performance.now(); gc(); gcMs.push(performance.now() - g0); }
  gcMs.sort((a, b) => a - b);
  baseInfo = { mb: spec.base_heap_mb, build_ms: Math.round(performance.now() - t0),
    heap_used_mb: +(process.memoryUsage().heapUsed / MB).toFixed(1), gc_ms: +gcMs[1].toFixed(1) };
}
fullGc();
const startMem = process.memoryUsage();

// ---- server ------------------------------------------------------------------------------------------
const mem = leakproxyMemory.create({ header: false, path: '/__mem' });
const byName = new Map(spec.routes.map((r) => [r.name, r]));
const server = http.createServer((req, res) => {
  if (mem.hook(req, res)) return;
  const url = req.url || '/';
  if (url === '/__synth') {
    const body = JSON.stringify({ pid: process.pid, node: process.version, spec, truth, base: baseInfo,
      start_heap_used: startMem.heapUsed, counts: Object.fromEntries(counts),
      leakproxy_routes: spec.routes.map((r) => ({ name: r.name, match: `/${r.name}/:id` })) }) + '\n';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    return res.end(body);
  }
  const m = /^\/([a-z][a-z0-9_-]*)\/([^/?]+)/.exec(url);
  const r = m && byName.get(m[1]);
  if (!r) {
    res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
    return res.end('not found\n');
  }
  const id = parseInt(m[2], 10) || 0;
  const out = handle(r, id);
  const buf = Buffer.isBuffer(out.body) ? out.body : Buffer.from(out.body);
  res.writeHead(200, { 'Content-Type': out.type, 'Content-Length': buf.length });
  res.end(buf);
});
server.keepAliveTimeout = 120000;
const host = process.env.HOST || '127.0.0.1';
server.listen(+(process.env.PORT || 0), host, () => {
  console.log(`listening on ${host}:${server.address().port}`);
  console.log(`synth: pid ${process.pid}, ${spec.routes.length} routes, base heap ${JSON.stringify(baseInfo)}, ` +
    `truth ${JSON.stringify(Object.fromEntries(Object.entries(truth).filter(([, t]) => t.kind === 'leak').map(([k, t]) => [k, t.heap_per_req || t.external_per_req])))}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
