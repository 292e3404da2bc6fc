// Edge cases beyond the basic framing list: request-line syntax, Host rules
// (RFC 9112 3.2), no-body responses that announce a length, upstream
// connections that must not be reused, spoofed forwarding headers, and
// backpressure in the request direction.

import fs from 'node:fs';
import net from 'node:net';
import {
  test, baseConfig, rawRequest, get, request, hdr, hdrAll, check, eq, sleep, sha256, assertStillServes, note, memEnv, deadPort,
} from './lib.mjs';

async function expect400(ctx, raw, allowed = [400]) {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(raw, []);
  const r = await c.readResponse(2000);
  check(allowed.includes(r.status), `status: expected ${allowed.join(' or ')}, got ${r.status}`);
  check(await c.waitClosed(1000), `connection not closed after ${r.status}`);
  await sleep(30);
  eq(up.heads.length, 0, 'requests at upstream');
  await assertStillServes(p);
}

test('edge: two spaces in the request line -> 400', (ctx) => expect400(ctx, 'GET  /detail/1 HTTP/1.1\r\nHost: a\r\n\r\n'));
test('edge: tab as request-line separator -> 400', (ctx) => expect400(ctx, 'GET\t/detail/1 HTTP/1.1\r\nHost: a\r\n\r\n'));
test('edge: lowercase protocol name -> 400', (ctx) => expect400(ctx, 'GET /detail/1 http/1.1\r\nHost: a\r\n\r\n'));
test('edge: HTTP/0.9-style request line -> 400', (ctx) => expect400(ctx, 'GET /detail/1\r\n\r\n'));
test('edge: unsupported HTTP version -> 400 or 505', (ctx) => expect400(ctx, 'GET /detail/1 HTTP/2.0\r\nHost: a\r\n\r\n', [400, 505]));
test('edge: HTTP/1.1 request without Host -> 400 (RFC 9112 3.2)', (ctx) => expect400(ctx, 'GET /detail/1 HTTP/1.1\r\nX-A: 1\r\n\r\n'));
test('edge: two Host headers -> 400 (RFC 9112 3.2)', (ctx) => expect400(ctx, 'GET /detail/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'));
test('edge: CONNECT is not tunnelled -> 4xx/5xx', (ctx) => expect400(ctx, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', [400, 403, 405, 501]));
test('edge: Transfer-Encoding xchunked -> 400/501', (ctx) => expect400(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', [400, 501]));

test('edge: Transfer-Encoding with odd but valid whitespace accepted', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `body=${req.body.toString()}`));
  const p = await ctx.proxy(baseConfig(up.port));
  for (const te of ['Transfer-Encoding:chunked', 'Transfer-Encoding: chunked ', 'Transfer-Encoding:\tchunked']) {
    const c = await ctx.client(p.port);
    await c.write(`POST /detail/1 HTTP/1.1\r\nHost: a\r\n${te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    const r = await c.readResponse(2000);
    eq(r.status, 200, `status with ${JSON.stringify(te)}`);
    eq(r.body.toString(), 'body=hello', `body with ${JSON.stringify(te)}`);
    c.close();
  }
});

test('edge: HEAD answered with Transfer-Encoding: chunked has no body', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    if (req.method === 'HEAD') return res.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
    res.send(200, [], 'after');
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('HEAD', '/detail/1'), ['HEAD']);
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'HEAD status'); eq(r.body.length, 0, 'HEAD body');
  await c.write(rawRequest('GET', '/detail/2'));
  eq((await c.readResponse(2000)).body.toString(), 'after', 'next response');
});

test('edge: 304 with Content-Length has no body', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/detail/1') return res.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: "x"\r\n\r\n');
    res.send(200, [], 'after');
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/1'));
  const r = await c.readResponse(2000);
  eq(r.status, 304, 'status'); eq(r.body.length, 0, 'body');
  await c.write(rawRequest('GET', '/detail/2'));
  eq((await c.readResponse(2000)).body.toString(), 'after', 'next response (proxy waited for 1234 body bytes?)');
});

test('edge: Expect: 100-continue with Content-Length 0 -> response without waiting', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status');
});

test('edge: upstream Connection: close -> that upstream connection not reused', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/detail/close') return res.send(200, [['Connection', 'close']], 'closing');   // but keeps the socket open
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  eq((await get(p.port, '/detail/close')).body.toString(), 'closing', 'first body');
  eq((await get(p.port, '/detail/next')).body.toString(), 'ok /detail/next', 'second body');
  check(up.requests[1].conn !== up.requests[0].conn, 'request sent on an upstream connection that announced Connection: close');
});

test('edge: upstream HTTP/1.0 response -> that upstream connection not reused', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/detail/old') return res.write('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold');
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  eq((await get(p.port, '/detail/old')).body.toString(), 'old', 'first body');
  eq((await get(p.port, '/detail/next')).body.toString(), 'ok /detail/next', 'second body');
  check(up.requests[1].conn !== up.requests[0].conn, 'request sent on an upstream HTTP/1.0 connection without keep-alive');
});

test('edge: client-supplied X-Forwarded-Proto/Host are replaced, not trusted', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  await get(p.port, '/detail/1', { headers: [['Host', 'real.example'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'evil.example']] });
  const q = up.requests[0];
  eq(JSON.stringify(hdrAll(q, 'x-forwarded-proto')), JSON.stringify(['http']), 'X-Forwarded-Proto at upstream');
  eq(JSON.stringify(hdrAll(q, 'x-forwarded-host')), JSON.stringify(['real.example']), 'X-Forwarded-Host at upstream');
});

function rssKb(pid) { return +/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]; }

test('edge: client pipelines 64 MB of requests without reading -> bounded memory', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], 'r'.repeat(200)));
  const p = await ctx.proxy(baseConfig(up.port), { env: memEnv() });
  await get(p.port, '/detail/warm');
  const base = rssKb(p.pid);
  const s = net.connect(p.port, '127.0.0.1');
  ctx.defer(() => s.destroy());
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.pause();
  const one = Buffer.from('GET /detail/p HTTP/1.1\r\nHost: a\r\n\r\n');
  const block = Buffer.concat(Array(1000).fill(one));
  let written = 0;
  const t0 = Date.now();
  while (written < 64 * 1024 * 1024 && Date.now() - t0 < 3000) {
    if (!s.write(block)) {
      await new Promise((r) => {
        const done = () => { clearTimeout(t); s.off('drain', done); r(); };
        const t = setTimeout(done, 100);
        s.once('drain', done);
      });
    }
    written += block.length;
  }
  await sleep(500);
  const growthMb = (rssKb(p.pid) - base) / 1024;
  note(`RSS growth ${growthMb.toFixed(1)} MB`);
  note(`wrote ${(written / 1048576).toFixed(0)} MB, ${(s.writableLength / 1048576).toFixed(1)} MB not taken by the kernel`);
  check(growthMb < 24, `proxy RSS grew ${growthMb.toFixed(1)} MB while a client pipelined ${(written / 1048576).toFixed(0)} MB of requests without reading responses (input not bounded)`);
  s.destroy();
  await sleep(100);
  await assertStillServes(p);
});

test('edge: upstream not reading a 64 MB upload -> bounded memory, body intact', async (ctx) => {
  const size = 64 * 1024 * 1024;
  let hold = true;
  const up = await ctx.upstream((req, res) => res.send(200, [], `${req.body.length} ${sha256(req.body)}`));
  // pause reading on the upstream side for the first 1.5 s of every connection
  up.server.on('connection', (sock) => { sock.pause(); const t = setInterval(() => { if (!hold) { sock.resume(); clearInterval(t); } }, 20); });
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_body_bytes: 128 * 1024 * 1024 } }), { env: memEnv() });
  const base = rssKb(p.pid);
  const s = net.connect(p.port, '127.0.0.1');
  ctx.defer(() => s.destroy());
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  let resp = '';
  s.on('data', (d) => { resp += d.toString('latin1'); });
  const chunk = Buffer.alloc(1024 * 1024, 0x62);
  s.write(`POST /detail/up HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
  const hash = (await import('node:crypto')).createHash('sha256');
  let sent = 0;
  const writer = (async () => {
    while (sent < size) {
      hash.update(chunk);
      sent += chunk.length;
      if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
    }
  })();
  await sleep(1500);
  const growthMb = (rssKb(p.pid) - base) / 1024;
  note(`RSS growth ${growthMb.toFixed(1)} MB`);
  hold = false;
  await Promise.race([writer, sleep(15000)]);
  const deadline = Date.now() + 15000;
  while (!/\r\n\r\n\d+ [0-9a-f]{64}$/.test(resp) && Date.now() < deadline) await sleep(20);
  check(growthMb < 24, `proxy RSS grew ${growthMb.toFixed(1)} MB while the upstream did not read the upload (no backpressure?)`);
  check(resp.endsWith(`${size} ${hash.digest('hex')}`), `upstream did not get the 64 MB body intact: ${JSON.stringify(resp.slice(-120))}`);
});

test('edge: HTTP/1.0 request with Transfer-Encoding -> 400, or answered and closed', async (ctx) => {
  // RFC 9112 6.1: framing of an HTTP/1.0 message with Transfer-Encoding is faulty; close after.
  const up = await ctx.upstream((req, res) => res.send(200, [], `body=${req.body.toString()}`));
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /detail/smuggled HTTP/1.0\r\nHost: a\r\n\r\n');
  const r = await c.readResponse(2000);
  check(r.status === 400 || r.status === 200, `status ${r.status}`);
  check(await c.waitClosed(1000), `connection not closed after ${r.status}`);
  check(!up.heads.some((h) => h.target === '/detail/smuggled'), 'request after the body reached the upstream');
});

test('edge: Content-Length with a plus sign -> 400', (ctx) => expect400(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello'));

test('edge: several X-Forwarded-For lines are combined, client appended', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  await get(p.port, '/', { headers: [['X-Forwarded-For', '10.0.0.1'], ['X-Other', 'o'], ['X-Forwarded-For', '10.0.0.2']] });
  const v = hdrAll(up.requests[0], 'x-forwarded-for').join(', ').split(',').map((s) => s.trim()).join(', ');
  eq(v, '10.0.0.1, 10.0.0.2, 127.0.0.1', 'X-Forwarded-For at upstream');
});

for (const [label, cfgOver, handler] of [
  ['502 (refused)', null, null],
  ['504 (timeout)', { timeouts: { response_ms: 200 } }, () => {}],
]) {
  test(`edge: proxy-generated ${label} to HEAD has no body`, async (ctx) => {
    let port;
    if (handler) port = (await ctx.upstream(handler)).port;
    else port = await deadPort();
    const p = await ctx.proxy(baseConfig(port, cfgOver || {}));
    const c = await ctx.client(p.port);
    await c.write(rawRequest('HEAD', '/detail/1') + rawRequest('GET', '/detail/2'), ['HEAD', 'GET']);
    const r = await c.readResponse(3000);
    eq(r.status, +label.slice(0, 3), 'HEAD status');
    if (!(await c.waitClosed(100))) {
      const r2 = await c.readResponse(3000);      // a body after the HEAD response would break this parse
      eq(r2.status, +label.slice(0, 3), 'status of the GET pipelined after HEAD');
    }
  });
}
