// Response framing: what the upstream sends, as the client must see it. A
// broken response gives 502 (or a closed client connection if the head
// already went out) and that upstream connection is never reused; bodiless
// responses (HEAD, 204, 304) carry no body and no framing headers toward the
// client, and bytes an upstream sends after one never reach another client;
// interim responses, a missing reason phrase and a response split a byte at a
// time pass intact. docs/hardening.md lists every rule and its case; upstream
// failures without a framing error: t_faults.mjs.

import net from 'node:net';
import {
  test, sleep, hdr, rawRequest, request, get, baseConfig, check, eq, assertStillServes,
} from './lib.mjs';

// The upstream answers /bad with <bad> (raw bytes) and everything else
// normally. Checks the client outcome, that the upstream connection used for
// /bad is closed by the proxy, and that the next request uses a new one.
async function badResponseCase(ctx, bad, { cfg = {}, expect = 'either', after } = {}) {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/detail/bad') return bad(res);
    res.send(200, [['X-Up-Conn', String(req.conn)]], `good ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 2000 }, ...cfg }));
  // prime the pool so the bad response arrives on a reused connection
  eq((await get(p.port, '/detail/warm')).status, 200, 'warm-up status');
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/bad'));
  let r = null, err = null;
  try { r = await c.readResponse(3000); } catch (e) { err = e; }
  if (expect === '502') {
    check(r, `no 502 response: ${err && err.message}`);
    eq(r.status, 502, 'status');
  } else {
    // 502 if the head was not yet sent, else a closed connection without a complete valid response
    if (r) eq(r.status, 502, 'status (a complete response was relayed from a broken upstream message)');
    else check(c.isClosed, `neither a 502 nor a closed connection: ${err && err.message}`);
  }
  const badReq = up.requests.find((q) => q.target === '/detail/bad');
  check(badReq, 'upstream never saw /detail/bad');
  const badConn = up.conns[badReq.conn - 1];
  await up.waitFor(() => badConn.closed, 1500, `the proxy to close upstream connection ${badConn.id} after the broken response`).catch((e) => { throw new Error(e.message); });
  const n = await get(p.port, '/detail/next');
  eq(n.status, 200, 'next request status');
  eq(n.body.toString(), 'good /detail/next', 'next request body (stale bytes from the broken response?)');
  const nextReq = up.requests.find((q) => q.target === '/detail/next');
  check(nextReq.conn !== badReq.conn, `next request reused upstream connection ${badReq.conn}`);
  if (after) await after({ up, p, r });
}

// The upstream answers /detail/bad with <bad> (raw bytes, one write). The
// client must not get a complete response: a 502 (nothing had gone out yet)
// or a closed connection; the upstream connection is closed and not reused.
async function badResponse(ctx, bad) {
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/detail/bad') return res.write(bad);
    res.send(200, [], `good ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 2000 } }));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/bad'));
  let r = null, err = null;
  try { r = await c.readResponse(3000); } catch (e) { err = e; }
  if (r) eq(r.status, 502, `status (a broken upstream response was relayed: body ${JSON.stringify(r.body.toString().slice(0, 40))})`);
  else check(c.isClosed, `neither a 502 nor a closed connection: ${err && err.message}`);
  const badReq = up.requests.find((q) => q.target === '/detail/bad');
  check(badReq, 'upstream never saw /detail/bad');
  const badConn = up.conns[badReq.conn - 1];
  await up.waitFor(() => badConn.closed, 1500, 'the proxy to close the upstream connection of the broken response');
  const n = await get(p.port, '/detail/next');
  eq(n.body.toString(), 'good /detail/next', 'next request');
}

// --- broken responses ----------------------------------------------------------

test('framing: upstream response with TE + Content-Length -> 502, connection discarded', async (ctx) => {
  await badResponseCase(ctx, (res) => res.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'), { expect: '502' });
});

test('framing: upstream response with two different Content-Length -> 502, discarded', async (ctx) => {
  await badResponseCase(ctx, (res) => res.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello!!'), { expect: '502' });
});

test('framing: upstream response with an empty Transfer-Encoding -> 502, discarded', async (ctx) => {
  await badResponse(ctx, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello');
});

test('framing: upstream response with bad chunk size -> 502 or closed, discarded', async (ctx) => {
  await badResponseCase(ctx, (res) => res.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nxx\r\n0\r\n\r\n'));
});

test('framing: upstream response with chunk data missing CRLF -> 502 or closed, discarded', async (ctx) => {
  await badResponseCase(ctx, (res) => res.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n'));
});

const MB_WS = ' '.repeat(1 << 20);

test('framing: upstream chunk-size line with 1 MB of whitespace -> 502 or closed, discarded', async (ctx) => {
  await badResponse(ctx, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5${MB_WS}\r\nhello\r\n0\r\n\r\n`);
});

test('framing: upstream trailer Transfer-Encoding or Content-Length -> 502 or closed, discarded', async (ctx) => {
  await badResponse(ctx, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n');
  await badResponse(ctx, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n');
});

test('framing: upstream body shorter than Content-Length then close -> client closed', async (ctx) => {
  await badResponseCase(ctx, async (res) => { res.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort'); await sleep(50); res.end(); });
});

test('framing: upstream body longer than Content-Length -> extra bytes dropped, connection discarded', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/detail/long') {
      // 5 bytes announced, then a whole forged response right behind them
      return res.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nPOISONED');
    }
    res.send(200, [], `good ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/long'));
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status');
  eq(r.body.toString(), 'hello', 'body (exactly Content-Length bytes)');
  const longConn = up.requests[0].conn;
  for (let i = 0; i < 3; i++) {
    // on the same client connection and on new ones
    let n;
    if (i === 0 && !c.isClosed) { await c.write(rawRequest('GET', `/detail/n${i}`)); n = await c.readResponse(2000); }
    else n = await get(p.port, `/detail/n${i}`);
    eq(n.body.toString(), `good /detail/n${i}`, `response ${i} after the over-long body`);
  }
  check(up.requests.slice(1).every((q) => q.conn !== longConn), 'the upstream connection with trailing garbage was reused');
});

test('framing: upstream response header block over the limit -> 502, discarded', async (ctx) => {
  let big = '';
  for (let i = 0; i < 10; i++) big += `X-Big-${i}: ${'v'.repeat(1000)}\r\n`;
  await badResponseCase(ctx, (res) => res.write(`HTTP/1.1 200 OK\r\n${big}Content-Length: 2\r\n\r\nok`), {
    cfg: { limits: { max_header_bytes: 4096, max_request_line: 2048 } }, expect: '502',
  });
});

test('framing: upstream response with obs-fold header -> 502 or folded to one line', async (ctx) => {
  // RFC 9112 5.2: a proxy either rejects the message (502) or replaces each
  // obs-fold with SP; it must never relay the raw continuation line.
  const up = await ctx.upstream((req, res) => {
    if (req.target === '/detail/bad') return res.write('HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 2\r\n\r\nok');
    res.send(200, [], `good ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/bad'));
  const r = await c.readResponse(3000);   // the strict parser rejects a relayed obs-fold
  if (r.status !== 502) {
    eq(r.status, 200, 'status');
    check(/^one\s+two$/.test(hdr(r, 'x-a') || ''), `X-A relayed as ${JSON.stringify(hdr(r, 'x-a'))}`);
  }
  await assertStillServes(p, '/detail/next');
});

test('framing: upstream HTTP/1.0 Connection: keep-alive, close -> that upstream connection not reused', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.write(`HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok`));
  const p = await ctx.proxy(baseConfig(up.port));
  for (let i = 0; i < 2; i++) eq((await get(p.port, `/detail/${i}`)).status, 200, `status ${i}`);
  eq(up.requests.length, 2, 'requests at the upstream');
  check(up.requests[0].conn !== up.requests[1].conn, 'the upstream connection was reused after it said close');
});

// --- bodiless responses --------------------------------------------------------

test('framing: HEAD response has no body, connection stays usable', async (ctx) => {
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

test('framing: HEAD answered with Transfer-Encoding: chunked has no body', async (ctx) => {
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

for (const status of [204, 304]) {
  test(`framing: ${status} response has no body, connection stays usable`, async (ctx) => {
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

for (const [status, framing] of [[204, 'Content-Length: 5'], [204, 'Transfer-Encoding: chunked'], [304, 'Content-Length: 1234'],
  [304, 'Transfer-Encoding: chunked']]) {
  test(`framing: ${status} with ${framing.split(':')[0]} -> relayed without it, no body, in sync`, async (ctx) => {
    const up = await ctx.upstream((req, res) => {
      if (req.target === '/detail/1') return res.write(`HTTP/1.1 ${status} X\r\n${framing}\r\nETag: "e"\r\n\r\n`);
      res.send(200, [], 'after');
    });
    const p = await ctx.proxy(baseConfig(up.port));
    const c = await ctx.client(p.port);
    await c.write(rawRequest('GET', '/detail/1'));
    const r = await c.readResponse(2000);
    eq(r.status, status, 'status');
    eq(hdr(r, 'etag'), '"e"', 'ETag');
    const head = c.rawText().split('\r\n\r\n')[0];
    check(!/^(content-length|transfer-encoding):/im.test(head), `${status} relayed with framing headers: ${JSON.stringify(head)}`);
    await c.write(rawRequest('GET', '/detail/2'));
    eq((await c.readResponse(2000)).body.toString(), 'after', 'next response on the same connection');
    check(c.rawText().endsWith('\r\n\r\nafter'), 'bytes between the two responses');
  });
}

// A raw upstream: answers HEAD (and /nocontent with a 204) with a
// Content-Length and no body, then writes an injected response 30 ms later
// on the same connection. Every other request gets "ok <target>".
async function lateBytesUpstream(ctx) {
  const INJECT = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED';
  const seen = [];
  const server = net.createServer((s) => {
    let buf = '';
    s.on('error', () => {});
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, i);
        buf = buf.slice(i + 4);
        const [method, target] = head.split(' ');
        seen.push(`${method} ${target}`);
        if (method === 'HEAD' || target === '/nocontent') {
          s.write(method === 'HEAD' ? 'HTTP/1.1 200 OK\r\nContent-Length: 57\r\n\r\n' : 'HTTP/1.1 204 No Content\r\nContent-Length: 57\r\n\r\n');
          setTimeout(() => { if (!s.destroyed) s.write(INJECT); }, 30);
        } else {
          const body = `ok ${target}`;
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  ctx.defer(() => new Promise((r) => server.close(() => r())));
  ctx.defer(() => { for (const s of server._conns || []) s.destroy(); });
  return { port: server.address().port, seen };
}

test('framing: late bytes after a HEAD or 204 answer never reach another client', async (ctx) => {
  const up = await lateBytesUpstream(ctx);
  const p = await ctx.proxy(baseConfig(up.port));
  let wrong = 0, n = 0;
  for (let round = 0; round < 10; round++) {
    const first = round % 2 ? request(p.port, 'HEAD', `/detail/h${round}`) : get(p.port, '/nocontent');
    const r0 = await first;
    check(r0.status === 200 || r0.status === 204, `bodiless answer status ${r0.status}`);
    // other clients, right away and while the late bytes arrive
    for (const delay of [0, 10, 40]) {
      await sleep(delay);
      const r = await get(p.port, `/detail/g${round}-${delay}`);
      n++;
      if (r.body.toString() !== `ok /detail/g${round}-${delay}`) wrong++;
    }
  }
  eq(wrong, 0, `responses of other clients that were not their own (of ${n})`);
  await assertStillServes(p, '/detail/ok', 200).catch(() => {});
});

// --- interim responses, odd but valid status lines, split input ----------------

test('framing: 103 Early Hints before the final response', async (ctx) => {
  const up = await ctx.upstream((req, res) => {
    res.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n');
    res.send(200, [['X-Final', '1']], `final ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/1'));
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'final status'); eq(r.body.toString(), 'final /detail/1', 'final body');
  await c.write(rawRequest('GET', '/detail/2'));
  eq((await c.readResponse(2000)).body.toString(), 'final /detail/2', 'next response');
});

test('framing: status line without a reason phrase accepted', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.write('HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok'));
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.port, '/detail/1');
  eq(r.status, 200, 'status'); eq(r.body.toString(), 'ok', 'body');
});

test('framing: upstream response delivered one byte at a time', async (ctx) => {
  const resp = 'HTTP/1.1 200 OK\r\nX-B: b\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';
  const up = await ctx.upstream(async (req, res) => {
    if (req.target !== '/detail/frag') return res.send(200, [], 'second');
    for (const ch of resp) { res.write(ch); await sleep(1); }
  });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/frag'));
  const r = await c.readResponse(5000);
  eq(r.status, 200, 'status'); eq(hdr(r, 'x-b'), 'b', 'X-B'); eq(r.body.toString(), 'hello world', 'body');
  await c.write(rawRequest('GET', '/detail/2'));
  eq((await c.readResponse(2000)).body.toString(), 'second', 'next response on the same connection');
});
