// Framing details, second round: the cases a red team found weaker than the
// rest of docs/hardening.md (its "Second round (red team)" section). Raw bytes
// over a socket; each case asserts the status the client got, what the
// upstream received (the exact bytes where it matters) and whether the client
// connection was closed. Every case here failed before its fix.

import fs from 'node:fs';
import {
  test, baseConfig, configText, lineOf, runSync, rawRequest, get, hdr, check, eq, sleep, assertStillServes,
} from './lib.mjs';

const echo = (req, res) => res.send(200, [], `${req.method} ${req.target} body=${req.body.toString('latin1')}`);

// Sends <raw> on a new connection; the proxy must answer <status> (a refusal
// closes the connection) and the upstream must have received no complete
// request. Returns the upstream, proxy and response.
async function refused(ctx, raw, status = 400, { timeout = 3000 } = {}) {
  const up = await ctx.upstream(echo);
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(raw);
  const r = await c.readResponse(timeout);
  eq(r.status, status, `status (body ${JSON.stringify(r.body.toString().slice(0, 80))})`);
  check(await c.waitClosed(1000), `connection not closed after ${r.status}`);
  await sleep(50);
  eq(up.requests.length, 0, `complete requests at the upstream (${up.requests.map((q) => `${q.method} ${q.target}`).join(', ')})`);
  await assertStillServes(p);
  return { up, p, r };
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

// --- a. empty Transfer-Encoding ---------------------------------------------

test('hard2: empty Transfer-Encoding beside Content-Length -> 400, closed, nothing forwarded', async (ctx) => {
  await refused(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello');
});

test('hard2: empty Transfer-Encoding alone -> 400, closed', async (ctx) => {
  await refused(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n');
});

test('hard2: upstream response with an empty Transfer-Encoding -> 502, discarded', async (ctx) => {
  await badResponse(ctx, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello');
});

// --- b. chunk-size line cap (CHUNK_LINE_MAX, 4096) counts whitespace ---------

const MB_WS = ' '.repeat(1 << 20);

test('hard2: chunk-size line with 1 MB of whitespace -> 400 at the 4 KB cap', async (ctx) => {
  await refused(ctx, `POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5${MB_WS}\r\nhello\r\n0\r\n\r\n`);
});

test('hard2: chunk-size line with 1 MB of tabs before a chunk extension -> 400', async (ctx) => {
  await refused(ctx, `POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5${'\t'.repeat(1 << 20)};x=1\r\nhello\r\n0\r\n\r\n`);
});

test('hard2: upstream chunk-size line with 1 MB of whitespace -> 502 or closed, discarded', async (ctx) => {
  await badResponse(ctx, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5${MB_WS}\r\nhello\r\n0\r\n\r\n`);
});

test('hard2: chunk-size line with whitespace under the cap still accepted', async (ctx) => {
  const up = await ctx.upstream(echo);
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(`POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5${' '.repeat(4000)}\r\nhello\r\n0\r\n\r\n`);
  const r = await c.readResponse(3000);
  eq(r.status, 200, 'status');
  eq(up.requests[0].body.toString(), 'hello', 'body at the upstream');
});

// --- c. trailer fields ------------------------------------------------------

for (const field of ['Content-Length: 5', 'Transfer-Encoding: chunked', 'Host: evil.example', 'Connection: close',
  'proxy-authorization: x', 'Proxy-A-Very-Long-Header-Name-Beyond-Seventeen: x', 'X-Forwarded-For: 1.2.3.4']) {
  test(`hard2: trailer field ${field.split(':')[0]} in a chunked request -> 400`, async (ctx) => {
    await refused(ctx, `POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Ok: 1\r\n${field}\r\n\r\n`);
  });
}

test('hard2: trailer line without a colon, or with space before it -> 400', async (ctx) => {
  await refused(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nnocolon\r\n\r\n');
  await refused(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-A : 1\r\n\r\n');
});

test('hard2: upstream trailer Transfer-Encoding or Content-Length -> 502 or closed, discarded', async (ctx) => {
  await badResponse(ctx, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n');
  await badResponse(ctx, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n');
});

test('hard2: ordinary trailer fields accepted, never forwarded', async (ctx) => {
  const up = await ctx.upstream(echo);
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nServer-Timing: a;dur=1\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status');
  const raw = Buffer.concat(up.conns[0].raw).toString('latin1');
  check(!/X-Checksum|Server-Timing/i.test(raw), `a trailer reached the upstream: ${JSON.stringify(raw)}`);
  check(raw.endsWith('\r\n0\r\n\r\n'), `the upstream's chunked body ends with an empty trailer section: ${JSON.stringify(raw.slice(-40))}`);
});

// --- d. HTTP/1.0 Connection: keep-alive, close --------------------------------

for (const conn of ['keep-alive, close', 'close, keep-alive', 'Keep-Alive,CLOSE']) {
  test(`hard2: HTTP/1.0 Connection: ${conn} -> response, then closed`, async (ctx) => {
    const up = await ctx.upstream(echo);
    const p = await ctx.proxy(baseConfig(up.port));
    const c = await ctx.client(p.port);
    await c.write(`GET /detail/1 HTTP/1.0\r\nHost: a\r\nConnection: ${conn}\r\n\r\n`);
    const r = await c.readResponse(2000);
    eq(r.status, 200, 'status');
    check(!/keep-alive/i.test(hdr(r, 'connection') || ''), `response says Connection: ${hdr(r, 'connection')}`);
    check(await c.waitClosed(1000), 'connection kept open although the client asked to close it');
  });
}

test('hard2: upstream HTTP/1.0 Connection: keep-alive, close -> that upstream connection not reused', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.write(`HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok`));
  const p = await ctx.proxy(baseConfig(up.port));
  for (let i = 0; i < 2; i++) eq((await get(p.port, `/detail/${i}`)).status, 200, `status ${i}`);
  eq(up.requests.length, 2, 'requests at the upstream');
  check(up.requests[0].conn !== up.requests[1].conn, 'the upstream connection was reused after it said close');
});

// --- e. Host and absolute-form authority grammar -----------------------------

const BAD_HOSTS = ['a b', 'a"b', 'a<b>', 'a\\b', 'a{b}', 'a|b', 'a^b', 'a`b', 'a:8o', 'a:80:80', '[::1', '[::g]:80',
  '[::1]x', 'a]', 'a%zz', 'a%4', 'a@b', 'a/b'];

for (const h of BAD_HOSTS) {
  test(`hard2: Host ${JSON.stringify(h)} outside RFC 9110's grammar -> 400`, async (ctx) => {
    await refused(ctx, `GET /detail/1 HTTP/1.1\r\nHost: ${h}\r\n\r\n`);
  });
}

for (const h of ['a"b', 'a<b>', 'a{b}', 'a|b', 'a:8o', '[::1', '[zz]', 'a%zz']) {
  test(`hard2: absolute-form target http://${h}/ outside the grammar -> 400`, async (ctx) => {
    await refused(ctx, `GET http://${h}/detail/1 HTTP/1.1\r\nHost: a\r\n\r\n`);
  });
}

test('hard2: valid hosts (reg-name, IPv4, [IPv6], IPvFuture, port, pct-encoded) forwarded verbatim', async (ctx) => {
  const up = await ctx.upstream(echo);
  const p = await ctx.proxy(baseConfig(up.port));
  const good = ['example.com', 'example.com:8080', 'example.com:', '127.0.0.1:80', '[::1]:8080', '[2001:db8::7]',
    '[::ffff:1.2.3.4]', '[v1.x:y]', 'a%2Db', "a-b_c~d!$&'()*+,;=", 'localhost'];
  for (const h of good) {
    const c = await ctx.client(p.port);
    await c.write(`GET /detail/1 HTTP/1.1\r\nHost: ${h}\r\n\r\n`);
    const r = await c.readResponse(2000);
    eq(r.status, 200, `Host ${h}: status`);
    const q = up.requests[up.requests.length - 1];
    eq(hdr(q, 'host'), h, 'Host at the upstream');
    eq(hdr(q, 'x-forwarded-host'), h, 'X-Forwarded-Host at the upstream');
    c.close();
    const c2 = await ctx.client(p.port);
    await c2.write(`GET http://${h}/detail/2 HTTP/1.1\r\nHost: x\r\n\r\n`);
    eq((await c2.readResponse(2000)).status, 200, `absolute-form http://${h}/: status`);
    const q2 = up.requests[up.requests.length - 1];
    eq(hdr(q2, 'host'), h, 'Host at the upstream (absolute-form)');
    eq(hdr(q2, 'x-forwarded-host'), h, 'X-Forwarded-Host at the upstream (absolute-form)');
    c2.close();
  }
});

// --- f. 204 / 304 never carry framing headers toward the client -------------

for (const [status, framing] of [[204, 'Content-Length: 5'], [204, 'Transfer-Encoding: chunked'], [304, 'Content-Length: 1234'],
  [304, 'Transfer-Encoding: chunked']]) {
  test(`hard2: ${status} with ${framing.split(':')[0]} -> relayed without it, no body, in sync`, async (ctx) => {
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

test('hard2: HEAD keeps the upstream Content-Length (what a GET would send)', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.write('HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n'));
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('HEAD', '/detail/1'), ['HEAD']);
  const r = await c.readResponse(2000);
  eq(hdr(r, 'content-length'), '42', 'Content-Length of a HEAD response');
});

// --- g. the header fallback's control header --------------------------------

for (const [name, where] of [['Content-Length', 'top'], ['Transfer-Encoding', 'top'], ['connection', 'route'], ['Host', 'top'],
  ['Upgrade', 'top'], ['TE', 'top'], ['Trailer', 'top'], ['Keep-Alive', 'route'], ['Proxy-Authorization', 'top'], ['X-Forwarded-Host', 'top']]) {
  test(`hard2: fallback header ${name} refused at load with file:line`, async (ctx) => {
    const hv = `${name}: 1`;
    const cfg = where === 'top'
      ? baseConfig(1, { fallback: { header: hv } })
      : baseConfig(1, { routes: [{ name: 'home', match: '/', fallback: { header: hv } }] });
    const text = configText(cfg);
    const file = `${ctx.tmp()}/fb.json`;
    fs.writeFileSync(file, text);
    const line = lineOf(text, /"header":/);
    const key = where === 'top' ? 'fallback.header' : 'routes[0].fallback.header';
    const r = runSync(['--check-config', '-c', file]);
    eq(r.code, 1, `--check-config exit code (stderr ${JSON.stringify(r.stderr.slice(0, 200))})`);
    check(r.stderr.includes(`${file}:${line}: ${key}: '${hv}'`), `stderr should start with ${file}:${line}: ${key}: '${hv}': ${JSON.stringify(r.stderr.slice(0, 300))}`);
  });
}

test('hard2: an ordinary fallback header still loads', async (ctx) => {
  const file = `${ctx.tmp()}/fb.json`;
  fs.writeFileSync(file, configText(baseConfig(1, { fallback: { header: 'X-SSR-Off: 1' } })));
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 0, `--check-config exit code (stderr ${JSON.stringify(r.stderr.slice(0, 200))})`);
});
