'use strict';
// leakproxy-memory: tells leakproxy how much memory this Node process uses.
//
//  * a response header on every response (the leakproxy `header` memory source):
//      X-Leakproxy-Memory: pid=4123; rss=183500800; heap_used=91234560; heap_total=...;
//                          external=...; array_buffers=...; heap_limit=...; floor=...; gc_seq=...
//  * a JSON endpoint (the leakproxy `http` memory source), GET /__leakproxy/memory[?gc=1]
//
// Zero dependencies. See README.md for the adapters (node:http, Express/Connect, Koa, egg,
// Nuxt 3 / Nitro, Vite) and for the security note: ?gc=1 forces a stop-the-world GC.

const v8 = require('node:v8');
const { PerformanceObserver, performance, constants } = require('node:perf_hooks');

const DEFAULTS = Object.freeze({
  header: 'X-Leakproxy-Memory', // false: no header
  path: '/__leakproxy/memory', // false: no endpoint
  maxAgeMs: 50, // how long one process.memoryUsage() reading is reused
  allow: isLocalRequest, // who may use the endpoint; others fall through to the app
});

const GC_MAJOR = constants.NODE_PERFORMANCE_GC_MAJOR;
const GC_FORCED = constants.NODE_PERFORMANCE_GC_FLAGS_FORCED;
const kFixed = Symbol('leakproxy-memory.fixed-header');

// ---- process-wide state: the natural-GC floor -------------------------------------------

// Heap after the most recent major GC, read in the PerformanceObserver callback. The callback
// runs asynchronously (entries are buffered and delivered on a later turn of the event loop),
// so whatever the program allocated between the end of the GC and the callback is included:
// the floor is an upper bound of the true post-GC heap, usually close to it.
const gcState = {
  floor: -1, // bytes; -1 until the first major GC has been observed
  seq: 0, // major GCs observed
  at: 0, // performance.now() at the end of that GC
  limit: -1, // v8 heap_size_limit
  epoch: 0, // bumped on every change so cached header values are rebuilt
  pendingForced: 0, // GCs forced by the endpoint, already counted, not yet seen by the observer
};
let observer = null;

// The exact post-GC heap, where Node has v8.GCProfiler (>= 18.15 / 19.6): the profiler records
// every GC's heap statistics *after* the GC, so the floor no longer includes what the program
// allocated between the end of the GC and the observer's callback (on a busy SSR server that
// lag is worth megabytes: 1-2 MB of noise per floor measured on the demo apps). The profiler is
// drained at every major GC the observer reports and every PROFILER_DRAIN_MS in any case, so
// what it buffers (one small record per GC) stays bounded while no major GC comes.
const PROFILER_DRAIN_MS = 5000;
const exact = { profiler: null, timer: null, after: -1 };

function profilerStart() {
  try {
    exact.profiler = new v8.GCProfiler();
    exact.profiler.start();
  } catch (_) {
    exact.profiler = null;
  }
}

/** Stops the profiler, keeps the heap after the newest mark-compact it saw, starts it again. */
function profilerDrain() {
  if (!exact.profiler) return;
  let r = null;
  try {
    r = exact.profiler.stop();
  } catch (_) {
    r = null;
  }
  profilerStart();
  const st = r && Array.isArray(r.statistics) ? r.statistics : [];
  for (let i = st.length - 1; i >= 0; i--) {
    const g = st[i];
    if (g && g.gcType === 'MarkSweepCompact' && g.afterGC && g.afterGC.heapStatistics) {
      exact.after = g.afterGC.heapStatistics.usedHeapSize;
      break;
    }
  }
}

function onGcEntries(list) {
  let major = 0;
  let end = 0;
  const entries = list.getEntries();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const d = e.detail || e; // e.kind/e.flags: Node < 16
    if (d.kind !== GC_MAJOR) continue;
    if ((d.flags & GC_FORCED) && gcState.pendingForced > 0) {
      gcState.pendingForced--; // the endpoint's own forced GC: counted and read synchronously
      continue;
    }
    major++;
    end = e.startTime + e.duration;
  }
  if (major === 0) return;
  gcState.seq += major;
  if (end >= gcState.at) {
    // (a GC that ended before the endpoint's last forced GC does not replace that exact floor)
    const hs = v8.getHeapStatistics();
    profilerDrain();
    gcState.floor = exact.after >= 0 ? exact.after : hs.used_heap_size;
    exact.after = -1;
    gcState.limit = hs.heap_size_limit;
    gcState.at = end;
  }
  gcState.epoch++;
}

/** Start observing major GCs (idempotent; every adapter calls it). */
function start() {
  if (gcState.limit < 0) gcState.limit = v8.getHeapStatistics().heap_size_limit;
  if (observer) return;
  gcState.pendingForced = 0;
  observer = new PerformanceObserver(onGcEntries);
  observer.observe({ entryTypes: ['gc'] }); // does not keep the process alive
  if (typeof v8.GCProfiler === 'function') {
    profilerStart();
    exact.timer = setInterval(profilerDrain, PROFILER_DRAIN_MS);
    exact.timer.unref();
  }
}

/** Stop observing GCs (the last floor stays published). */
function stop() {
  if (observer) observer.disconnect();
  observer = null;
  if (exact.timer) clearInterval(exact.timer);
  exact.timer = null;
  if (exact.profiler) {
    try {
      exact.profiler.stop();
    } catch (_) {
      /* already stopped */
    }
  }
  exact.profiler = null;
  exact.after = -1;
}

// ---- readings ---------------------------------------------------------------------------

function u(n) {
  // non-negative decimal integer, or '' to omit the field
  if (typeof n !== 'number' || !(n >= 0) || n >= 1e21) return '';
  return String(Math.floor(n));
}

function readUsage() {
  try {
    return process.memoryUsage();
  } catch (err) {
    // process.memoryUsage() can throw when reading RSS fails (e.g. out of file descriptors);
    // the heap figures still come from V8.
    const hs = v8.getHeapStatistics();
    return { rss: -1, heapUsed: hs.used_heap_size, heapTotal: hs.total_heap_size,
      external: hs.external_memory, arrayBuffers: -1 };
  }
}

function formatHeader(m, gc) {
  let s = 'pid=' + process.pid;
  const add = (k, v) => {
    const t = u(v);
    if (t !== '') s += '; ' + k + '=' + t;
  };
  add('rss', m.rss);
  add('heap_used', m.heapUsed);
  add('heap_total', m.heapTotal);
  add('external', m.external);
  add('array_buffers', m.arrayBuffers);
  add('heap_limit', gcState.limit);
  if (gcState.seq > 0) {
    add('floor', gcState.floor);
    add('gc_seq', gcState.seq);
  }
  if (gc) s += '; gc=1';
  return s;
}

/** Force a major GC now; the heap right after it is an exact floor. Returns ms, or -1. */
function forceGc() {
  if (typeof global.gc !== 'function') return -1;
  const t0 = process.hrtime.bigint();
  global.gc();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  profilerDrain(); // this GC's record is read synchronously below: do not report it again
  exact.after = -1;
  const hs = v8.getHeapStatistics();
  gcState.floor = hs.used_heap_size;
  gcState.limit = hs.heap_size_limit;
  gcState.seq++;
  gcState.at = performance.now();
  gcState.epoch++;
  if (observer) gcState.pendingForced++; // the observer will see it too: do not count it twice
  return ms;
}

/** The JSON object the endpoint serves. opts.gc: force a GC first (needs --expose-gc). */
function reading(opts) {
  return readingAndHeader(opts).json;
}

function readingAndHeader(opts) {
  start();
  const out = { pid: process.pid };
  let gcMs = -1;
  let gcError = null;
  if (opts && opts.gc) {
    gcMs = forceGc();
    if (gcMs < 0) gcError = 'run node with --expose-gc';
  }
  const m = readUsage();
  const put = (k, v) => {
    if (u(v) !== '') out[k] = Math.floor(v);
  };
  put('rss', m.rss);
  put('heapUsed', m.heapUsed);
  put('heapTotal', m.heapTotal);
  put('external', m.external);
  put('arrayBuffers', m.arrayBuffers);
  put('heapLimit', gcState.limit);
  if (gcState.seq > 0) {
    put('heapFloor', gcState.floor);
    out.gcSeq = gcState.seq;
    // extra (ignored by leakproxy's parser today): how long ago that major GC ended
    out.heapFloorAgeMs = Math.max(0, Math.round(performance.now() - gcState.at));
  }
  if (gcMs >= 0) {
    out.gc = true;
    out.gc_ms = Math.round(gcMs * 1000) / 1000;
  } else if (gcError) {
    out.gc_error = gcError;
  }
  return { json: out, header: formatHeader(m, gcMs >= 0) };
}

// ---- who may use the endpoint -----------------------------------------------------------

function isLoopbackAddress(a) {
  if (typeof a !== 'string') return false;
  if (a.startsWith('::ffff:')) a = a.slice(7);
  return a === '::1' || a.startsWith('127.');
}

/**
 * The default allow(req): the peer is a loopback address, or the server listens on a unix
 * socket / named pipe (only local processes can connect). Note that a reverse proxy on the same
 * host (leakproxy included) makes every client look local: do not let it forward the path.
 */
function isLocalRequest(req) {
  const sock = req && (req.socket || req.connection);
  if (!sock) return false;
  if (isLoopbackAddress(sock.remoteAddress)) return true;
  const srv = sock.server;
  if (srv && typeof srv.address === 'function') {
    try {
      return typeof srv.address() === 'string';
    } catch (_) {
      return false;
    }
  }
  return false;
}

// ---- one configured instance ------------------------------------------------------------

/**
 * create(opts) -> { hook(req, res) -> true if the endpoint answered, headerValue(), reading(),
 *                   endpointResponse(req) -> {status, headers, body} | null, options }
 */
function create(options) {
  const o = Object.assign({}, DEFAULTS, options || {});
  if (o.header === true || o.header === undefined || o.header === null) o.header = DEFAULTS.header;
  if (o.path === true || o.path === undefined || o.path === null) o.path = DEFAULTS.path;
  if (typeof o.allow !== 'function') o.allow = DEFAULTS.allow;
  const maxAge = Number(o.maxAgeMs) >= 0 ? Number(o.maxAgeMs) : DEFAULTS.maxAgeMs;
  const name = o.header ? String(o.header) : '';
  const path = o.path ? String(o.path) : '';
  const pathQ = path + '?';
  start();

  // The cache: one formatted header value, rebuilt at most every maxAge ms (and right after
  // a major GC was observed, so a new floor shows at once).
  let cached = '';
  let cachedAt = -Infinity;
  let cachedEpoch = -1;
  function headerValue() {
    const now = performance.now();
    if (now - cachedAt < maxAge && cachedEpoch === gcState.epoch) return cached;
    cached = formatHeader(readUsage());
    cachedAt = now;
    cachedEpoch = gcState.epoch;
    return cached;
  }
  function invalidate() {
    cachedAt = -Infinity;
  }

  // writeHead is patched on each response (an own property): it refreshes the header right
  // before the head is serialised, whoever calls it -- the app, or Node's implicit header on
  // the first res.write()/res.end(), which calls this.writeHead(this.statusCode).
  function sharedWriteHead() {
    refresh(this);
    return Object.getPrototypeOf(this).writeHead.apply(this, arguments);
  }
  function refresh(res) {
    try {
      if (res.headersSent || res[kFixed] === true) return;
      const v = headerValue();
      if (res.getHeader(name) !== v) res.setHeader(name, v); // getHeader is ~3x cheaper
    } catch (_) {
      /* never break the response */
    }
  }
  function hookHeader(res) {
    if (!name || !res || typeof res.setHeader !== 'function' || res.headersSent) return;
    if (res.writeHead === sharedWriteHead) return; // already hooked by this instance
    try {
      res.setHeader(name, headerValue()); // at request start (covers http2 compat responses)
      if (Object.prototype.hasOwnProperty.call(res, 'writeHead')) {
        // someone (on-headers, another instance) already wrapped it: wrap theirs
        const prev = res.writeHead;
        res.writeHead = function writeHead() {
          refresh(this);
          return prev.apply(this, arguments);
        };
      } else {
        res.writeHead = sharedWriteHead;
      }
    } catch (_) {
      /* never break the response */
    }
  }

  function matches(req) {
    if (!path || !req) return false;
    const url = req.url;
    if (typeof url !== 'string') return false;
    return url === path || url.startsWith(pathQ);
  }

  /** The endpoint's answer for req, or null when req is not for the endpoint / not allowed. */
  function endpointResponse(req) {
    if (!matches(req)) return null;
    let ok = false;
    try {
      ok = !!o.allow(req);
    } catch (_) {
      ok = false;
    }
    if (!ok) return null; // not allowed: the endpoint does not exist for this client
    const headers = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' };
    if (req.method !== 'GET') {
      headers.Allow = 'GET';
      return { status: 405, headers, body: '{"error":"method not allowed"}\n' };
    }
    const q = req.url.length > path.length ? new URLSearchParams(req.url.slice(pathQ.length)) : null;
    const g = q ? q.get('gc') : null;
    const gc = g === '1' || g === 'true';
    const r = readingAndHeader({ gc });
    if (gc) invalidate(); // later headers show the post-GC heap
    // the endpoint's own response carries the header of this very reading (with gc=1 after a
    // forced GC), not the cached one
    return { status: 200, headers, body: JSON.stringify(r.json) + '\n', memHeader: name ? r.header : '' };
  }

  /** Put the endpoint reading's own header on res; the writeHead refresh then keeps it. */
  function fixHeader(res, r) {
    if (!r.memHeader) return;
    res[kFixed] = true;
    res.setHeader(name, r.memHeader);
  }

  /** The hook for node:http-style (req, res): header always; true when the endpoint answered. */
  function hook(req, res) {
    hookHeader(res);
    if (!path) return false;
    const r = endpointResponse(req);
    if (!r) return false;
    try {
      fixHeader(res, r);
      res.writeHead(r.status, r.headers);
      res.end(r.body);
    } catch (_) {
      /* the client went away */
    }
    return true;
  }

  return { hook, hookHeader, fixHeader, headerValue, endpointResponse, reading, invalidate, options: o };
}

// ---- adapters ---------------------------------------------------------------------------

/**
 * node:http / https / http2-compat server: hooks every 'request' (whoever listens to it, added
 * before or after attach), answers the endpoint itself and then does not emit 'request' for it.
 */
function attach(server, options) {
  const inst = create(options);
  const emit = server.emit;
  server.emit = function leakproxyEmit(ev, req, res) {
    if (ev === 'request') {
      if (inst.hook(req, res)) return true;
    } else if (ev === 'checkContinue' || ev === 'checkExpectation') {
      inst.hookHeader(res);
    }
    return emit.apply(this, arguments);
  };
  return server;
}

/** Wrap a (req, res) handler: http.createServer(wrap(handler)). */
function wrap(handler, options) {
  const inst = create(options);
  return function leakproxyHandler(req, res) {
    if (inst.hook(req, res)) return undefined;
    return handler.apply(this, arguments);
  };
}

/** Express / Connect / Vite middleware: app.use(middleware()). */
function middleware(options) {
  const inst = create(options);
  return function leakproxyMemory(req, res, next) {
    if (inst.hook(req, res)) return;
    next();
  };
}

/** Koa (and egg) middleware: app.use(koa()). */
function koa(options) {
  const inst = create(options);
  return async function leakproxyMemory(ctx, next) {
    inst.hookHeader(ctx.res);
    const r = inst.endpointResponse(ctx.req);
    if (!r) return next();
    inst.fixHeader(ctx.res, r);
    ctx.status = r.status;
    for (const k of Object.keys(r.headers)) ctx.set(k, r.headers[k]);
    ctx.body = r.body;
    return undefined;
  };
}

/** egg: app/middleware/leakproxy.js is `module.exports = require('leakproxy-memory').egg;` */
function egg(options /* , app */) {
  const o = Object.assign({}, options || {});
  // egg's own per-middleware options, consumed by egg's loader
  delete o.enable;
  delete o.match;
  delete o.ignore;
  return koa(o);
}

/**
 * Nuxt 3 / Nitro (h3, node presets): server/middleware/leakproxy.ts
 *   export default defineEventHandler(nitro())
 * Returns undefined so h3 goes on to the next handler, unless the endpoint answered (then h3
 * sees the response ended and stops).
 */
function nitro(options) {
  const inst = create(options);
  return function leakproxyMemory(event) {
    const node = event && event.node;
    if (node && node.req && node.res) inst.hook(node.req, node.res);
    return undefined;
  };
}

/** Vite plugin (dev server and `vite preview`); in a custom SSR server use middleware(). */
function vite(options) {
  const mw = middleware(options);
  return {
    name: 'leakproxy-memory',
    configureServer(server) {
      server.middlewares.use(mw);
    },
    configurePreviewServer(server) {
      server.middlewares.use(mw);
    },
  };
}

let defaultInst = null;
/** The current header value with the default options (cached like the hooks). */
function headerValue() {
  if (!defaultInst) defaultInst = create();
  return defaultInst.headerValue();
}

module.exports = {
  attach,
  wrap,
  middleware,
  express: middleware,
  connect: middleware,
  koa,
  egg,
  nitro,
  vite,
  create,
  headerValue,
  reading,
  forceGc,
  start,
  stop,
  isLocalRequest,
  DEFAULTS,
  _gcState: gcState, // for tests
};
