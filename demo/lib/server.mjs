// server.mjs -- the plain node:http server both demo apps run on.
//
// It owns what is not framework code: routing, /__mem (memory readings, optional forced
// GC), cluster mode, the client-side shell (header X-SSR-Off: 1), static files, and
// printing "listening on HOST:PORT" once the socket is bound (PORT=0 picks a free port).
// An app hands it a route table; each route's handler renders one page.
//
// Optional, off unless set (without them the app behaves byte for byte as before):
//   LEAKPROXY_HEADER=1  contrib/node's module adds the X-Leakproxy-Memory header to every
//                       response (leakproxy's "header" memory source; also its endpoint
//                       /__leakproxy/memory[?gc=1])
//   PROM=1              GET /metrics: prom-client's default metrics of the worker that served
//                       it, labelled pid="<pid>"; GET /metrics/all: every worker's (cluster mode:
//                       aggregated by the primary, one series per pid label)
import http from 'node:http';
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { num } from './config.mjs';

const STATIC_DIR = new URL('./static/', import.meta.url);
const STATIC = {
  '/static/client.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('client.js', STATIC_DIR)) },
  '/static/app.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('app.css', STATIC_DIR)) },
};

/** Compiles "/detail/:id", "/about" or "/static/*" into a matcher returning params or null. */
export function compile(pattern) {
  const parts = pattern.split('/').map((seg) => {
    if (seg === '*') return '(?<_rest>.*)';
    if (seg.startsWith(':')) return `(?<${seg.slice(1)}>[^/]+)`;
    return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  const re = new RegExp(`^${parts.join('/')}$`);
  return (path) => { const m = re.exec(path); return m ? { ...m.groups } : null; };
}

/** The client-side shell: the page without server rendering, identical for every URL. */
export function shellHtml(appName) {
  return '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${appName} shop</title><link rel="stylesheet" href="/static/app.css"></head>` +
    `<body><div id="app"></div><script>window.__APP__=${JSON.stringify(appName)}</script>` +
    '<script src="/static/client.js" defer></script></body></html>\n';
}

/** Reads this process's memory the way the memory-source code will: usage + VmRSS. */
export function memReading(forceGc) {
  const out = { pid: process.pid };
  if (forceGc) {
    if (typeof global.gc !== 'function') out.gc_error = 'start node with --expose-gc';
    else { const t0 = performance.now(); global.gc(); out.gc_ms = +(performance.now() - t0).toFixed(3); }
  }
  Object.assign(out, process.memoryUsage());
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'latin1'));
  out.vmrss = m ? Number(m[1]) * 1024 : null;
  out.heapLimit = v8.getHeapStatistics().heap_size_limit;   /* for projections and the guard's high_fraction */
  if (cluster.isWorker) out.worker = cluster.worker.id;
  return out;
}

export function send(res, status, type, body, extra = {}) {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': buf.length, ...extra });
  res.end(buf);
}
const envOn = (k) => /^(1|on|true|yes)$/i.test((process.env[k] || '').trim());

/** prom-client from the app's own node_modules (demo/<app>/), default metrics labelled by pid. */
function loadProm(appName, { collect = true } = {}) {
  const req = createRequire(new URL(`../${appName}/package.json`, import.meta.url));
  const client = req('prom-client');
  client.register.setDefaultLabels({ pid: String(process.pid) });
  if (collect) client.collectDefaultMetrics();
  return client;
}

/** contrib/node's leakproxy-memory module (CommonJS). */
function loadHeaderModule() {
  return createRequire(import.meta.url)('../../contrib/node/index.js');
}

const sendJson = (res, status, obj) => send(res, status, 'application/json', JSON.stringify(obj) + '\n', { 'Cache-Control': 'no-store' });

// /__mem/all in cluster mode: the worker asks the primary, which asks every worker.
let memAllSeq = 0;
const memAllWaiting = new Map();
function memAll(forceGc) {
  if (!cluster.isWorker) return Promise.resolve({ workers: [memReading(forceGc)] });
  const id = ++memAllSeq;
  process.send({ type: 'mem-all', id, gc: forceGc });
  return new Promise((resolve) => memAllWaiting.set(id, resolve));
}

// /metrics/all in cluster mode: the primary aggregates every worker's registry.
let promAllSeq = 0;
const promAllWaiting = new Map();
function promAll() {
  const id = ++promAllSeq;
  process.send({ type: 'prom-all', id });
  return new Promise((resolve, reject) => promAllWaiting.set(id, (m) => (m.error ? reject(new Error(m.error)) : resolve(m.text))));
}

/**
 * Starts the app. <routes>: [{ name, match, ssr, handler(req, res, params, url) }].
 * ssr routes answer "X-SSR-Off: 1" with the shell instead of rendering.
 */
export function serve({ appName, routes, banner }) {
  const host = process.env.HOST || '127.0.0.1';
  const port = num('PORT', 3000);
  const workers = num('WORKERS', 0);
  if (workers > 0 && cluster.isPrimary) return primary(workers, host, banner, appName);

  const table = routes.map((r) => ({ ...r, test: compile(r.match) }));
  const shell = shellHtml(appName);
  const prom = envOn('PROM') ? loadProm(appName) : null;
  // in a worker, answers the primary's AggregatorRegistry (for /metrics/all)
  if (prom && cluster.isWorker) new prom.AggregatorRegistry();

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = url.pathname;
    try {
      if (path === '/__mem') return sendJson(res, 200, memReading(url.searchParams.get('gc') === '1'));
      if (path === '/__mem/all') return sendJson(res, 200, await memAll(url.searchParams.get('gc') === '1'));
      if (path === '/__config') return sendJson(res, 200, { app: appName, pid: process.pid, ...banner() });
      if (prom && (path === '/metrics' || path === '/metrics/all')) {
        const text = path === '/metrics' || !cluster.isWorker ? await prom.register.metrics() : await promAll();
        return send(res, 200, prom.register.contentType, text, { 'Cache-Control': 'no-store' });
      }
      const st = STATIC[path];
      if (st) return send(res, 200, st.type, st.body, { 'Cache-Control': 'public, max-age=60' });
      for (const r of table) {
        const params = r.test(path);
        if (!params) continue;
        if (r.ssr && req.headers['x-ssr-off'] === '1') {
          return send(res, 200, 'text/html; charset=utf-8', shell, { 'X-Render': 'csr' });
        }
        return await r.handler(req, res, params, url);
      }
      send(res, 404, 'text/html; charset=utf-8', `<!DOCTYPE html><h1>404</h1><p>No page at ${path.replace(/[<>&"]/g, '')}</p>\n`);
    } catch (err) {
      console.error(`[${appName}] ${req.method} ${req.url}:`, err);
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy(err);
    }
  });

  if (envOn('LEAKPROXY_HEADER')) loadHeaderModule().attach(server);
  if (cluster.isWorker) {
    process.on('message', (m) => {
      if (m?.type === 'mem') process.send({ type: 'mem-reply', id: m.id, mem: memReading(m.gc) });
      else if (m?.type === 'mem-all-reply') { memAllWaiting.get(m.id)?.(m.result); memAllWaiting.delete(m.id); }
      else if (m?.type === 'prom-all-reply') { promAllWaiting.get(m.id)?.(m); promAllWaiting.delete(m.id); }
    });
  }
  server.listen(port, host, () => {
    const a = server.address();
    if (cluster.isWorker) process.send({ type: 'listening', port: a.port });
    else {
      console.log(`listening on ${host}:${a.port}`);
      console.log(`${appName}: pid ${process.pid}, ${JSON.stringify(banner())}`);
    }
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
  return server;
}

// Cluster primary: forks workers that share one listening port (port 0 included: the
// primary owns the socket, so every worker gets the same port), answers /__mem/all.
function primary(n, host, banner, appName) {
  const aggregator = envOn('PROM') ? new (loadProm(appName, { collect: false }).AggregatorRegistry)() : null;
  const ready = new Set();
  let port = null;
  const pending = new Map();   // request id -> { from, replies[] }
  let nextId = 0;
  const alive = () => Object.values(cluster.workers).filter(Boolean);
  cluster.on('message', (w, m) => {
    if (m?.type === 'listening') {
      ready.add(w.id); port = m.port;
      if (ready.size === n) {
        console.log(`listening on ${host}:${port}`);
        console.log(`cluster: primary ${process.pid}, ${n} workers ${alive().map((x) => x.process.pid).join(' ')}, ${JSON.stringify(banner())}`);
      }
    } else if (m?.type === 'mem-all') {
      const id = ++nextId, ws = alive();
      pending.set(id, { from: w, reqId: m.id, want: ws.length, replies: [] });
      for (const x of ws) x.send({ type: 'mem', id, gc: m.gc });
    } else if (m?.type === 'prom-all' && aggregator) {
      aggregator.clusterMetrics().then((text) => w.send({ type: 'prom-all-reply', id: m.id, text }),
        (err) => w.send({ type: 'prom-all-reply', id: m.id, error: String(err?.message || err) }));
    } else if (m?.type === 'mem-reply') {
      const p = pending.get(m.id);
      if (!p) return;
      p.replies.push(m.mem);
      if (p.replies.length === p.want) {
        pending.delete(m.id);
        p.replies.sort((a, b) => a.worker - b.worker);
        const sum = (k) => p.replies.reduce((s, r) => s + (r[k] || 0), 0);
        p.from.send({ type: 'mem-all-reply', id: p.reqId,
          result: { primary: process.pid, rss: sum('rss'), heapUsed: sum('heapUsed'), vmrss: sum('vmrss'), workers: p.replies } });
      }
    }
  });
  cluster.on('exit', (w, code, sig) => console.error(`worker ${w.process.pid} exited (${sig || code}); not restarted`));
  for (let i = 0; i < n; i++) cluster.fork();
  const stop = () => { for (const w of alive()) w.process.kill('SIGTERM'); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
