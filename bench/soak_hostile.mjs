#!/usr/bin/env node
// soak_hostile.mjs -- the hostile clients of `bench/soak.sh --hostile`: starts
// one probe every INTERVAL_MS (default 1000) against leakproxy's proxy and
// admin listeners on loopback, for as long as it runs, going round the red
// team's probes (docs/hardening.md, "Second round (red team)"): dot-segment
// targets, the reserved memory paths, HEAD and bodiless POST, `Connection:
// host`, malformed framing (TE+CL, bad chunk sizes, 1 MB of chunk-line
// whitespace, oversized heads and request lines), slowloris heads, clients that
// close mid-body or mid-response, pipelined bursts, admin requests with
// hostile Host headers and route names with %00. Every probe is a raw socket,
// bounded in time (PROBE_MS, 20 s) and in bytes read (1 MB); at most 8 run at
// once. Every target the proxy may log carries "hostile" so that the soak can
// tell these requests from the main load in the access log.
// Each probe's answer is recorded as a status (400, 2xx, ...), "closed"
// (connection closed without an answer) or "timeout"; an answer outside the
// probe's expected set is unexpected (a 200 to a dot-segment target or a
// reserved path is one). On SIGTERM/SIGINT prints one JSON line to stdout:
// {"probes": N, "unexpected": N, "by_probe": {name: {answer: count}},
// "unexpected_samples": [...]} (and writes it to --json FILE).
//
//   node bench/soak_hostile.mjs PROXY_HOST:PORT ADMIN_HOST:PORT [--interval-ms MS] [--json FILE]
import net from 'node:net';
import fs from 'node:fs';

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const [proxy, admin] = args;
if (!proxy || !admin || proxy.startsWith('--')) {
  console.error('usage: soak_hostile.mjs PROXY_HOST:PORT ADMIN_HOST:PORT [--interval-ms MS] [--json FILE]');
  process.exit(2);
}
const hp = (s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: +s.slice(s.lastIndexOf(':') + 1) });
const P = hp(proxy), A = hp(admin);
if (!/^(127\.|localhost$|\[?::1)/.test(P.host) || !/^(127\.|localhost$|\[?::1)/.test(A.host)) {
  console.error('soak_hostile.mjs: loopback targets only'); process.exit(2);
}
const INTERVAL = +opt('--interval-ms', 1000);
const jsonOut = opt('--json');
const PROBE_MS = 20000, READ_CAP = 1 << 20, MAX_INFLIGHT = 8;

// Parse the responses in <buf> (HEAD answers and 1xx/204/304 have no body).
// Returns the statuses of the complete responses, in order.
function parseResponses(buf, heads = []) {
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const head = buf.subarray(off, end).toString('latin1');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!m) break;
    const status = +m[1];
    let p = end + 4;
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
    if (status >= 100 && status < 200) { off = p; continue; }
    const noBody = heads[out.length] || status === 204 || status === 304;
    if (noBody) { /* nothing */ } else if (chunked) {
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) return out;
        const n = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (!(n >= 0)) return out;
        p = le + 2 + n + 2;
        if (n === 0) { const te = buf.indexOf('\r\n\r\n', le); if (te < 0) return out; p = te + 4; break; }
        if (p > buf.length) return out;
      }
    } else if (cl) {
      p += +cl[1];
      if (p > buf.length) return out;
    } else {
      out.push(status);   // close-delimited: the rest is its body
      return out;
    }
    out.push(status);
    off = p;
  }
  return out;
}

// One raw exchange: connect, run send(sock) (may be async, may never end),
// collect what comes back until the peer closes, the byte cap, or <ms>.
function exchange(target, send, { ms = PROBE_MS, stopAfter = null } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(target.port, target.host);
    const chunks = [];
    let len = 0, done = false, timedOut = false;
    const finish = (why) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ buf: Buffer.concat(chunks), why, timedOut });
    };
    const timer = setTimeout(() => { timedOut = true; finish('timeout'); }, ms);
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      chunks.push(d); len += d.length;
      if (len >= READ_CAP) finish('cap');
      else if (stopAfter && stopAfter(Buffer.concat(chunks))) finish('stopped');
    });
    sock.on('end', () => finish('end'));
    sock.on('close', () => finish('close'));
    sock.on('error', () => finish('error'));
    sock.on('connect', () => { Promise.resolve(send(sock, () => done)).catch(() => {}); });
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const write = (sock, data) => new Promise((r) => {
  if (sock.destroyed) return r(false);
  if (sock.write(data)) r(true); else { sock.once('drain', () => r(true)); sock.once('close', () => r(false)); }
});

// the answer of a one-request probe: its first status, or "closed"/"timeout"
async function one(target, raw, opts = {}) {
  const r = await exchange(target, typeof raw === 'function' ? raw : (s) => s.write(raw), opts);
  const st = parseResponses(r.buf, opts.heads || []);
  // closeMark: "+closed" when the server ended the connection, "+timeout" when it kept it
  const mark = opts.closeMark ? (r.timedOut ? '+timeout' : '+closed') : '';
  if (st.length) return String(st[0]) + mark;
  // an answer whose head arrived but whose body was cut still counts as its status
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(r.buf.subarray(0, 20).toString('latin1'));
  if (m) return m[1] + mark;
  return r.timedOut ? 'timeout' : 'closed';
}
const req = (method, target, headers = [], body = '') =>
  `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${P.port}\r\nUser-Agent: soak-hostile\r\n${headers.map((h) => h + '\r\n').join('')}\r\n${body}`;
const adminReq = (method, target, host, headers = [], body = '') =>
  `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) soak-hostile\r\n` +
  `Connection: close\r\n${headers.map((h) => h + '\r\n').join('')}${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`;
const C = 'Connection: close';

// name, expected answers (exact statuses, classes like "2xx", "closed"), run() -> answer or [answers]
const PROBES = [
  ['dot_mem_gc', ['400'], () => one(P, req('GET', '/./__mem?gc=1&hostile', [C]))],
  ['pct2e_mem', ['400'], () => one(P, req('GET', '/%2e/__mem?hostile', [C]))],
  ['dotdot_mem', ['400'], () => one(P, req('GET', '/x/../__mem?gc=1&hostile', [C]))],
  ['backslash_mem', ['400'], () => one(P, req('GET', '/x\\..\\__mem?hostile', [C]))],
  ['dot_route', ['400'], () => one(P, req('GET', '/./news/1?hostile', [C]))],
  ['reserved_mem', ['403'], () => one(P, req('GET', '/__mem?hostile', [C]))],
  ['reserved_gc', ['403'], () => one(P, req('GET', '/__mem?gc=1&hostile', [C]))],
  ['reserved_pct', ['403'], () => one(P, req('GET', '/_%5fmem?gc=1&hostile', [C]))],
  ['reserved_case', ['403'], () => one(P, req('GET', '/__MEM?gc=1&hostile', [C]))],
  ['reserved_head', ['403'], () => one(P, req('HEAD', '/__mem?gc=1&hostile', [C]), { heads: [true] })],
  ['reserved_post', ['403'], () => one(P, req('POST', '/__mem?gc=1&hostile', [C, 'Content-Length: 2'], '{}'))],
  ['head', ['2xx'], () => one(P, req('HEAD', '/about?hostile', [C]), { heads: [true] })],
  ['post_bodiless', ['2xx', '4xx'], () => one(P, req('POST', '/about?hostile', [C]))],
  ['delete_bodiless', ['2xx', '4xx'], () => one(P, req('DELETE', '/about?hostile', [C]))],
  ['connection_host', ['2xx'], () => one(P, req('GET', '/about?hostile', ['Connection: host, close']))],
  ['te_cl', ['2xx', '4xx'], () => one(P, req('POST', '/about?hostile', ['Transfer-Encoding: chunked', 'Content-Length: 5', C], '0\r\n\r\n'))],
  ['te_empty_cl', ['400'], () => one(P, req('POST', '/about?hostile', ['Transfer-Encoding:', 'Content-Length: 5', C], 'hello'))],
  ['two_cl', ['400'], () => one(P, req('POST', '/about?hostile', ['Content-Length: 5', 'Content-Length: 6', C], 'hello!'))],
  ['bad_chunk_size', ['400'], () => one(P, req('POST', '/about?hostile', ['Transfer-Encoding: chunked', C], 'zz\r\nhello\r\n0\r\n\r\n'))],
  ['chunk_size_overflow', ['400'], () => one(P, req('POST', '/about?hostile', ['Transfer-Encoding: chunked', C], 'ffffffffffffffffff1\r\nx\r\n'))],
  // keep-alive on purpose: whatever the answer, leakproxy must close the
  // connection. Usually a 400 at the 4 KB cap; the app may also answer the
  // POST before the padding arrives (an early response): then a 2xx, and the
  // connection is closed all the same (the rest of the body cannot be read)
  ['chunk_line_1mb_ws', ['400+closed', '2xx+closed', 'closed'], () => one(P, async (s, gone) => {
    const blanks = Buffer.alloc(64 * 1024, ' ');
    await write(s, Buffer.concat([Buffer.from(req('POST', '/about?hostile', ['Transfer-Encoding: chunked']) + '5'), blanks]));
    for (let i = 1; i < 16 && !gone(); i++) if (!(await write(s, blanks))) return;
    await write(s, '\r\nhello\r\n0\r\n\r\n');
  }, { closeMark: true })],
  ['trailer_cl', ['400'], () => one(P, req('POST', '/about?hostile', ['Transfer-Encoding: chunked', C], '5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n'))],
  ['big_head', ['431', 'closed'], () => one(P, req('GET', '/about?hostile', [C, ...Array.from({ length: 700 }, (_, i) => `X-Pad-${i}: ${'a'.repeat(90)}`)]))],
  ['many_headers', ['431'], () => one(P, req('GET', '/about?hostile', [C, ...Array.from({ length: 120 }, (_, i) => `X-H${i}: v`)]))],
  ['long_request_line', ['414', 'closed'], () => one(P, req('GET', `/about?hostile&${'a'.repeat(9000)}`, [C]))],
  ['bad_host', ['400'], () => one(P, `GET /about?hostile HTTP/1.1\r\nHost: a b\r\n${C}\r\n\r\n`)],
  ['connect', ['4xx', '5xx'], () => one(P, `CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n${C}\r\n\r\n`)],
  ['garbage', ['400', 'closed'], () => one(P, '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03hostile garbage\r\n\r\n')],
  ['slowloris', ['408', 'closed'], () => one(P, async (s, gone) => {
    await write(s, 'GET /about?hostile HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    for (let i = 0; i < 18 && !gone(); i++) { await sleep(1000); await write(s, 'X'); }
  })],
  ['close_mid_body', ['closed-by-us'], async () => {
    await exchange(P, async (s) => { await write(s, req('POST', '/about?hostile', ['Content-Length: 1000']) + 'x'.repeat(100)); await sleep(200); s.destroy(); }, { ms: 2000 });
    return 'closed-by-us';
  }],
  ['stall_mid_body', ['2xx', '408', 'closed', 'timeout'], () => one(P, async (s) => {
    await write(s, req('POST', '/about?hostile', ['Content-Length: 1000', C]) + 'x'.repeat(100));
  }, { ms: 3000 })],   // the app may answer before the body; else a close mid-body after 3 s (client_idle_ms is 60 s)
  ['close_mid_response', ['2xx'], async () => {
    const r = await exchange(P, (s) => s.write(req('GET', '/products?hostile', [C])), { stopAfter: (b) => b.length > 0 });
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(r.buf.toString('latin1'));
    return m ? m[1] : r.buf.length ? 'partial' : 'closed';
  }],
  ['pipelined_20', ['2xx'], async () => {
    const reqs = Array.from({ length: 20 }, (_, i) => req(i % 4 === 3 ? 'HEAD' : 'GET', `/news/${i}?hostile`, i === 19 ? [C] : []));
    const heads = reqs.map((r) => r.startsWith('HEAD'));
    const r = await exchange(P, (s) => s.write(reqs.join('')));
    const st = parseResponses(r.buf, heads);
    if (st.length !== 20) return `${st.length}_of_20`;
    const bad = st.find((x) => x < 200 || x > 299);
    return bad ? String(bad) : '200';
  }],
  ['pipelined_after_bad', ['400+closed'], async () => {
    // a valid request, a malformed one, a valid one: 2xx, 400, then closed
    const r = await exchange(P, (s) => s.write(req('GET', '/about?hostile') + req('GET', '/./__mem?hostile') + req('GET', '/about?hostile', [C])));
    const st = parseResponses(r.buf);
    return st.length === 2 && st[0] >= 200 && st[0] < 300 && st[1] === 400 ? '400+closed' : st.join(',') || 'closed';
  }],
  ['admin_rebind_host', ['403'], () => one(A, adminReq('GET', '/api/status', `127.0.0.1.nip.io:${A.port}`))],
  ['admin_evil_host', ['403'], () => one(A, adminReq('GET', '/api/routes', 'localhost.evil.com'))],
  ['admin_rebind_put', ['403'], () => one(A, adminReq('PUT', '/api/routes/news/mode', '127.evil.com', ['Content-Type: application/json'], '{"mode":"ssr"}'))],
  ['admin_no_host', ['403', '400'], () => one(A, `GET /api/status HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\n${C}\r\n\r\n`)],
  ['admin_nul_route', ['404'], () => one(A, adminReq('GET', '/api/routes/x%00y', `127.0.0.1:${A.port}`))],
  ['admin_nul_mode', ['404'], () => one(A, adminReq('PUT', '/api/routes/news%00junk/mode', `127.0.0.1:${A.port}`, ['Content-Type: application/json'], '{"mode":"ssr"}'))],
  ['admin_bad_escape', ['404'], () => one(A, adminReq('GET', '/api/routes/news%zz', `127.0.0.1:${A.port}`))],
  ['admin_big_body', ['413', 'closed'], () => one(A, adminReq('POST', '/api/probe', `127.0.0.1:${A.port}`, ['Content-Type: application/json'], `{"pad":"${'x'.repeat(70000)}"}`))],
  ['admin_slow_head', ['closed', '408'], () => one(A, async (s, gone) => {
    await write(s, 'GET /api/status HTTP/1.1\r\n');
    for (let i = 0; i < 8 && !gone(); i++) { await sleep(1000); await write(s, 'X'); }
  }, { ms: 12000 })],
];

const stats = { probes: 0, unexpected: 0, by_probe: {}, unexpected_samples: [], started: new Date().toISOString() };
// "2xx" matches any 2.. status, "2xx+closed" any 2.. status then "+closed"
const matches = (answer, expect) => expect.some((e) => e === answer ||
  (/^\dxx/.test(e) && /^\d{3}/.test(answer) && answer[0] === e[0] && answer.slice(3) === e.slice(3)));

let inflight = 0, next = 0, stop = false;
async function runProbe([name, expect, run]) {
  inflight++;
  let answer;
  try { answer = String(await run()); } catch (e) { answer = `exception: ${e.message}`; }
  inflight--;
  stats.probes++;
  const e = (stats.by_probe[name] ??= {});
  e[answer] = (e[answer] || 0) + 1;
  if (!matches(answer, expect)) {
    stats.unexpected++;
    const s = `${new Date().toISOString()} ${name}: got ${answer}, expected ${expect.join('|')}`;
    if (stats.unexpected_samples.length < 20) stats.unexpected_samples.push(s);
    console.error(`soak_hostile: ${s}`);
  }
}
const tick = setInterval(() => {
  if (stop || inflight >= MAX_INFLIGHT) return;
  runProbe(PROBES[next++ % PROBES.length]);
}, INTERVAL);

const done = async () => {
  if (stop) return;
  stop = true;
  clearInterval(tick);
  for (let i = 0; i < 250 && inflight > 0; i++) await sleep(100);   // let running probes end (bounded)
  stats.unfinished = inflight;
  const line = JSON.stringify(stats);
  if (jsonOut) fs.writeFileSync(jsonOut, line + '\n');
  console.log(line);
  process.exit(0);
};
process.on('SIGTERM', done);
process.on('SIGINT', done);
console.error(`soak_hostile: ${PROBES.length} probes in rotation, one every ${INTERVAL} ms, against proxy ${proxy} and admin ${admin}`);
