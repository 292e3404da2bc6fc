// Request framing (HTTP/1 parsing, smuggling): one case per rule, raw bytes
// over a socket, asserting the status the client got, what the upstream
// received and whether the client connection was closed. The request line,
// Transfer-Encoding and Content-Length, chunked bodies and their size-line
// cap, trailers, header syntax, Host and request-target grammar (dot
// segments included), HTTP/1.0 and Expect, input split a byte at a time,
// pipelined requests before a malformed one. Range cases hold for any
// RFC-conforming proxy; "framing: exact answers" pins what leakproxy answers
// (docs/hardening.md lists every rule and its case). Responses from the
// upstream: t_framing_upstream.mjs; size limits: t_limits.mjs.

import {
  test, sleep, hdrAll, hdr, rawRequest, get, baseConfig, check, eq, assertStillServes, VUE_SHELL,
  startFakeMemory,
} from './lib.mjs';

const echo = (req, res) => res.send(200, [['X-Up-Conn', String(req.conn)]], `${req.method} ${req.target} body=${req.body.toString('latin1')}`);

// Sends <raw> on a new connection and checks the outcome.
//   status:  expected status (number or array of allowed numbers)
//   closed:  true = connection must be closed after the response,
//            false = must stay open (checked by a follow-up request)
//   forwarded: number of complete requests the upstream must have received
async function rawCase(ctx, raw, { status, closed, forwarded = status === 200 ? 1 : 0, cfg = {}, handler = echo, after } = {}) {
  const up = await ctx.upstream(handler);
  const p = await ctx.proxy(baseConfig(up.port, cfg));
  const c = await ctx.client(p.port);
  await c.write(raw);
  const r = await c.readResponse(3000);
  const allowed = Array.isArray(status) ? status : [status];
  check(allowed.includes(r.status), `status: expected ${allowed.join(' or ')}, got ${r.status} (body ${JSON.stringify(r.body.toString().slice(0, 80))})`);
  if (closed === true) check(await c.waitClosed(1000), `connection not closed after ${r.status}`);
  if (closed === false) {
    check(!(await c.waitClosed(150)), 'connection closed, should stay open');
    await c.write(rawRequest('GET', '/detail/followup'));
    const r2 = await c.readResponse(2000);
    eq(r2.status, 200, 'follow-up request on the same connection');
  }
  await sleep(50);
  const complete = up.requests.filter((q) => q.target !== '/detail/followup');
  eq(complete.length, forwarded, `complete requests received by the upstream (${complete.map((q) => q.method + ' ' + q.target).join(', ')})`);
  if (after) await after({ up, p, c, r });
  if (status !== 200) await assertStillServes(p);
  return { up, p, c, r };
}

const R = (s) => s;   // readability marker for raw requests

const echoBody = (req, res) => res.send(200, [], `${req.method} ${req.target} body=${req.body.toString('latin1')}`);

// Sends <raw> on a new connection; the proxy must answer <status> (a refusal
// closes the connection) and the upstream must have received no complete
// request. Returns the upstream, proxy and response.
async function refused(ctx, raw, status = 400, { timeout = 3000 } = {}) {
  const up = await ctx.upstream(echoBody);
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

// --- request line --------------------------------------------------------------

test('framing: two spaces in the request line -> 400', (ctx) => expect400(ctx, 'GET  /detail/1 HTTP/1.1\r\nHost: a\r\n\r\n'));
test('framing: tab as request-line separator -> 400', (ctx) => expect400(ctx, 'GET\t/detail/1 HTTP/1.1\r\nHost: a\r\n\r\n'));
test('framing: lowercase protocol name -> 400', (ctx) => expect400(ctx, 'GET /detail/1 http/1.1\r\nHost: a\r\n\r\n'));
test('framing: HTTP/0.9-style request line -> 400', (ctx) => expect400(ctx, 'GET /detail/1\r\n\r\n'));
test('framing: unsupported HTTP version -> 400 or 505', (ctx) => expect400(ctx, 'GET /detail/1 HTTP/2.0\r\nHost: a\r\n\r\n', [400, 505]));
test('framing: HTTP/1.1 request without Host -> 400 (RFC 9112 3.2)', (ctx) => expect400(ctx, 'GET /detail/1 HTTP/1.1\r\nX-A: 1\r\n\r\n'));
test('framing: two Host headers -> 400 (RFC 9112 3.2)', (ctx) => expect400(ctx, 'GET /detail/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'));
test('framing: CONNECT is not tunnelled -> 4xx/5xx', (ctx) => expect400(ctx, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', [400, 403, 405, 501]));
test('framing: Transfer-Encoding xchunked -> 400/501', (ctx) => expect400(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', [400, 501]));

test('framing: malformed request line -> 400 and connection closed', async (ctx) => {
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

test('framing: header line without colon -> 400 and connection closed', async (ctx) => {
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

// --- Transfer-Encoding and Content-Length --------------------------------------

test('framing: TE chunked + Content-Length -> CL dropped, chunked forwarded, connection closed', async (ctx) => {
  await rawCase(ctx, R('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n'), {
    status: 200, closed: true, forwarded: 1,
    after: ({ up, r }) => {
      const q = up.requests[0];
      eq(q.target, '/detail/1', 'target at upstream');
      eq(q.body.toString(), 'hello', 'decoded body at upstream');
      eq(hdr(q, 'content-length'), undefined, 'Content-Length at upstream');
      eq((hdr(q, 'transfer-encoding') || '').toLowerCase(), 'chunked', 'Transfer-Encoding at upstream');
      check(!up.heads.some((h) => h.target === '/smuggled'), 'the request after the body reached the upstream');
      eq(r.body.toString(), 'POST /detail/1 body=hello', 'response body');
    },
  });
});

for (const [label, te] of [
  ['chunked, chunked', 'Transfer-Encoding: chunked, chunked'],
  ['chunked, gzip', 'Transfer-Encoding: chunked, gzip'],
  ['gzip alone', 'Transfer-Encoding: gzip'],
  ['two TE header lines', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked'],
]) {
  test(`framing: Transfer-Encoding ${label} -> 400, closed`, async (ctx) => {
    await rawCase(ctx, `POST /detail/1 HTTP/1.1\r\nHost: a\r\n${te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, { status: 400, closed: true });
  });
}

test('framing: Transfer-Encoding with an unknown coding -> 400/422/501, closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', { status: [400, 422, 501], closed: true });
});

test('framing: Transfer-Encoding gzip, chunked -> 400 (or 422), closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', { status: [400, 422], closed: true });
});

test('framing: Transfer-Encoding CHUNKED (case-insensitive) accepted', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', {
    status: 200, closed: false,
    after: ({ up }) => eq(up.requests[0].body.toString(), 'hello', 'decoded body at upstream'),
  });
});

test('framing: Transfer-Encoding with odd but valid whitespace accepted', async (ctx) => {
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

test('framing: empty Transfer-Encoding beside Content-Length -> 400, closed, nothing forwarded', async (ctx) => {
  await refused(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello');
});

test('framing: empty Transfer-Encoding alone -> 400, closed', async (ctx) => {
  await refused(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n');
});

test('framing: HTTP/1.0 request with Transfer-Encoding -> 400, or answered and closed', async (ctx) => {
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

test('framing: two different Content-Length -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', { status: 400, closed: true });
});

test('framing: Content-Length list with different values -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!', { status: 400, closed: true });
});

test('framing: two identical Content-Length accepted', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello', {
    status: 200, closed: false,
    after: ({ up }) => {
      const q = up.requests[0];
      eq(q.body.toString(), 'hello', 'body at upstream');
      check(hdrAll(q, 'content-length').every((v) => v === '5'), `Content-Length at upstream: ${hdrAll(q, 'content-length')}`);
    },
  });
});

for (const [label, v] of [['negative', '-5'], ['non-numeric', 'abc'], ['overflowing', '99999999999999999999999'], ['hex', '0x5'], ['empty', '']]) {
  test(`framing: ${label} Content-Length -> 400, closed`, async (ctx) => {
    await rawCase(ctx, `POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: ${v}\r\n\r\nhello`, { status: 400, closed: true });
  });
}

test('framing: Content-Length with a plus sign -> 400', (ctx) => expect400(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello'));

// --- chunked bodies --------------------------------------------------------

test('framing: non-hex chunk size -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', { status: 400, closed: true });
});

test('framing: overflowing chunk size -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff0\r\nhello\r\n0\r\n\r\n', { status: [400, 413], closed: true });
});

test('framing: negative chunk size -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n', { status: 400, closed: true });
});

test('framing: chunk data without trailing CRLF -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n', { status: 400, closed: true });
});

test('framing: chunk extensions are accepted and the body decoded', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n6;a="q"\r\n world\r\n0\r\n\r\n', {
    status: 200, closed: false,
    after: ({ up }) => eq(up.requests[0].body.toString(), 'hello world', 'decoded body at upstream'),
  });
});

test('framing: chunk extension with a control byte -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x\x00y\r\nhello\r\n0\r\n\r\n', { status: 400, closed: true });
});

// --- b. chunk-size line cap (CHUNK_LINE_MAX, 4096) counts whitespace ---------

const MB_WS = ' '.repeat(1 << 20);

test('framing: chunk-size line with 1 MB of whitespace -> 400 at the 4 KB cap', async (ctx) => {
  await refused(ctx, `POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5${MB_WS}\r\nhello\r\n0\r\n\r\n`);
});

test('framing: chunk-size line with 1 MB of tabs before a chunk extension -> 400', async (ctx) => {
  await refused(ctx, `POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5${'\t'.repeat(1 << 20)};x=1\r\nhello\r\n0\r\n\r\n`);
});

test('framing: chunk-size line with whitespace under the cap still accepted', async (ctx) => {
  const up = await ctx.upstream(echoBody);
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
  test(`framing: trailer field ${field.split(':')[0]} in a chunked request -> 400`, async (ctx) => {
    await refused(ctx, `POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Ok: 1\r\n${field}\r\n\r\n`);
  });
}

test('framing: trailer line without a colon, or with space before it -> 400', async (ctx) => {
  await refused(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nnocolon\r\n\r\n');
  await refused(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-A : 1\r\n\r\n');
});

test('framing: ordinary trailer fields accepted, never forwarded', async (ctx) => {
  const up = await ctx.upstream(echoBody);
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nServer-Timing: a;dur=1\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status');
  eq(up.requests[0].body.toString(), 'hello', 'body at the upstream');
  const raw = Buffer.concat(up.conns[0].raw).toString('latin1');
  check(!/X-Checksum|Server-Timing/i.test(raw), `a trailer reached the upstream: ${JSON.stringify(raw)}`);
  check(raw.endsWith('\r\n0\r\n\r\n'), `the upstream's chunked body ends with an empty trailer section: ${JSON.stringify(raw.slice(-40))}`);
  await c.write(rawRequest('GET', '/detail/2'));
  eq((await c.readResponse(2000)).status, 200, 'next request on the same connection');
});

// --- header syntax ---------------------------------------------------------

test('framing: obs-fold (continuation line with space) -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1 HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n', { status: 400, closed: true });
});

test('framing: obs-fold (continuation line with tab) -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1 HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n', { status: 400, closed: true });
});

test('framing: whitespace between header name and colon -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello', { status: 400, closed: true });
});

test('framing: bare LF line endings -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1 HTTP/1.1\nHost: a\nX-A: 1\n\n', { status: 400, closed: true });
});

test('framing: one header line ending in bare LF -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1 HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n', { status: 400, closed: true });
});

test('framing: NUL in a header value -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1 HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n', { status: 400, closed: true });
});

test('framing: control byte in a header value -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1 HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n', { status: 400, closed: true });
});

test('framing: bare CR in a header value -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1 HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n', { status: 400, closed: true });
});

test('framing: control byte in a header name -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1 HTTP/1.1\r\nHost: a\r\nX-\x01A: b\r\n\r\n', { status: 400, closed: true });
});

test('framing: NUL in the request target -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1\x00x HTTP/1.1\r\nHost: a\r\n\r\n', { status: 400, closed: true });
});

test('framing: control byte in the request target -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/\x01x HTTP/1.1\r\nHost: a\r\n\r\n', { status: 400, closed: true });
});

test('framing: DEL in the request method -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GE\x7fT /detail/1 HTTP/1.1\r\nHost: a\r\n\r\n', { status: 400, closed: true });
});

// --- request targets -------------------------------------------------------

test('framing: absolute-form target forwarded in origin-form', async (ctx) => {
  await rawCase(ctx, 'GET http://example.com/detail/5?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n', {
    status: 200, closed: false,
    after: async ({ up, p }) => {
      eq(up.requests[0].target, '/detail/5?q=1', 'target at upstream');
    },
  });
});

test('framing: absolute-form target without a path forwarded as /', async (ctx) => {
  await rawCase(ctx, 'GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n', {
    status: 200, closed: false,
    after: ({ up }) => eq(up.requests[0].target, '/', 'target at upstream'),
  });
});

test('framing: OPTIONS * (asterisk-form) forwarded', async (ctx) => {
  await rawCase(ctx, 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', {
    status: 200, closed: false,
    after: ({ up }) => { eq(up.requests[0].method, 'OPTIONS', 'method at upstream'); eq(up.requests[0].target, '*', 'target at upstream'); },
  });
});

test('framing: GET * -> 400, closed', async (ctx) => {
  await rawCase(ctx, 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', { status: 400, closed: true });
});

// --- e. Host and absolute-form authority grammar -----------------------------

const BAD_HOSTS = ['a b', 'a"b', 'a<b>', 'a\\b', 'a{b}', 'a|b', 'a^b', 'a`b', 'a:8o', 'a:80:80', '[::1', '[::g]:80',
  '[::1]x', 'a]', 'a%zz', 'a%4', 'a@b', 'a/b'];

for (const h of BAD_HOSTS) {
  test(`framing: Host ${JSON.stringify(h)} outside RFC 9110's grammar -> 400`, async (ctx) => {
    await refused(ctx, `GET /detail/1 HTTP/1.1\r\nHost: ${h}\r\n\r\n`);
  });
}

for (const h of ['a"b', 'a<b>', 'a{b}', 'a|b', 'a:8o', '[::1', '[zz]', 'a%zz']) {
  test(`framing: absolute-form target http://${h}/ outside the grammar -> 400`, async (ctx) => {
    await refused(ctx, `GET http://${h}/detail/1 HTTP/1.1\r\nHost: a\r\n\r\n`);
  });
}

test('framing: valid hosts (reg-name, IPv4, [IPv6], IPvFuture, port, pct-encoded) forwarded verbatim', async (ctx) => {
  const up = await ctx.upstream(echoBody);
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

// --- dot segments and other spellings of a path --------------------------------

function memPathsConfig(upPort, fm, extra = {}) {
  return {
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${upPort}`, admin: '127.0.0.1:0',
    routes: [
      { name: 'home', match: '/' },
      { name: 'news', match: '/news/:id', mode: 'csr' },
      { name: 'rest', match: '/*' },
    ],
    fallback: { file: VUE_SHELL },
    memory: { source: 'http', url: fm.url, gc_url: `http://127.0.0.1:${fm.port}/__mem/gc?force=1`, interval_ms: 1000 },
    ...extra,
  };
}

const targets = (up) => up.requests.map((q) => `${q.method} ${q.target}`);

test('framing: dot segments, %2e and backslashes in the path -> 400, never forwarded (reserved paths, csr routes)', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy(memPathsConfig(up.port, fm));
  const bad = ['/./__mem?gc=1', '/x/../__mem', '/%2e/__mem', '/%2E%2e/__mem', '/.%2E/__mem/gc', '/x\\..\\__mem',
    '/./news/1', '/news/x/../1', '/news/%2e', '/news/..', '/..', '/.'];
  for (const t of bad) {
    const r = await get(p.port, t);
    eq(r.status, 400, `GET ${t} status`);
  }
  // encodings of ordinary characters are matched as what they mean
  for (const t of ['/__MEM', '/_%5fmem', '/%5F%5Fmem/gc', '/__mem/GC?force=1']) {
    eq((await get(p.port, t)).status, 403, `GET ${t} status (a reserved path, spelled differently)`);
  }
  const r = await get(p.port, '/n%65ws/1');
  eq(r.status, 200, '/n%65ws/1 status');
  eq(hdr(r, 'x-leakproxy-mode'), 'csr', '/n%65ws/1 is the news route (csr): served the shell');
  // names that only look like dot segments are ordinary
  for (const t of ['/a.b', '/...', '/.well-known/x', '/x%2e.y']) eq((await get(p.port, t)).status, 200, `GET ${t}`);
  await sleep(50);
  eq(targets(up).join(','), 'GET /a.b,GET /...,GET /.well-known/x,GET /x%2e.y', 'requests at the upstream');
  await assertStillServes(p, '/about');
});

// --- HTTP/1.0 and Expect ---------------------------------------------------

test('framing: HTTP/1.0 without keep-alive -> response, then closed', async (ctx) => {
  await rawCase(ctx, 'GET /detail/1 HTTP/1.0\r\nHost: a\r\n\r\n', {
    status: 200, closed: true,
    after: ({ r }) => eq(r.body.toString(), 'GET /detail/1 body=', 'body'),
  });
});

test('framing: HTTP/1.0 with Connection: keep-alive -> kept alive', async (ctx) => {
  const up = await ctx.upstream(echo);
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  for (let i = 0; i < 3; i++) {
    await c.write(`GET /detail/${i} HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n`);
    const r = await c.readResponse(2000);
    eq(r.status, 200, `status ${i}`);
    eq(r.body.toString(), `GET /detail/${i} body=`, `body ${i}`);
    check(r.framing === 'length', `response ${i} to an HTTP/1.0 keep-alive client must use Content-Length (got ${r.framing})`);
    check(!c.isClosed, `connection closed after response ${i}`);
  }
});

test('framing: HTTP/1.0 client never receives chunked encoding', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.sendChunked(200, [], ['abc', 'defgh', 'i']));
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('GET /detail/1 HTTP/1.0\r\nHost: a\r\n\r\n');
  await c.waitClosed(3000);
  const raw = c.rawText();
  check(!/transfer-encoding/i.test(raw.split('\r\n\r\n')[0]), `HTTP/1.0 response has Transfer-Encoding: ${JSON.stringify(raw.slice(0, 200))}`);
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  eq(body, 'abcdefghi', 'body as received by the HTTP/1.0 client');
});

for (const conn of ['keep-alive, close', 'close, keep-alive', 'Keep-Alive,CLOSE']) {
  test(`framing: HTTP/1.0 Connection: ${conn} -> response, then closed`, async (ctx) => {
    const up = await ctx.upstream(echoBody);
    const p = await ctx.proxy(baseConfig(up.port));
    const c = await ctx.client(p.port);
    await c.write(`GET /detail/1 HTTP/1.0\r\nHost: a\r\nConnection: ${conn}\r\n\r\n`);
    const r = await c.readResponse(2000);
    eq(r.status, 200, 'status');
    check(!/keep-alive/i.test(hdr(r, 'connection') || ''), `response says Connection: ${hdr(r, 'connection')}`);
    check(await c.waitClosed(1000), 'connection kept open although the client asked to close it');
  });
}

test('framing: Expect: 100-continue -> 100 Continue before the body, then the response', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `got ${req.body.toString()}`));
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n');
  const i = await c.waitInterim(2000);
  eq(i.status, 100, 'interim status');
  check(c.rawText().startsWith('HTTP/1.1 100 Continue\r\n'), `interim line: ${JSON.stringify(c.rawText().slice(0, 40))}`);
  await c.write('hello world');
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'final status');
  eq(r.body.toString(), 'got hello world', 'body at upstream');
  eq(up.requests.length, 1, 'requests at upstream');
  check(!c.isClosed, 'connection closed after 100-continue exchange');
});

test('framing: Expect: 100-continue with Content-Length 0 -> response without waiting', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('POST /detail/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n');
  const r = await c.readResponse(2000);
  eq(r.status, 200, 'status');
});

// --- input split and pipelined; the exact answers ------------------------------

test('framing: request delivered one byte at a time', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [], `${req.method} ${req.target} ${req.body.toString()} ${hdr(req, 'x-a')}`));
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  const raw = 'POST /detail/frag?q=1 HTTP/1.1\r\nHost: a\r\nX-A: split value\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;e=1\r\ndefg\r\n0\r\n\r\n';
  for (const ch of raw) { await c.write(ch, []); await sleep(1); }
  const r = await c.readResponse(3000);
  eq(r.status, 200, 'status');
  eq(r.body.toString(), 'POST /detail/frag?q=1 abcdefg split value', 'what the upstream got');
});

test('framing: pipelined requests before a malformed one are answered, then 400 and close', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write('GET /detail/a HTTP/1.1\r\nHost: a\r\n\r\nGET /detail/b HTTP/1.1\r\nHost: a\r\n\r\nGET /detail/c HTTP/1.1\r\nHost: a\r\nX-Bad\x00: 1\r\n\r\n');
  const a = await c.readResponse(2000), b = await c.readResponse(2000), bad = await c.readResponse(2000);
  eq(a.body.toString(), 'ok GET /detail/a', 'first'); eq(b.body.toString(), 'ok GET /detail/b', 'second');
  eq(bad.status, 400, 'third (malformed)');
  check(await c.waitClosed(1000), 'connection not closed after 400');
  eq(up.heads.length, 2, 'requests at upstream');
});

// The exact answer where the cases above and t_limits accept a range (their
// cases hold for any RFC-conforming proxy; these pin what leakproxy does, as
// docs/hardening.md states it).
test('framing: exact answers: unknown/odd transfer codings 400, HTTP/2.0 505, CONNECT 400, HTTP/1.0 + TE 400, chunked over the limit 413', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_body_bytes: 1000 } }));
  const cases = [
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff0\r\nhello\r\n0\r\n\r\n', 400],
    ['GET /detail/1 HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['POST /detail/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n' + 'q'.repeat(1000) + '\r\n1\r\nq\r\n0\r\n\r\n', 413],
    ['GET /detail/1 HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n', 417],
  ];
  for (const [raw, status] of cases) {
    const c = await ctx.client(p.port);
    await c.write(raw, []);
    const r = await c.readResponse(2000);
    eq(r.status, status, `status for ${JSON.stringify(raw.slice(0, 70))}`);
    check(await c.waitClosed(1000), `connection not closed after ${r.status} for ${JSON.stringify(raw.slice(0, 50))}`);
    c.close();
  }
  eq(up.requests.length, 0, 'complete requests at the upstream');
  await assertStillServes(p);
});
