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
