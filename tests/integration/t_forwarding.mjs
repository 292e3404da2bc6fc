// Forwarding: request and response intact, X-Forwarded-* (added, appended,
// client copies replaced), hop-by-hop headers, large and repeated headers,
// keep-alive and pipelining, client Connection: close and half-close, the
// upstream pool (reuse, connections it must not reuse, idle ones the
// upstream closed, upstream_idle), bodies both ways, streaming, IPv6.

import {
  test, sleep, sha256, hdrAll, hdr, Client, rawRequest, request, get, getJson, baseConfig, check, eq, prng,
  randomBytes, routeStats,
} from './lib.mjs';

// --- request and response intact, headers --------------------------------------

test('forwarding: GET forwarded intact (method, URI, headers, order)', async (ctx) => {
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

test('forwarding: X-Forwarded-For/Proto/Host added', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/', { headers: [['Host', 'www.example.org:8443']] });
  eq(r.status, 200, 'status');
  const q = up.requests[0];
  eq(hdr(q, 'x-forwarded-for'), '127.0.0.1', 'X-Forwarded-For');
  eq(hdr(q, 'x-forwarded-proto'), 'http', 'X-Forwarded-Proto');
  eq(hdr(q, 'x-forwarded-host'), 'www.example.org:8443', 'X-Forwarded-Host');
});

test('forwarding: X-Forwarded-For appended to an existing one', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  await get(p.port, '/', { headers: [['X-Forwarded-For', '10.1.2.3, 10.4.5.6']] });
  const q = up.requests[0];
  const v = hdrAll(q, 'x-forwarded-for').join(', ').split(',').map((s) => s.trim()).join(', ');
  eq(v, '10.1.2.3, 10.4.5.6, 127.0.0.1', 'X-Forwarded-For at upstream');
});

test('forwarding: client-supplied X-Forwarded-Proto/Host are replaced, not trusted', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  await get(p.port, '/detail/1', { headers: [['Host', 'real.example'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'evil.example']] });
  const q = up.requests[0];
  eq(JSON.stringify(hdrAll(q, 'x-forwarded-proto')), JSON.stringify(['http']), 'X-Forwarded-Proto at upstream');
  eq(JSON.stringify(hdrAll(q, 'x-forwarded-host')), JSON.stringify(['real.example']), 'X-Forwarded-Host at upstream');
});

test('forwarding: several X-Forwarded-For lines are combined, client appended', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  await get(p.port, '/', { headers: [['X-Forwarded-For', '10.0.0.1'], ['X-Other', 'o'], ['X-Forwarded-For', '10.0.0.2']] });
  const v = hdrAll(up.requests[0], 'x-forwarded-for').join(', ').split(',').map((s) => s.trim()).join(', ');
  eq(v, '10.0.0.1, 10.0.0.2, 127.0.0.1', 'X-Forwarded-For at upstream');
});

test('forwarding: hop-by-hop request headers dropped', async (ctx) => {
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

test('forwarding: hop-by-hop response headers dropped', async (ctx) => {
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

test('forwarding: Connection: host does not remove Host; other named headers are still dropped', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await request(p.port, 'GET', '/detail/1', { headers: [['Connection', 'host, x-drop'], ['X-Drop', '1'], ['X-Keep', '2']] });
  eq(r.status, 200, 'status');
  const q = up.requests[0];
  eq(hdrAll(q, 'host').length, 1, 'Host lines at the upstream');
  eq(hdr(q, 'x-drop'), undefined, 'X-Drop (named by Connection) at the upstream');
  eq(hdr(q, 'x-keep'), '2', 'X-Keep at the upstream');
  eq(hdr(q, 'x-forwarded-host'), hdr(q, 'host'), 'X-Forwarded-Host is the Host');
});

test('forwarding: repeated Set-Cookie and request headers kept in order', async (ctx) => {
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

test('forwarding: 50 KB header value and 90 Set-Cookie headers pass intact', async (ctx) => {
  const cookies = Array.from({ length: 90 }, (_, i) => `c${i}=${'v'.repeat(i)}`);
  const up = await ctx.upstream((req, res) => res.send(200, cookies.map((c) => ['Set-Cookie', c]), sha256(hdr(req, 'cookie') || '')));
  const p = await ctx.proxy(baseConfig(up.port));
  const cookie = 'big=' + 'k'.repeat(50 * 1024);
  const r = await get(p.port, '/detail/1', { headers: [['Cookie', cookie]] });
  eq(r.status, 200, 'status');
  eq(r.body.toString(), sha256(cookie), 'Cookie at upstream');
  eq(JSON.stringify(r.headers.filter(([k]) => k.toLowerCase() === 'set-cookie').map(([, v]) => v)), JSON.stringify(cookies), 'Set-Cookie headers');
});

// --- keep-alive, pipelining, client connection handling ------------------------

test('forwarding: keep-alive client, upstream connection reused', async (ctx) => {
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

test('forwarding: 50 pipelined requests answered in order', async (ctx) => {
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

test('forwarding: pipelined POST bodies and GETs mixed', async (ctx) => {
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

test('forwarding: Connection: close from the client -> response, then closed', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('GET /detail/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /detail/2 HTTP/1.1\r\nHost: a\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status');
  check(await c.waitClosed(1000), 'connection not closed after Connection: close');
  check(!up.heads.some((h) => h.target === '/detail/2'), 'request after Connection: close was forwarded');
});

test('forwarding: client half-closes after sending the request -> still gets the response', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => { await sleep(50); res.send(200, [], 'half'); });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/1'));
  c.sock.end();
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status'); eq(r.body.toString(), 'half', 'body');
});

test('forwarding: 100 concurrent clients x 10 keep-alive requests, all correct', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `r:${req.target}:` + 'y'.repeat(req.target.length * 50)));
  const p = await ctx.proxy(baseConfig(up.port));
  await Promise.all(Array.from({ length: 100 }, async (_, k) => {
    const c = await ctx.client(p.port);
    for (let i = 0; i < 10; i++) {
      const t = `/detail/${k}-${i}`;
      await c.write(rawRequest('GET', t));
      const r = await c.readResponse(5000);
      eq(r.body.toString(), `r:${t}:` + 'y'.repeat(t.length * 50), `client ${k} request ${i}`);
    }
  }));
  eq(up.requests.length, 1000, 'requests at upstream');
  const d = await routeStats(p.adminPort, 'detail', { until: (j) => j.requests >= 1000 });
  eq(d.requests, 1000, 'detail.requests');
  check(up.connections <= 110, `upstream connections: ${up.connections} for 100 concurrent clients`);
});

// --- the upstream pool ---------------------------------------------------------

test('forwarding: upstream Connection: close -> that upstream connection not reused', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/detail/close') return res.send(200, [['Connection', 'close']], 'closing');   // but keeps the socket open
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  eq((await get(p.port, '/detail/close')).body.toString(), 'closing', 'first body');
  eq((await get(p.port, '/detail/next')).body.toString(), 'ok /detail/next', 'second body');
  check(up.requests[1].conn !== up.requests[0].conn, 'request sent on an upstream connection that announced Connection: close');
});

test('forwarding: upstream HTTP/1.0 response -> that upstream connection not reused', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/detail/old') return res.write('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold');
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  eq((await get(p.port, '/detail/old')).body.toString(), 'old', 'first body');
  eq((await get(p.port, '/detail/next')).body.toString(), 'ok /detail/next', 'second body');
  check(up.requests[1].conn !== up.requests[0].conn, 'request sent on an upstream HTTP/1.0 connection without keep-alive');
});

test('forwarding: pooled connection closed by the upstream while idle is not used', async (ctx) => {
  // Like Node's keepAliveTimeout: the upstream closes idle keep-alive sockets.
  const up = await ctx.upstream(async (req, res) => {
    res.send(200, [], `ok ${req.target}`);
    setTimeout(() => res.end(), 50);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  for (let i = 0; i < 5; i++) {
    const r = await get(p.port, `/detail/${i}`);
    eq(r.status, 200, `status of request ${i} (after the upstream closed the idle pooled connection)`);
    await sleep(200);
  }
  eq(up.connections, 5, 'upstream connections');
});

test('forwarding: upstream_idle bounds the keep-alive pool: 20 concurrent requests leave at most 3 idle upstream connections', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => { await sleep(100); res.send(200, [], 'ok'); });
  const p = await ctx.proxy(baseConfig(up.port, { limits: { upstream_idle: 3 } }));
  const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => get(p.port, `/detail/${i}`)));
  check(rs.every((r) => r.status === 200), 'a request failed');
  await sleep(100);
  const st = (await getJson(p.adminPort, '/api/status')).json;
  eq(st.upstream_pool.idle, 3, 'upstream_pool.idle');
  eq(up.conns.filter((c) => !c.closed).length, 3, 'upstream connections left open');
});

// --- bodies and streaming ------------------------------------------------------

test('forwarding: 300 KB POST body (Content-Length) intact', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `${req.body.length} ${sha256(req.body)}`));
  const p = await ctx.proxy(baseConfig(up.port));
  const body = randomBytes(prng(42), 300 * 1024);
  const r = await request(p.port, 'POST', '/detail/9', { body, headers: [['Content-Type', 'application/octet-stream']] });
  eq(r.status, 200, 'status');
  eq(r.body.toString(), `${body.length} ${sha256(body)}`, 'upstream length + sha256 of the body');
  eq(hdr(up.requests[0], 'content-type'), 'application/octet-stream', 'Content-Type at upstream');
});

test('forwarding: chunked request body decoded intact', async (ctx) => {
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

test('forwarding: 50 pages 0 B..300 KB byte-identical (CL, chunked, close-delimited)', async (ctx) => {
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

test('forwarding: streaming chunked response, first chunk before upstream finishes', (ctx) => streamingCase(ctx, true));
test('forwarding: streaming Content-Length response, first bytes before upstream finishes', (ctx) => streamingCase(ctx, false));

// --- listeners -----------------------------------------------------------------

test('forwarding: IPv6 listener and admin ([::1]:0)', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { listen: '[::1]:0', admin: '[::1]:0' }));
  check(/proxy listening on \[::1\]:\d+/.test(p.stderrText), `listen line: ${p.stderrText.split('\n')[0]}`);
  const c = await ctx.client(p.port, '::1');
  await c.write(rawRequest('GET', '/detail/1'));
  const r = await c.readResponse();
  eq(r.status, 200, 'status over IPv6');
  eq(hdr(up.requests[0], 'x-forwarded-for'), '::1', 'X-Forwarded-For for an IPv6 client');
  const a = await Client.connect(p.adminPort, '::1');
  ctx.defer(() => a.close());
  await a.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  eq((await a.readResponse()).status, 200, 'admin /healthz over IPv6');
});
