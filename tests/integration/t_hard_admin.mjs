// Hardening, second round (red team): the admin listener. A partial request
// needs no token, so idle admin connections must not be able to take the
// descriptors the proxy needs, nor leave its listener paused; a DNS-rebinding
// page must not pass the loopback Host check; route names in admin paths are
// compared whole, after decoding. docs/hardening.md, "Second round (red
// team)", lists each case.

import fs from 'node:fs';
import net from 'node:net';
import {
  test, baseConfig, request, get, check, eq, sleep, note, routeStats, adminCall, parseMetrics, metric,
} from './lib.mjs';

const browser = ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64)'];
const json = ['Content-Type', 'application/json'];

test('hard2: DNS rebinding: a browser with Host 127.0.0.1.nip.io (or 127.evil.com, localhost.evil.com) cannot drive a token-less loopback admin', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { fallback: { header: 'X-SSR-Off: 1' } }));
  const port = p.adminPort;
  const mode = (host, m = 'csr') => request(port, 'PUT', '/api/routes/detail/mode',
    { headers: [['Host', host], ['Origin', `http://${host}`], browser, json], body: JSON.stringify({ mode: m }) });
  for (const host of [`127.0.0.1.nip.io:${port}`, `127.0.0.1.nip.io`, `127.evil.com:${port}`, `localhost.evil.com:${port}`,
    `[::1]x:${port}`, `127.0.0.1:80:${port}`, `127.1:${port}`]) {
    const r = await mode(host);
    eq(r.status, 403, `PUT mode with Host ${host}`);
    const g = await get(port, '/api/routes', { headers: [['Host', host], browser] });
    eq(g.status, 403, `GET /api/routes with Host ${host}`);
  }
  eq((await routeStats(port, 'detail')).mode, 'ssr', 'nothing was switched');
  // the dashboard on every loopback spelling still works
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `127.0.0.2:${port}`]) {
    eq((await mode(host, 'ssr')).status, 200, `PUT mode with Host ${host}`);
    eq((await get(port, '/api/routes', { headers: [['Host', host], browser] })).status, 200, `GET with Host ${host}`);
  }
  eq((await get(port, '/api/routes', { headers: [['Host', `[::1]:${port}`], browser] })).status, 200, 'GET with Host [::1]');
});

test('hard2: route names in admin paths are decoded and compared whole: NAME%00junk, NAME%2Fx, NAME%20 -> 404, nothing changes', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, { fallback: { header: 'X-SSR-Off: 1' } }));
  const hostile = ['detail%00junk', 'detail%00', 'detail%2Fx', 'detail%20', '%20detail', 'detail%0d%0aX:1', 'detail%', 'detail%zz',
    'detail%C3%A9', '_other%00x', 'detail%2e%2e'];
  for (const seg of hostile) {
    const r = await adminCall(p, 'PUT', `/api/routes/${seg}/mode`, { mode: 'csr' });
    check(r.status === 404 || r.status === 400, `PUT /api/routes/${seg}/mode: expected 404 or 400, got ${r.status} ${r.text.slice(0, 120)}`);
    const g = await adminCall(p, 'GET', `/api/routes/${seg}`);
    check(g.status === 404 || g.status === 400, `GET /api/routes/${seg}: expected 404 or 400, got ${g.status} ${g.text.slice(0, 120)}`);
    check(!/"name"/.test(g.text), `GET /api/routes/${seg} answered a route: ${g.text.slice(0, 120)}`);
  }
  eq((await routeStats(p.adminPort, 'detail')).mode, 'ssr', 'detail was not switched');
  // a name in a JSON body: jansson refuses \u0000, so no prefix of it is ever looked up
  for (const [target, body] of [['/api/probe', '{"route": "detail\\u0000junk", "requests": 10}'],
    ['/api/bisect', '{"routes": ["detail\\u0000junk"]}']]) {
    const r = await adminCall(p, 'POST', target, body);
    check(r.status >= 400 && r.status < 500, `POST ${target} with a NUL in the name: got ${r.status} ${r.text.slice(0, 120)}`);
  }
  eq((await adminCall(p, 'GET', '/api/probe')).json.state, 'idle', 'no probe started');
  // an encoded but valid name still works; _other is found by its name
  eq((await adminCall(p, 'GET', '/api/routes/%64etail')).json.name, 'detail', 'GET /api/routes/%64etail');
  eq((await adminCall(p, 'GET', '/api/routes/_other')).json.name, '_other', 'GET /api/routes/_other');
  eq((await adminCall(p, 'PUT', '/api/routes/detail/mode', { mode: 'csr' })).status, 200, 'PUT detail mode');
});

const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
// CPU time (user + system) of <pid> in ms
const cpuMs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (+f[11] + +f[12]) * 10;   // utime, stime in clock ticks (100 a second)
};
const nofileLimit = (pid) => +/Max open files\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))[1];

// <n> connections to <port> that each send <head> (a partial request, no
// token needed) and stay open.
function openIdle(port, n, head = 'GET /api/status HTTP/1.1\r\n') {
  const socks = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => s.write(head));
    socks.push(s);
  }
  return { socks, closed: () => socks.filter((s) => s.destroyed || s.readyState === 'closed').length,
    close: () => socks.forEach((s) => s.destroy()) };
}

// One GET on a new connection to the proxy; resolves the status, or a string
// saying it was not answered within <ms>.
function proxyGet(port, target, ms) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => { s.destroy(); resolve(`no answer within ${ms} ms`); }, ms);
    s.on('error', (e) => { clearTimeout(t); resolve(`error ${e.code}`); });
    s.on('data', (d) => { buf += d; if (/^HTTP\/1\.1 \d+/.test(buf)) { clearTimeout(t); s.destroy(); resolve(+buf.slice(9, 12)); } });
    s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

test('hard2: descriptors filled by idle admin connections, then freed: no accept() loop meanwhile; the paused proxy listener resumes by itself (new client served within 2 s, listener_paused back to 0)', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => res.send(200, [], 'ok'));
  const p = await ctx.proxy(baseConfig(up.port, {}), { prefix: ['sh', '-c', 'ulimit -n 64 && exec "$0" "$@"'] });
  eq(nofileLimit(p.pid), 64, 'the proxy\'s RLIMIT_NOFILE');
  eq(await proxyGet(p.port, '/detail/0', 3000), 200, 'a client before');
  const idle = openIdle(p.adminPort, 80);
  try {
    for (let t = 0; t < 50 && fdCount(p.pid) < 63; t++) await sleep(100);
    check(fdCount(p.pid) >= 63, `descriptors in use once the admin connections are open: ${fdCount(p.pid)} of 64`);
    // this client meets EMFILE: the proxy listener pauses; it is answered once descriptors are free
    const waiting = proxyGet(p.port, '/detail/1', 6000);
    // meanwhile admin connections wait in the backlog too: neither listener may spin on accept()
    const cpu0 = cpuMs(p.pid), w0 = Date.now();
    await sleep(1000);
    const busy = (cpuMs(p.pid) - cpu0) / (Date.now() - w0);
    note(`CPU while out of descriptors: ${Math.round(busy * 100)} %`);
    check(busy < 0.3, `the proxy used ${Math.round(busy * 100)} % of a CPU while out of descriptors (accept() in a loop?)`);
    idle.close();
    const t0 = Date.now();
    const st = await waiting;
    note(`the client that met EMFILE answered ${Date.now() - t0} ms after the admin connections closed`);
    eq(st, 200, 'the client that arrived while descriptors were exhausted');
    check(Date.now() - t0 < 2000, `answered ${Date.now() - t0} ms after the descriptors were freed (bound 2000)`);
    eq(await proxyGet(p.port, '/detail/2', 2000), 200, 'a new client after');
    const m = parseMetrics((await adminCall(p, 'GET', '/metrics')).text);
    check(metric(m, 'leakproxy_accept_fd_exhausted_total')[0].value > 0, 'the proxy did run out of descriptors');
    eq(metric(m, 'leakproxy_listener_paused')[0].value, 0, 'leakproxy_listener_paused');
  } finally { idle.close(); }
});

test('hard2: admin connections are capped at 64: 200 idle admin connections hold at most 64 descriptors, the proxy keeps serving, the admin answers once they close', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => res.send(200, [], 'ok'));
  const p = await ctx.proxy(baseConfig(up.port, {}));
  const base = fdCount(p.pid);
  const idle = openIdle(p.adminPort, 200);
  try {
    await sleep(1000);
    const held = fdCount(p.pid) - base;
    note(`200 idle admin connections hold ${held} descriptors`);
    check(held <= 64 + 2, `200 idle admin connections hold ${held} descriptors (cap 64)`);
    check(held >= 60, `only ${held} admin connections accepted: the test did not reach the cap`);
    eq(await proxyGet(p.port, '/detail/1', 2000), 200, 'a proxy client meanwhile');
  } finally { idle.close(); }
  const t0 = Date.now();
  const r = await adminCall(p, 'GET', '/metrics', undefined, { timeout: 3000 });
  eq(r.status, 200, '/metrics once the idle connections closed');
  note(`admin answered ${Date.now() - t0} ms after they closed`);
  // the closed ones still in the backlog are accepted, read to EOF and freed
  let open = -1;
  for (let t = 0; t < 30 && open !== 1; t++) {
    if (t) await sleep(100);
    open = metric(parseMetrics((await adminCall(p, 'GET', '/metrics')).text), 'leakproxy_admin_connections')[0].value;
  }
  eq(open, 1, 'leakproxy_admin_connections (this request) within 3 s');
});

test('hard2: an admin request must arrive complete within 5 s (a head trickled a byte a second is closed), and an idle keep-alive admin connection is closed after 5 s', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port, {}));
  const trickle = net.connect(p.adminPort, '127.0.0.1');
  const idle = net.connect(p.adminPort, '127.0.0.1');
  const closedAt = {};
  const t0 = Date.now();
  let answered = '';
  trickle.on('error', () => {}); idle.on('error', () => {});
  trickle.on('close', () => { closedAt.trickle = Date.now() - t0; });
  idle.on('close', () => { closedAt.idle = Date.now() - t0; });
  idle.on('data', (d) => { answered += d; });
  idle.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  const head = 'GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ' + 'a'.repeat(20);
  try {
    for (let i = 0; i < head.length && closedAt.trickle === undefined && Date.now() - t0 < 9000; i++) {
      trickle.write(head[i]);
      await sleep(1000);
    }
    for (let t = 0; t < 30 && (closedAt.trickle === undefined || closedAt.idle === undefined); t++) await sleep(100);
  } finally { trickle.destroy(); idle.destroy(); }
  note(`trickled head closed after ${closedAt.trickle} ms, idle keep-alive after ${closedAt.idle} ms`);
  check(/^HTTP\/1\.1 200/.test(answered), `the keep-alive connection's request was answered: ${JSON.stringify(answered.slice(0, 40))}`);
  check(closedAt.trickle >= 4500 && closedAt.trickle <= 7000, `trickled head closed after ${closedAt.trickle} ms (expected 5 s)`);
  check(closedAt.idle >= 4500 && closedAt.idle <= 7000, `idle keep-alive admin connection closed after ${closedAt.idle} ms (expected 5 s)`);
}, { timeout: 20000 });
