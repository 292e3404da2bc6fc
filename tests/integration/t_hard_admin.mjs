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
