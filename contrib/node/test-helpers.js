'use strict';
// Shared test helpers: an HTTP client, the header check that mirrors leakproxy's C parser
// (src/memparse.c memparse_header), and minimal fakes of the middleware signatures of
// Connect/Express, Koa and h3 (Nitro). No npm dependencies: the fakes reproduce only what the
// adapters rely on (call order, next(), ctx.set/status/body, event.node, event.handled, and
// the error handlers of Express/Koa that remove every header before answering 500).
const http = require('node:http');
const assert = require('node:assert/strict');
const v8 = require('node:v8');
const vm = require('node:vm');

const HEADER_RE = /^pid=\d+(; (rss|heap_used|heap_total|external|array_buffers|floor|gc_seq|heap_limit|gc)=\d+)*$/;

/** Parse and check a header value; returns its fields as numbers. */
function checkHeader(value, { pid = process.pid } = {}) {
  assert.equal(typeof value, 'string', 'X-Leakproxy-Memory header missing');
  assert.match(value, HEADER_RE);
  const f = {};
  for (const part of value.split('; ')) {
    const [k, v] = part.split('=');
    assert.ok(!(k in f), `duplicate key ${k}`);
    f[k] = Number(v);
  }
  if (pid !== null) assert.equal(f.pid, pid);
  assert.ok(f.rss > 0 && f.heap_used > 0 && f.heap_total > 0, value);
  assert.ok(f.heap_used <= f.heap_total + 1e6, value);
  assert.equal(f.heap_limit, v8.getHeapStatistics().heap_size_limit);
  assert.equal('floor' in f, 'gc_seq' in f, 'floor and gc_seq come together');
  return f;
}

function get(target, path, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const opts = typeof target === 'string'
      ? { socketPath: target, path, method, headers, agent: false }
      : { host: target.host || '127.0.0.1', port: target.port, path, method, headers, agent: false };
    const req = http.request(opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function listen(server, host = '127.0.0.1') {
  await new Promise((r) => server.listen(0, host, r));
  return { port: server.address().port, host, close: () => new Promise((r) => server.close(r)) };
}

/** A V8 gc() function without --expose-gc on the command line. */
function gcFunction() {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
}
/** Resolve after the PerformanceObserver had a chance to deliver buffered gc entries. */
const settle = () => new Promise((r) => setTimeout(r, 30));
/** Resolve once cond() holds (polled every loop turn), or throw after ms. The GC observer's
 * callback comes a turn or two after the GC; on a loaded machine a fixed sleep is not enough. */
async function waitFor(cond, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + cond);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// ---- Connect / Express ------------------------------------------------------------------
function fakeConnect() {
  const stack = [];
  const app = (req, res) => {
    let i = 0;
    const next = (err) => {
      const layer = stack[i++];
      if (!layer) {
        if (err) {
          // like finalhandler: drop every header set so far, then answer 500
          for (const n of res.getHeaderNames()) res.removeHeader(n);
          res.statusCode = 500;
          res.end('Internal Server Error');
        } else {
          res.statusCode = 404;
          res.end('Cannot GET ' + req.url);
        }
        return;
      }
      try {
        if (err) {
          if (layer.length === 4) layer(err, req, res, next);
          else next(err);
        } else if (layer.length < 4) layer(req, res, next);
        else next();
      } catch (e) {
        next(e);
      }
    };
    next();
  };
  app.use = (fn) => { stack.push(fn); return app; };
  return app;
}

// ---- Koa --------------------------------------------------------------------------------
function compose(mw) {
  return (ctx) => {
    const dispatch = (i) => {
      if (i === mw.length) return Promise.resolve();
      try {
        return Promise.resolve(mw[i](ctx, () => dispatch(i + 1)));
      } catch (e) {
        return Promise.reject(e);
      }
    };
    return dispatch(0);
  };
}
function fakeKoa() {
  const mws = [];
  const app = {
    use(fn) { mws.push(fn); return app; },
    callback() {
      const fn = compose(mws);
      return (req, res) => {
        res.statusCode = 404; // Koa's default
        const ctx = {
          app, req, res, state: {}, respond: true, _body: null, _explicit: false,
          get url() { return req.url; },
          get method() { return req.method; },
          get path() { return new URL(req.url, 'http://x').pathname; },
          set(k, v) { res.setHeader(k, v); },
          get(k) { return req.headers[k.toLowerCase()] || ''; },
          get status() { return res.statusCode; },
          set status(c) { this._explicit = true; res.statusCode = c; },
          get body() { return this._body; },
          set body(v) {
            this._body = v;
            if (!this._explicit) res.statusCode = 200;
            if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'text/plain; charset=utf-8');
          },
        };
        fn(ctx).then(() => {
          if (ctx.respond === false || res.writableEnded) return;
          const b = ctx._body;
          if (b && typeof b.pipe === 'function') b.pipe(res);
          else res.end(b == null ? http.STATUS_CODES[res.statusCode] : b);
        }, () => {
          // like Koa's ctx.onerror: remove every header, then answer 500
          for (const n of res.getHeaderNames()) res.removeHeader(n);
          res.statusCode = 500;
          res.setHeader('Content-Type', 'text/plain; charset=utf-8');
          res.end('Internal Server Error');
        });
      };
    },
  };
  return app;
}

// ---- h3 (Nitro / Nuxt 3) ----------------------------------------------------------------
/** h3 v1's app loop: run handlers in order; a returned value is the response; stop once
 * event.handled (the response ended or its head was sent). */
function fakeH3(handlers) {
  return (req, res) => {
    const event = {
      node: { req, res },
      get handled() { return res.writableEnded || res.headersSent; },
    };
    (async () => {
      for (const h of handlers) {
        const v = await h(event);
        if (v !== undefined) {
          res.end(typeof v === 'string' ? v : JSON.stringify(v));
          return;
        }
        if (event.handled) return;
      }
      res.statusCode = 404;
      res.end('not found');
    })().catch(() => { res.statusCode = 500; res.end(); });
  };
}

module.exports = { HEADER_RE, checkHeader, get, listen, gcFunction, settle, waitFor, fakeConnect, fakeKoa, fakeH3 };
