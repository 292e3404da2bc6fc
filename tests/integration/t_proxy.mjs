// Forwarding: request and response intact, hop-by-hop headers, X-Forwarded-*,
// keep-alive, pipelining, upstream pool reuse, HEAD/204/304, bodies both
// ways, streaming, bounded buffering for a slow reader.

import net from 'node:net';
import fs from 'node:fs';
import {
  test, baseConfig, rawRequest, get, request, hdr, hdrAll, check, eq, sha256, sleep,
  prng, randomBytes, chunked, respond, note, memEnv,
} from './lib.mjs';

test('proxy: GET forwarded intact (method, URI, headers, order)', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [['Content-Type', 'text/plain'], ['X-Up', 'yes']], 'hello world'));
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('GET /detail/7?x=1&y=%2F HTTP/1.1\r\nHost: shop.example\r\nX-A: 1\r\nUser-Agent: it/1.0\r\nX-B: two words\r\nAccept: */*\r\n\r\n');
  const r = await c.readResponse();
  eq(r.status, 200, 'status');
  eq(r.body.toString(), 'hello world', 'body');
  eq(hdr(r, 'x-up'), 'yes', 'response header X-Up');
  eq(hdr(r, 'content-type'), 'text/plain', 'response Content-Type');
  await up.waitRequests(1);
  const q = up.requests[0];
  eq(q.method, 'GET', 'method at upstream');
  eq(q.target, '/detail/7?x=1&y=%2F', 'target at upstream');
  eq(hdr(q, 'host'), 'shop.example', 'Host at upstream');
  eq(hdr(q, 'x-a'), '1', 'X-A'); eq(hdr(q, 'x-b'), 'two words', 'X-B');
  eq(hdr(q, 'user-agent'), 'it/1.0', 'User-Agent'); eq(hdr(q, 'accept'), '*/*', 'Accept');
  const order = q.headers.map(([k]) => k.toLowerCase()).filter((k) => ['host', 'x-a', 'user-agent', 'x-b', 'accept'].includes(k));
  eq(order.join(','), 'host,x-a,user-agent,x-b,accept', 'end-to-end header order at upstream');
  eq(q.body.length, 0, 'no body at upstream');
});

test('proxy: X-Forwarded-For/Proto/Host added', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/', { headers: [['Host', 'www.example.org:8443']] });
  eq(r.status, 200, 'status');
  const q = up.requests[0];
  eq(hdr(q, 'x-forwarded-for'), '127.0.0.1', 'X-Forwarded-For');
  eq(hdr(q, 'x-forwarded-proto'), 'http', 'X-Forwarded-Proto');
  eq(hdr(q, 'x-forwarded-host'), 'www.example.org:8443', 'X-Forwarded-Host');
});

test('proxy: X-Forwarded-For appended to an existing one', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  await get(p.port, '/', { headers: [['X-Forwarded-For', '10.1.2.3, 10.4.5.6']] });
  const q = up.requests[0];
  const v = hdrAll(q, 'x-forwarded-for').join(', ').split(',').map((s) => s.trim()).join(', ');
  eq(v, '10.1.2.3, 10.4.5.6, 127.0.0.1', 'X-Forwarded-For at upstream');
});

test('proxy: hop-by-hop request headers dropped', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/detail/1', {
    headers: [
      ['Connection', 'keep-alive, X-Hop-Named'], ['X-Hop-Named', 'secret'], ['Keep-Alive', 'timeout=5'],
      ['TE', 'trailers'], ['Trailer', 'X-T'], ['Upgrade', 'h2c'], ['Proxy-Authorization', 'Basic eDp5'],
      ['Proxy-Connection', 'keep-alive'], ['X-End-To-End', 'kept'],
    ],
  });
  eq(r.status, 200, 'status');
  const q = up.requests[0];
  for (const h of ['x-hop-named', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection'])
    eq(hdr(q, h), undefined, `${h} at upstream`);
  const conn = (hdr(q, 'connection') || '').toLowerCase();
  check(!conn.includes('x-hop-named'), `Connection at upstream still names X-Hop-Named: ${conn}`);
  eq(hdr(q, 'x-end-to-end'), 'kept', 'X-End-To-End');
});

test('proxy: hop-by-hop response headers dropped', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [
    ['Connection', 'X-Resp-Hop'], ['X-Resp-Hop', '1'], ['Keep-Alive', 'timeout=5, max=100'], ['X-Kept', 'k'],
  ], 'body'));
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/');
  eq(r.status, 200, 'status');
  eq(hdr(r, 'x-resp-hop'), undefined, 'X-Resp-Hop at client');
  eq(hdr(r, 'keep-alive'), undefined, 'Keep-Alive at client');
  eq(hdr(r, 'x-kept'), 'k', 'X-Kept');
  eq(r.body.toString(), 'body', 'body');
});

test('proxy: repeated Set-Cookie and request headers kept in order', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [
    ['Set-Cookie', 'a=1; Path=/'], ['X-Between', 'x'], ['Set-Cookie', 'b=2; Path=/; HttpOnly'], ['Set-Cookie', 'c=3, d=4'],
  ], 'ok'));
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/detail/3', { headers: [['X-Dup', 'first'], ['X-Other', 'o'], ['X-Dup', 'second']] });
  eq(JSON.stringify(hdrAll(r, 'set-cookie')), JSON.stringify(['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3, d=4']), 'Set-Cookie headers at client');
  const q = up.requests[0];
  const dup = hdrAll(q, 'x-dup');
  check(dup.join(', ') === 'first, second', `X-Dup at upstream: ${JSON.stringify(dup)}`);
});

test('proxy: keep-alive client, upstream connection reused', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  for (let i = 0; i < 5; i++) {
    await c.write(rawRequest('GET', `/detail/${i}`));
    const r = await c.readResponse();
    eq(r.status, 200, `status of request ${i}`);
    eq(r.body.toString(), `ok GET /detail/${i}`, `body of request ${i}`);
  }
  check(!c.isClosed, 'client connection closed during keep-alive');
  eq(up.requests.length, 5, 'requests at upstream');
  eq(up.connections, 1, 'upstream connections for 5 sequential requests (pool reuse)');
  // a second client connection can reuse the same idle upstream connection
  const r = await get(p.port, '/static/x');
  eq(r.status, 200, 'status from second client');
  eq(up.connections, 1, 'upstream connections after a second client');
});

test('proxy: 50 pipelined requests answered in order', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    const n = +req.target.split('/').pop();
    if (n % 7 === 3) await sleep(5);           // uneven upstream latency
    res.send(200, [], `resp-${n}-` + 'x'.repeat(n * 37));
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  let all = '';
  for (let i = 0; i < 50; i++) all += `GET /detail/${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
  await c.write(all);
  for (let i = 0; i < 50; i++) {
    const r = await c.readResponse(5000);
    eq(r.status, 200, `status ${i}`);
    eq(r.body.toString(), `resp-${i}-` + 'x'.repeat(i * 37), `body of pipelined response ${i}`);
  }
  eq(up.requests.length, 50, 'requests at upstream');
  check(!c.isClosed, 'connection closed after pipelined batch');
});

test('proxy: pipelined POST bodies and GETs mixed', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `${req.method} ${req.target} ${sha256(req.body).slice(0, 12)} ${req.body.length}`));
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  const rand = prng(7);
  const bodies = [0, 1, 5000, 70000, 3].map((n) => randomBytes(rand, n));
  const parts = [];
  bodies.forEach((b, i) => {
    parts.push(rawRequest('POST', `/detail/${i}`, [], b));
    parts.push(rawRequest('GET', `/static/${i}`));
  });
  await c.write(Buffer.concat(parts), bodies.flatMap(() => ['POST', 'GET']));
  for (let i = 0; i < bodies.length; i++) {
    const a = await c.readResponse();
    eq(a.body.toString(), `POST /detail/${i} ${sha256(bodies[i]).slice(0, 12)} ${bodies[i].length}`, `POST ${i}`);
    const b = await c.readResponse();
    eq(b.body.toString(), `GET /static/${i} ${sha256(Buffer.alloc(0)).slice(0, 12)} 0`, `GET ${i}`);
  }
});

test('proxy: HEAD response has no body, connection stays usable', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    if (req.method === 'HEAD') res.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n');
    else res.send(200, [], 'after-head');
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('HEAD', '/detail/1'), ['HEAD']);
  const r = await c.readResponse();
  eq(r.status, 200, 'HEAD status');
  eq(hdr(r, 'content-length'), '1234', 'Content-Length of HEAD response');
  eq(r.body.length, 0, 'HEAD body length');
  await c.write(rawRequest('GET', '/detail/2'));
  const r2 = await c.readResponse(2000);
  eq(r2.body.toString(), 'after-head', 'response after HEAD (no stray bytes)');
  eq(up.requests[0].method, 'HEAD', 'method at upstream');
});

for (const status of [204, 304]) {
  test(`proxy: ${status} response has no body, connection stays usable`, async (ctx) => {
    const up = await ctx.upstream((req, res) => {
      if (req.target === '/first') res.write(`HTTP/1.1 ${status} X\r\nETag: "e1"\r\n\r\n`);
      else res.send(200, [], 'second');
    });
    const p = await ctx.proxy(baseConfig(up.port));
    const c = await ctx.client(p.port);
    await c.write(rawRequest('GET', '/first'));
    const r = await c.readResponse(2000);
    eq(r.status, status, 'status');
    eq(r.body.length, 0, 'body length');
    check(hdr(r, 'transfer-encoding') === undefined, `${status} must not carry Transfer-Encoding`);
    eq(hdr(r, 'etag'), '"e1"', 'ETag');
    await c.write(rawRequest('GET', '/second'));
    const r2 = await c.readResponse(2000);
    eq(r2.body.toString(), 'second', 'next response on the same connection');
  });
}

test('proxy: 300 KB POST body (Content-Length) intact', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `${req.body.length} ${sha256(req.body)}`));
  const p = await ctx.proxy(baseConfig(up.port));
  const body = randomBytes(prng(42), 300 * 1024);
  const r = await request(p.port, 'POST', '/detail/9', { body, headers: [['Content-Type', 'application/octet-stream']] });
  eq(r.status, 200, 'status');
  eq(r.body.toString(), `${body.length} ${sha256(body)}`, 'upstream length + sha256 of the body');
  eq(hdr(up.requests[0], 'content-type'), 'application/octet-stream', 'Content-Type at upstream');
});

test('proxy: chunked request body decoded intact', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `${req.body.length} ${sha256(req.body)}`));
  const p = await ctx.proxy(baseConfig(up.port));
  const rand = prng(5);
  const pieces = [1, 100, 4096, 65536, 3, 100000].map((n) => randomBytes(rand, n));
  const body = Buffer.concat(pieces);
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
  for (const piece of pieces) { await c.write(Buffer.concat([Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n')])); await sleep(2); }
  await c.write('0\r\n\r\n');
  const r = await c.readResponse();
  eq(r.status, 200, 'status');
  eq(r.body.toString(), `${body.length} ${sha256(body)}`, 'decoded body at upstream');
  const q = up.requests[0];
  check(q.framing === 'chunked' || (q.framing === 'length' && +hdr(q, 'content-length') === body.length), `upstream framing ${q.framing}`);
});

test('proxy: 50 pages 0 B..300 KB byte-identical (CL, chunked, close-delimited)', async (ctx) => {
  const rand = prng(1234);
  const pages = [];
  for (let i = 0; i < 50; i++) {
    const size = i === 0 ? 0 : i === 1 ? 1 : Math.floor(Math.pow(rand(), 2) * 300 * 1024);
    pages.push(randomBytes(rand, size));
  }
  const up = await ctx.upstream((req, res) => {
    const i = +req.target.split('/').pop();
    const b = pages[i];
    if (i % 5 === 1) {
      const cuts = [];
      for (let o = 0; o < b.length; o += 1 + Math.floor(rand() * 40000)) cuts.push(o);
      cuts.push(b.length);
      const chunks = [];
      for (let k = 0; k + 1 < cuts.length; k++) chunks.push(b.subarray(cuts[k], cuts[k + 1]));
      res.sendChunked(200, [['Content-Type', 'application/octet-stream']], chunks);
    } else if (i % 5 === 2) {
      res.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n'), b]));
      res.end();
    } else {
      res.send(200, [['Content-Type', 'application/octet-stream']], b);
    }
  });
  const p = await ctx.proxy(baseConfig(up.port));
  await Promise.all([0, 1, 2].map(async (k) => {
    let c = await ctx.client(p.port);
    for (let i = k; i < 50; i += 3) {
      await c.write(rawRequest('GET', `/static/page/${i}`));
      const r = await c.readResponse(10000);
      // a close-delimited upstream body may be relayed close-delimited: then reconnect
      if (r.framing === 'close' || /close/i.test(hdr(r, 'connection') || '')) c = await ctx.client(p.port);
      eq(r.status, 200, `page ${i} status`);
      if (!r.body.equals(pages[i])) throw new Error(`page ${i}: body differs (got ${r.body.length} bytes, sha ${sha256(r.body).slice(0, 12)}; want ${pages[i].length}, ${sha256(pages[i]).slice(0, 12)}; upstream framing ${['length', 'chunked', 'close'][Math.min(i % 5, 2)]}, client framing ${r.framing})`);
    }
  }));
});

async function streamingCase(ctx, upstreamChunked) {
  const first = 'FIRST-CHUNK-' + 'a'.repeat(500);
  const rest = 'REST-' + 'b'.repeat(20000);
  const up = await ctx.upstream(async (req, res) => {
    if (upstreamChunked) {
      res.write(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n${first.length.toString(16)}\r\n${first}\r\n`);
      await sleep(500);
      res.write(`${rest.length.toString(16)}\r\n${rest}\r\n0\r\n\r\n`);
    } else {
      res.write(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${first.length + rest.length}\r\n\r\n${first}`);
      await sleep(500);
      res.write(rest);
    }
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  const t0 = Date.now();
  await c.write(rawRequest('GET', '/detail/stream'));
  await c.waitFor(() => c.rawText().includes('FIRST-CHUNK-' + 'a'.repeat(500)), 2000, 'the first chunk');
  const tFirst = Date.now() - t0;
  const r = await c.readResponse(3000);
  const tAll = Date.now() - t0;
  eq(r.status, 200, 'status');
  eq(r.body.toString(), first + rest, 'decoded body');
  check(tFirst < 300, `first chunk reached the client after ${tFirst} ms (upstream sent it at ~0 ms, the rest at 500 ms): not streamed`);
  check(tAll >= 450, `whole body after ${tAll} ms?`);
}

test('proxy: streaming chunked response, first chunk before upstream finishes', (ctx) => streamingCase(ctx, true));
test('proxy: streaming Content-Length response, first bytes before upstream finishes', (ctx) => streamingCase(ctx, false));

function rssKb(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return +/VmRSS:\s+(\d+)/.exec(s)[1];
}

test('proxy: slow reader, bounded buffering of a 64 MB response', async (ctx) => {
  const size = 64 * 1024 * 1024;
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/x') return res.send(200, [], 'x');
    res.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
    const block = Buffer.alloc(1024 * 1024, 0x61);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += block.length;
        if (!res.socket.write(block)) { res.socket.once('drain', pump); return; }
      }
    };
    pump();
  });
  const p = await ctx.proxy(baseConfig(up.port), { env: memEnv() });
  await get(p.port, '/x', { timeout: 3000 });     // warm-up before the baseline
  const base = rssKb(p.pid);
  const sock = net.connect(p.port, '127.0.0.1');
  ctx.defer(() => sock.destroy());
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  let got = 0;
  sock.on('data', (d) => { got += d.length; });
  sock.pause();
  sock.write('GET /static/big HTTP/1.1\r\nHost: a\r\n\r\n');
  await sleep(1500);
  const growthMb = (rssKb(p.pid) - base) / 1024;
  note(`RSS growth ${growthMb.toFixed(1)} MB`);
  check(growthMb < 24, `proxy RSS grew by ${growthMb.toFixed(1)} MB while the client did not read a 64 MB response (no backpressure?)`);
  sock.resume();
  const deadline = Date.now() + 15000;
  while (got < size && Date.now() < deadline && !sock.destroyed) await sleep(20);
  check(got > size, `client received ${got} bytes of ${size} + head`);
});
