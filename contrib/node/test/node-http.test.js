'use strict';
// node:http: attach(server) and wrap(handler); the header on every way of sending a head.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { Readable, pipeline } = require('node:stream');
const lp = require('..');
const { checkHeader, get, listen } = require('../test-helpers');

// Every way an app (or a renderer) can send the head of a response.
const ROUTES = {
  '/end': (req, res) => res.end('ok'),
  '/writehead': (req, res) => { res.writeHead(201, { 'X-App': 'a' }); res.end('ok'); },
  '/writehead-reason': (req, res) => { res.writeHead(200, 'Fine', { 'X-App': 'a' }); res.end('ok'); },
  '/writehead-raw': (req, res) => { res.writeHead(200, ['X-App', 'a', 'X-App2', 'b']); res.end('ok'); },
  '/setheader-after-hook': (req, res) => {
    res.setHeader('X-App', 'a');
    res.statusCode = 202;
    res.end('ok');
  },
  // res.write without writeHead: Node's implicit header
  '/stream-write': (req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.write('<html>');
    setTimeout(() => { res.write('<body>'); res.end('</body></html>'); }, 5);
  },
  // like React's renderToPipeableStream(...).pipe(res) once the shell is ready
  '/stream-pipe': (req, res) => {
    setTimeout(() => {
      res.setHeader('Content-Type', 'text/html');
      const chunks = ['<!DOCTYPE html>', '<div>shell</div>', '<div>late</div>'];
      pipeline(Readable.from(chunks), res, () => {});
    }, 5);
  },
  '/flush': (req, res) => { res.flushHeaders(); setTimeout(() => res.end('ok'), 5); },
  // an error handler that clears every header first (Express finalhandler, Koa onerror)
  '/error-clears-headers': (req, res) => {
    res.setHeader('X-App', 'a');
    for (const n of res.getHeaderNames()) res.removeHeader(n);
    res.statusCode = 500;
    res.end('boom');
  },
  // another wrapper of writeHead installed after ours (like on-headers)
  '/on-headers': (req, res) => {
    const prev = res.writeHead;
    res.writeHead = function () { this.setHeader('X-On-Headers', '1'); return prev.apply(this, arguments); };
    res.end('ok');
  },
  '/head-only': (req, res) => { res.writeHead(204); res.end(); },
};

function router(req, res) {
  const h = ROUTES[req.url.split('?')[0]];
  if (h) h(req, res);
  else { res.statusCode = 404; res.end('nf'); }
}

async function checkAll(s) {
  for (const p of Object.keys(ROUTES)) {
    const r = await get(s, p);
    checkHeader(r.headers['x-leakproxy-memory']);
    if (p === '/writehead') assert.equal(r.status, 201);
    if (p === '/setheader-after-hook') { assert.equal(r.status, 202); assert.equal(r.headers['x-app'], 'a'); }
    if (p.startsWith('/writehead')) assert.equal(r.headers['x-app'], 'a', p);
    if (p === '/writehead-raw') assert.equal(r.headers['x-app2'], 'b');
    if (p === '/stream-write') assert.equal(r.body, '<html><body></body></html>');
    if (p === '/stream-pipe') assert.equal(r.body, '<!DOCTYPE html><div>shell</div><div>late</div>');
    if (p === '/error-clears-headers') { assert.equal(r.status, 500); assert.equal(r.headers['x-app'], undefined); }
    if (p === '/on-headers') assert.equal(r.headers['x-on-headers'], '1');
  }
}

test('attach(server): header on every response style', async () => {
  const s = await listen(lp.attach(http.createServer(router)));
  try { await checkAll(s); } finally { await s.close(); }
});

test('wrap(handler): header on every response style', async () => {
  const s = await listen(http.createServer(lp.wrap(router)));
  try { await checkAll(s); } finally { await s.close(); }
});

test('attach: request listeners added after attach are hooked too; endpoint skips them all', async () => {
  const server = lp.attach(http.createServer());
  let calls = 0;
  server.on('request', (req, res) => { calls++; res.end('late'); });
  const s = await listen(server);
  try {
    const r = await get(s, '/x');
    assert.equal(r.body, 'late');
    checkHeader(r.headers['x-leakproxy-memory']);
    const m = await get(s, '/__leakproxy/memory');
    assert.equal(JSON.parse(m.body).pid, process.pid);
    assert.equal(calls, 1);
  } finally {
    await s.close();
  }
});

test('header is read when the head is sent, not only at request start', async () => {
  const inst = lp.create({ maxAgeMs: 0 });
  let atStart = '';
  const server = http.createServer((req, res) => {
    inst.hook(req, res);
    atStart = res.getHeader('X-Leakproxy-Memory');
    const hold = [];
    for (let i = 0; i < 1e5; i++) hold.push({ i, s: 'y' + i }); // the "render"
    res.end(String(hold.length));
  });
  const s = await listen(server);
  try {
    const r = await get(s, '/');
    const f0 = checkHeader(atStart);
    const f1 = checkHeader(r.headers['x-leakproxy-memory']);
    assert.ok(f1.heap_used !== f0.heap_used, 'refreshed in writeHead');
  } finally {
    await s.close();
  }
});

test('custom header name; header:false; hooking twice gives one header; keep-alive', async () => {
  const server = http.createServer(lp.wrap(lp.wrap(router), { header: 'X-Mem' }));
  const s = await listen(server);
  try {
    const r = await get(s, '/end');
    checkHeader(r.headers['x-mem']);
    checkHeader(r.headers['x-leakproxy-memory']);
  } finally {
    await s.close();
  }
  const s2 = await listen(http.createServer(lp.wrap(lp.wrap(router), { header: false })));
  try {
    const r = await get(s2, '/stream-write');
    checkHeader(r.headers['x-leakproxy-memory']); // from the inner wrap only, not an array
    const m = await get(s2, '/__leakproxy/memory');
    assert.equal(m.status, 200);
  } finally {
    await s2.close();
  }
  const s3 = await listen(http.createServer(lp.wrap(router, { header: false, path: false })));
  try {
    const r = await get(s3, '/end');
    assert.equal(r.headers['x-leakproxy-memory'], undefined);
  } finally {
    await s3.close();
  }
  // many requests on one keep-alive connection
  const s4 = await listen(lp.attach(http.createServer(router)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < 20; i++) {
      const h = await new Promise((resolve, reject) => {
        http.get({ port: s4.port, host: '127.0.0.1', path: i % 2 ? '/stream-pipe' : '/end', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers['x-leakproxy-memory']));
        }).on('error', reject);
      });
      checkHeader(h);
    }
  } finally {
    agent.destroy();
    await s4.close();
  }
});
