'use strict';
// Express/Connect, Vite, Koa, egg and Nitro adapters, against minimal fakes of those
// frameworks' middleware contracts (see test-helpers.js; no npm dependencies are installed).
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { Readable } = require('node:stream');
const lp = require('..');
const { checkHeader, get, listen, gcFunction, fakeConnect, fakeKoa, fakeH3 } = require('../test-helpers');

test('Express/Connect middleware: header everywhere, endpoint answered, errors keep the header', async () => {
  assert.equal(lp.express, lp.middleware);
  assert.equal(lp.connect, lp.middleware);
  const app = fakeConnect();
  let appSawEndpoint = false;
  app.use(lp.middleware());
  app.use((req, res, next) => {
    if (req.url.startsWith('/__leakproxy')) appSawEndpoint = true;
    if (req.url === '/page') {
      res.setHeader('Content-Type', 'text/html');
      res.write('<p>');
      setTimeout(() => res.end('streamed</p>'), 5);
    } else if (req.url === '/boom') next(new Error('boom'));
    else next();
  });
  const s = await listen(http.createServer(app));
  try {
    const p = await get(s, '/page');
    assert.equal(p.body, '<p>streamed</p>');
    checkHeader(p.headers['x-leakproxy-memory']);
    const b = await get(s, '/boom');
    assert.equal(b.status, 500);
    checkHeader(b.headers['x-leakproxy-memory']);
    const n = await get(s, '/nope');
    assert.equal(n.status, 404);
    checkHeader(n.headers['x-leakproxy-memory']);
    const m = await get(s, '/__leakproxy/memory');
    assert.equal(JSON.parse(m.body).pid, process.pid);
    assert.equal(appSawEndpoint, false);
  } finally {
    await s.close();
  }
});

test('Vite plugin: configureServer/configurePreviewServer add the Connect middleware first', async () => {
  const plugin = lp.vite({ path: '/__mem' });
  assert.equal(plugin.name, 'leakproxy-memory');
  for (const hook of ['configureServer', 'configurePreviewServer']) {
    const middlewares = fakeConnect();
    plugin[hook]({ middlewares }); // what Vite passes: a server with a Connect app
    // Vite's own middlewares, then (middlewareMode) the app's SSR handler
    middlewares.use((req, res, next) => (req.url === '/@vite/client' ? res.end('client') : next()));
    middlewares.use((req, res) => res.end('<html>ssr ' + req.url + '</html>'));
    const s = await listen(http.createServer(middlewares));
    try {
      const r = await get(s, '/about');
      assert.equal(r.body, '<html>ssr /about</html>');
      checkHeader(r.headers['x-leakproxy-memory']);
      checkHeader((await get(s, '/@vite/client')).headers['x-leakproxy-memory']);
      assert.ok(JSON.parse((await get(s, '/__mem')).body).heapUsed > 0);
    } finally {
      await s.close();
    }
  }
});

test('Koa middleware: header on ctx.body strings, streams, errors; endpoint via ctx', async () => {
  const app = fakeKoa();
  app.use(lp.koa());
  app.use(async (ctx, next) => {
    if (ctx.path === '/page') {
      await new Promise((r) => setTimeout(r, 5));
      ctx.set('X-App', 'a');
      ctx.body = '<html>page</html>';
    } else if (ctx.path === '/stream') ctx.body = Readable.from(['a', 'b', 'c']);
    else if (ctx.path === '/boom') throw new Error('boom');
    else if (ctx.path.startsWith('/__leakproxy')) ctx.body = 'app saw it';
    else await next();
  });
  const s = await listen(http.createServer(app.callback()));
  try {
    const p = await get(s, '/page');
    assert.equal(p.status, 200);
    assert.equal(p.headers['x-app'], 'a');
    checkHeader(p.headers['x-leakproxy-memory']);
    const st = await get(s, '/stream');
    assert.equal(st.body, 'abc');
    checkHeader(st.headers['x-leakproxy-memory']);
    const b = await get(s, '/boom');
    assert.equal(b.status, 500);
    checkHeader(b.headers['x-leakproxy-memory']);
    const n = await get(s, '/missing');
    assert.equal(n.status, 404);
    checkHeader(n.headers['x-leakproxy-memory']);
    const had = global.gc;
    global.gc = gcFunction();
    let m;
    try {
      m = await get(s, '/__leakproxy/memory?gc=1');
    } finally {
      if (had) global.gc = had; else delete global.gc;
    }
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type'], /^application\/json/);
    const j = JSON.parse(m.body);
    assert.equal(j.pid, process.pid);
    assert.equal(j.gc, true);
    const hf = checkHeader(m.headers['x-leakproxy-memory']);
    assert.equal(hf.gc, 1, 'Koa keeps the reading\'s own header (gc=1) through its respond()');
    assert.equal(hf.heap_used, j.heapUsed);
    const post = await get(s, '/__leakproxy/memory', { method: 'POST' });
    assert.equal(post.status, 405);
  } finally {
    await s.close();
  }
});

test('egg: app/middleware/leakproxy.js exporting .egg, loaded the way egg loads middleware', async () => {
  // app/middleware/leakproxy.js:  module.exports = require('leakproxy-memory').egg;
  const factory = lp.egg;
  // config.middleware = ['leakproxy']; config.leakproxy = { path: '/__leakproxy/memory' }
  const config = { leakproxy: { path: '/__leakproxy/memory', enable: true, match: undefined } };
  const eggApp = fakeKoa();
  // egg's core middlewares (meta, notfound, bodyParser, security...) come first
  eggApp.use(async (ctx, next) => { ctx.set('X-Readtime', '1'); await next(); });
  eggApp.use(factory(config.leakproxy, eggApp)); // egg calls factory(options, app)
  eggApp.use(async (ctx) => { ctx.body = 'egg ' + ctx.path; }); // a controller
  const s = await listen(http.createServer(eggApp.callback()));
  try {
    const r = await get(s, '/home');
    assert.equal(r.body, 'egg /home');
    assert.equal(r.headers['x-readtime'], '1');
    checkHeader(r.headers['x-leakproxy-memory']);
    assert.equal(JSON.parse((await get(s, '/__leakproxy/memory')).body).pid, process.pid);
  } finally {
    await s.close();
  }
});

test('Nitro/h3: defineEventHandler(nitro()) as server middleware', async () => {
  const mw = lp.nitro();
  assert.equal(mw({}), undefined, 'tolerates events without node req/res');
  const rendered = [];
  const handler = fakeH3([
    mw, // server/middleware/leakproxy.ts runs before routes and the renderer
    (event) => { // a server route
      if (event.node.req.url === '/api/hello') return { hello: 'world' };
      return undefined;
    },
    (event) => { // the Nuxt renderer, streaming
      rendered.push(event.node.req.url);
      const res = event.node.res;
      res.setHeader('Content-Type', 'text/html');
      res.write('<div id="__nuxt">');
      return new Promise((r) => setTimeout(() => { res.end('</div>'); r(undefined); }, 5));
    },
  ]);
  const s = await listen(http.createServer(handler));
  try {
    const page = await get(s, '/products/1');
    assert.equal(page.body, '<div id="__nuxt"></div>');
    checkHeader(page.headers['x-leakproxy-memory']);
    const api = await get(s, '/api/hello');
    assert.deepEqual(JSON.parse(api.body), { hello: 'world' });
    checkHeader(api.headers['x-leakproxy-memory']);
    const m = await get(s, '/__leakproxy/memory');
    assert.equal(JSON.parse(m.body).pid, process.pid);
    assert.deepEqual(rendered, ['/products/1'], 'the renderer never ran for the endpoint');
  } finally {
    await s.close();
  }
});
