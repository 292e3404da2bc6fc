// Upstream faults (502/504, truncation) and client-side limits (400/431/414/413).
// After each fault a normal request on a new connection must still work.

import {
  test, baseConfig, rawRequest, get, request, check, eq, sleep, deadPort, assertStillServes, hdr,
} from './lib.mjs';

// Upstream that misbehaves on /fault/* (per <faults>) and answers normally otherwise.
function faultyUpstream(ctx, fault) {
  return ctx.upstream(async (req, res) => {
    if (req.target.startsWith('/fault')) return fault(req, res);
    res.send(200, [], `ok ${req.target}`);
  });
}

test('faults: upstream refuses (nothing listening) -> 502', async (ctx) => {
  const port = await deadPort();
  const p = await ctx.proxy(baseConfig(port));
  const r = await get(p.port, '/detail/1');
  eq(r.status, 502, 'status');
  const r2 = await get(p.port, '/detail/2');
  eq(r2.status, 502, 'second request status');
  const h = await get(p.adminPort, '/healthz');
  eq(h.status, 200, 'healthz after refused upstream');
});

test('faults: upstream never answers -> 504 after response_ms', async (ctx) => {
  const up = await faultyUpstream(ctx, () => { /* never answer */ });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 300 } }));
  const c = await ctx.client(p.port);
  const t0 = Date.now();
  await c.write(rawRequest('GET', '/fault/hang'));
  const r = await c.readResponse(4000);
  const ms = Date.now() - t0;
  eq(r.status, 504, 'status');
  check(ms >= 250 && ms < 2500, `504 after ${ms} ms, want ~300 ms`);
  await assertStillServes(p);
});

test('faults: upstream sends garbage instead of a status line -> 502', async (ctx) => {
  const up = await faultyUpstream(ctx, (req, res) => { res.write('SSH-2.0-OpenSSH_9.2 garbage\r\n\r\n'); });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 2000 } }));
  const r = await get(p.port, '/fault/garbage');
  eq(r.status, 502, 'status');
  await assertStillServes(p);
});

test('faults: upstream sends an invalid status code -> 502', async (ctx) => {
  const up = await faultyUpstream(ctx, (req, res) => { res.write('HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'); });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 2000 } }));
  const r = await get(p.port, '/fault/status');
  eq(r.status, 502, 'status');
  await assertStillServes(p);
});

test('faults: upstream resets mid-headers -> 502', async (ctx) => {
  const up = await faultyUpstream(ctx, async (req, res) => {
    res.write('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Le');
    await sleep(30);
    res.reset();
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/fault/reset');
  eq(r.status, 502, 'status');
  await assertStillServes(p);
});

test('faults: upstream closes right after accepting the request -> 502', async (ctx) => {
  const up = await faultyUpstream(ctx, (req, res) => res.end());
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/fault/close');
  eq(r.status, 502, 'status');
  await assertStillServes(p);
});

test('faults: upstream closes mid-body -> client connection closed, body truncated', async (ctx) => {
  const up = await faultyUpstream(ctx, async (req, res) => {
    res.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100));
    await sleep(100);
    res.end();
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/fault/midbody'));
  let complete = null;
  try { complete = await c.readResponse(3000); } catch (e) {
    check(c.isClosed, `no complete response and connection not closed: ${e.message}`);
  }
  check(complete === null, `client got a complete response (status ${complete && complete.status}, ${complete && complete.body.length} bytes) although upstream sent 100 of 1000 bytes`);
  const raw = c.rawText();
  check(raw.startsWith('HTTP/1.1 200') || raw.startsWith('HTTP/1.1 502'), `client saw ${JSON.stringify(raw.slice(0, 60))}`);
  await assertStillServes(p);
});

test('faults: malformed request line -> 400 and connection closed', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('THIS IS NOT HTTP\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 400, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 400');
  eq(up.heads.length, 0, 'requests at upstream');
  await assertStillServes(p);
});

test('faults: header line without colon -> 400 and connection closed', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('GET /detail/1 HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 400, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 400');
  eq(up.heads.length, 0, 'requests at upstream');
  await assertStillServes(p);
});

test('faults: header block over max_header_bytes -> 431', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_header_bytes: 4096, max_request_line: 2048 } }));
  const c = await ctx.client(p.port);
  let h = '';
  for (let i = 0; i < 8; i++) h += `X-Big-${i}: ${'v'.repeat(1000)}\r\n`;
  await c.write(`GET /detail/1 HTTP/1.1\r\nHost: a\r\n${h}\r\n`);
  const r = await c.readResponse(2000);
  eq(r.status, 431, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 431');
  eq(up.heads.length, 0, 'requests at upstream');
  // just under the limit passes
  const ok = await get(p.port, '/detail/2', { headers: [['X-Fits', 'v'.repeat(3000)]] });
  eq(ok.status, 200, 'status of a request under the limit');
});

test('faults: more headers than max_headers -> 431', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_headers: 20 } }));
  const c = await ctx.client(p.port);
  let h = '';
  for (let i = 0; i < 30; i++) h += `X-H-${i}: ${i}\r\n`;
  await c.write(`GET /detail/1 HTTP/1.1\r\nHost: a\r\n${h}\r\n`);
  const r = await c.readResponse(2000);
  eq(r.status, 431, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 431');
  eq(up.heads.length, 0, 'requests at upstream');
  const headers = [];
  for (let i = 0; i < 15; i++) headers.push([`X-H-${i}`, String(i)]);
  const ok = await get(p.port, '/detail/2', { headers });
  eq(ok.status, 200, 'status with 16 headers (under the limit)');
});

test('faults: request line too long -> 414', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(`GET /detail/${'a'.repeat(70 * 1024)} HTTP/1.1\r\nHost: a\r\n\r\n`);
  const r = await c.readResponse(3000);
  eq(r.status, 414, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 414');
  eq(up.heads.length, 0, 'requests at upstream');
  await assertStillServes(p);
});

test('faults: Content-Length over max_body_bytes -> 413', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_body_bytes: 1000 } }));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n' + 'z'.repeat(100));
  const r = await c.readResponse(2000);
  eq(r.status, 413, 'status');
  check(await c.waitClosed(1000), 'connection not closed after 413');
  eq(up.requests.length, 0, 'complete requests at upstream');
  const ok = await request(p.port, 'POST', '/detail/2', { body: 'y'.repeat(1000) });
  eq(ok.status, 200, 'status with a body exactly at the limit');
});

test('faults: chunked body over max_body_bytes -> 413 or closed, never forwarded whole', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_body_bytes: 1000 } }));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
  for (let i = 0; i < 5; i++) { await c.write(`258\r\n${'q'.repeat(600)}\r\n`); await sleep(5); }
  await c.write('0\r\n\r\n');
  let r = null;
  try { r = await c.readResponse(2000); } catch { /* closed without a response is acceptable */ }
  if (r) eq(r.status, 413, 'status');
  check(await c.waitClosed(1000), 'connection not closed after an oversized chunked body');
  eq(up.requests.length, 0, 'complete requests at upstream (3000-byte body forwarded whole)');
  await assertStillServes(p);
});

test('faults: header_ms deadline for the header block -> 408', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { header_ms: 300 } }));
  const c = await ctx.client(p.port);
  const t0 = Date.now();
  await c.write('GET /detail/1 HTTP/1.1\r\nHost: a\r\n');
  for (let i = 0; i < 6 && !c.isClosed; i++) { await sleep(100); await c.write('X-Slow: 1\r\n'); }
  let r = null;
  try { r = await c.readResponse(2000); } catch (e) { throw new Error(`no 408 response: ${e.message}`); }
  eq(r.status, 408, 'status');
  const ms = Date.now() - t0;
  check(ms < 1500, `408 after ${ms} ms, want ~300 ms`);
  check(await c.waitClosed(1000), 'connection not closed after 408');
  eq(up.heads.length, 0, 'requests at upstream');
});

test('faults: idle keep-alive client closed after client_idle_ms', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { client_idle_ms: 300 } }));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/1'));
  eq((await c.readResponse()).status, 200, 'status');
  const t0 = Date.now();
  check(await c.waitClosed(2000), 'idle connection still open 2 s after the response (client_idle_ms 300)');
  const ms = Date.now() - t0;
  check(ms >= 200, `idle connection closed after only ${ms} ms`);
});

test('faults: max_connections, excess connections wait or get 503, then service resumes', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_connections: 4 } }));
  const first = [];
  for (let i = 0; i < 4; i++) {
    const c = await ctx.client(p.port);
    await c.write(rawRequest('GET', `/detail/${i}`));
    eq((await c.readResponse()).status, 200, `status on connection ${i}`);
    first.push(c);
  }
  const extra = [];
  for (let i = 0; i < 3; i++) {
    const c = await ctx.client(p.port).catch(() => null);
    if (c) { c.write(rawRequest('GET', `/detail/extra${i}`)); extra.push(c); }
  }
  await sleep(300);
  for (const c of first) c.close();
  for (const [i, c] of extra.entries()) {
    let r = null;
    try { r = await c.readResponse(3000); } catch { /* closed without response: acceptable for an over-limit connection */ }
    if (r) check(r.status === 200 || r.status === 503, `extra connection ${i}: status ${r.status}`);
  }
  for (const c of extra) c.close();
  await sleep(100);
  await assertStillServes(p);
});
