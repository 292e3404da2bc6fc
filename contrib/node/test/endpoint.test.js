'use strict';
// The JSON endpoint: fields, ?gc=1 with and without --expose-gc, allow(), methods, paths.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { PerformanceObserver, constants } = require('node:perf_hooks');
const lp = require('..');
const { checkHeader, get, listen, gcFunction, settle, waitFor } = require('../test-helpers');

const FIELDS = ['pid', 'rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers', 'heapLimit'];

function appServer(opts) {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url);
    res.end('app:' + req.url);
  });
  lp.attach(server, opts);
  return { server, seen };
}

test('GET /__leakproxy/memory: memoryUsage fields as JSON, the app never sees it', async () => {
  const { server, seen } = appServer();
  const s = await listen(server);
  try {
    const r = await get(s, '/__leakproxy/memory');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.equal(r.headers['cache-control'], 'no-store');
    checkHeader(r.headers['x-leakproxy-memory']);
    const j = JSON.parse(r.body);
    for (const k of FIELDS) assert.ok(Number.isInteger(j[k]) && j[k] >= 0, k);
    assert.equal(j.pid, process.pid);
    const hf = checkHeader(r.headers['x-leakproxy-memory']);
    assert.equal(hf.heap_used, j.heapUsed, 'the header of the endpoint response is its own reading');
    assert.ok(!('gc' in hf));
    assert.ok(!('gc' in j) && !('gc_ms' in j) && !('gc_error' in j));
    assert.equal('heapFloor' in j, 'gcSeq' in j);
    assert.deepEqual(seen, []);
    // other paths, including look-alikes, belong to the app
    for (const p of ['/', '/__leakproxy/memoryx', '/__leakproxy/memory/', '/__leakproxy']) {
      const o = await get(s, p);
      assert.equal(o.body, 'app:' + p);
      checkHeader(o.headers['x-leakproxy-memory']);
    }
  } finally {
    await s.close();
  }
});

test('?gc=1 forces a GC: gc true, gc_ms, exact heapFloor/gcSeq at once, header with gc=1', async () => {
  const had = global.gc;
  global.gc = gcFunction();
  // count the natural (not forced) major GCs meanwhile, to check forced ones are counted once
  let natural = 0;
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries())
      if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR && !(e.detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED)) natural++;
  });
  obs.observe({ entryTypes: ['gc'] });
  const { server } = appServer({ maxAgeMs: 60000 });
  const s = await listen(server);
  try {
    const before = lp._gcState.seq;
    const r = await get(s, '/__leakproxy/memory?gc=1');
    assert.equal(r.status, 200);
    const j = JSON.parse(r.body);
    assert.equal(j.gc, true);
    assert.ok(typeof j.gc_ms === 'number' && j.gc_ms > 0 && j.gc_ms < 5000, String(j.gc_ms));
    assert.ok(!('gc_error' in j));
    for (const k of FIELDS) assert.ok(Number.isInteger(j[k]), k);
    assert.equal(j.gcSeq, before + 1 + natural);
    assert.ok(j.heapFloor > 0 && j.heapFloor <= j.heapUsed && j.heapFloorAgeMs >= 0, r.body);
    // the endpoint response's own header: this post-GC reading, marked gc=1
    const h = r.headers['x-leakproxy-memory'];
    assert.match(h, /; gc=1$/);
    const hf = checkHeader(h);
    assert.equal(hf.gc, 1);
    assert.equal(hf.heap_used, j.heapUsed);
    assert.equal(hf.floor, j.heapFloor);
    assert.equal(hf.gc_seq, j.gcSeq);
    // the observer sees that GC later and does not count it again
    await waitFor(() => lp._gcState.pendingForced === 0);
    const r2 = await get(s, '/__leakproxy/memory?x=2&gc=true');
    const j2 = JSON.parse(r2.body);
    assert.ok(j2.gc && j2.heapFloor > 0, r2.body);
    await waitFor(() => lp._gcState.pendingForced === 0);
    assert.equal(lp._gcState.seq, before + 2 + natural, 'each forced GC counted once');
    // later ordinary responses: the post-GC reading, never gc=1
    const r3 = await get(s, '/page');
    const f = checkHeader(r3.headers['x-leakproxy-memory']);
    assert.ok(!('gc' in f));
    assert.ok(f.gc_seq >= j2.gcSeq);
    const r4 = await get(s, '/__leakproxy/memory?gc=0');
    assert.ok(!('gc' in JSON.parse(r4.body)));
    assert.doesNotMatch(r4.headers['x-leakproxy-memory'], /gc=1/);
  } finally {
    obs.disconnect();
    await s.close();
    if (had) global.gc = had; else delete global.gc;
  }
});

test('?gc=1 without --expose-gc: 200, gc_error, no gc_ms', async () => {
  const had = global.gc;
  delete global.gc;
  const { server } = appServer();
  const s = await listen(server);
  try {
    const r = await get(s, '/__leakproxy/memory?gc=1');
    assert.equal(r.status, 200);
    const j = JSON.parse(r.body);
    assert.equal(j.gc_error, 'run node with --expose-gc');
    assert.ok(!('gc_ms' in j) && !('gc' in j));
    assert.doesNotMatch(r.headers['x-leakproxy-memory'], /gc=1/);
    assert.ok(Number.isInteger(j.heapUsed));
  } finally {
    await s.close();
    if (had) global.gc = had;
  }
});

test('a real `node --expose-gc` process answers ?gc=1', async () => {
  const code = `const http=require('node:http');const lp=require(${JSON.stringify(path.join(__dirname, '..'))});
    const s=lp.attach(http.createServer((q,r)=>r.end('x')));s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ['--expose-gc', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolve, reject) => {
      child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
      child.once('exit', (c) => reject(new Error('child exited ' + c)));
    });
    const j = JSON.parse((await get({ port }, '/__leakproxy/memory?gc=1')).body);
    assert.equal(j.pid, child.pid);
    assert.equal(j.gc, true);
    assert.ok(j.gc_ms > 0);
    // the child's GC observer reports a turn or two after the GC: ask until it shows
    let f = {};
    for (let i = 0; i < 100 && !(f.gc_seq >= 1); i++) {
      if (i) await settle();
      const r = await get({ port }, '/');
      f = checkHeader(r.headers['x-leakproxy-memory'], { pid: child.pid });
    }
    assert.ok(f.gc_seq >= 1 && f.floor > 0, JSON.stringify(f));
  } finally {
    child.kill();
  }
});

test('other methods get 405; custom path; path:false turns the endpoint off', async () => {
  const a = appServer({ path: '/_mem' });
  const s = await listen(a.server);
  try {
    const r = await get(s, '/_mem', { method: 'POST' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET');
    assert.equal((await get(s, '/_mem')).status, 200);
    assert.equal((await get(s, '/__leakproxy/memory')).body, 'app:/__leakproxy/memory');
  } finally {
    await s.close();
  }
  const b = appServer({ path: false });
  const s2 = await listen(b.server);
  try {
    const r = await get(s2, '/__leakproxy/memory');
    assert.equal(r.body, 'app:/__leakproxy/memory');
    checkHeader(r.headers['x-leakproxy-memory']);
  } finally {
    await s2.close();
  }
});

test('allow(req) refusing: the request falls through to the app, no GC is forced', async () => {
  const calls = [];
  const { server, seen } = appServer({ allow: (req) => { calls.push(req.url); return req.headers['x-token'] === 's3cret'; } });
  const s = await listen(server);
  try {
    const seq = lp._gcState.seq;
    const r = await get(s, '/__leakproxy/memory?gc=1');
    assert.equal(r.body, 'app:/__leakproxy/memory?gc=1');
    assert.deepEqual(seen, ['/__leakproxy/memory?gc=1']);
    const ok = await get(s, '/__leakproxy/memory', { headers: { 'x-token': 's3cret' } });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).pid, process.pid);
    assert.equal(calls.length, 2);
    await settle();
    assert.equal(lp._gcState.seq, seq);
  } finally {
    await s.close();
  }
});

test('default allow: loopback and unix sockets yes, other peers no', async () => {
  const sock = (remoteAddress, address = () => ({ port: 1 })) => ({ socket: { remoteAddress, server: { address } } });
  for (const a of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1'])
    assert.equal(lp.isLocalRequest(sock(a)), true, a);
  for (const a of ['10.0.0.1', '192.168.1.2', '::ffff:10.1.1.1', 'fe80::1', '1.127.0.0', undefined, ''])
    assert.equal(lp.isLocalRequest(sock(a)), false, String(a));
  assert.equal(lp.isLocalRequest(sock(undefined, () => '/tmp/app.sock')), true, 'unix socket server');
  assert.equal(lp.isLocalRequest({}), false);
  assert.equal(lp.isLocalRequest(null), false);

  // for real, over a unix socket
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lpm-'));
  const sockPath = path.join(dir, 's.sock');
  const { server } = appServer();
  await new Promise((r) => server.listen(sockPath, r));
  try {
    const r = await get(sockPath, '/__leakproxy/memory');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).pid, process.pid);
  } finally {
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('default allow over a real non-loopback address of this host', async (t) => {
  const ifs = Object.values(os.networkInterfaces()).flat().filter((i) => i && i.family === 'IPv4' && !i.internal);
  if (ifs.length === 0) {
    t.skip('no non-loopback IPv4 interface on this machine');
    return;
  }
  const addr = ifs[0].address;
  const { server, seen } = appServer();
  const s = await listen(server, addr);
  try {
    const r = await get({ host: addr, port: s.port }, '/__leakproxy/memory?gc=1');
    assert.equal(r.body, 'app:/__leakproxy/memory?gc=1', 'refused: passed on to the app');
    assert.equal(seen.length, 1);
    checkHeader(r.headers['x-leakproxy-memory']);
  } finally {
    await s.close();
  }
});
