// The per-route SSR switch: modes from the config and the admin
// API, the three fallbacks (file, header, upstream), the control header
// stripped from clients, counters (csr_requests apart from rendered), manual
// modes surviving a reload, and the acceptance case on the Vue demo: a
// leaking route switched to csr is served the shell, the upstream sees none
// of it and its heap floor stops rising while other routes keep rendering.

import fs from 'node:fs';
import path from 'node:path';
import {
  test, get, request, respond, hdr, hdrAll, check, eq, sleep, note, runSync, configText, Client, rawRequest,
  startDemo, adminJson, drive, VUE_SHELL, adminCall, setMode, routesByName, demoMemory, demoProxyConfig,
  truthSteadyHeap, startFakeMemory, gcFloors, slopePerSecond, reloadWith, routeStats,
} from './lib.mjs';

const KB = 1024, MB = 1024 * 1024;
const SHELL = fs.readFileSync(VUE_SHELL);

function switchConfig(upPort, extra = {}) {
  return {
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${upPort}`, admin: '127.0.0.1:0',
    routes: [
      { name: 'home', match: '/' },
      { name: 'about', match: '/about' },
      { name: 'news', match: '/news/:id' },
      { name: 'api', match: '/api/*', never_csr: true },
    ],
    ...extra,
  };
}

const targets = (up) => up.requests.map((q) => `${q.method} ${q.target}`);

function assertShell(r, what, { head = false } = {}) {
  eq(r.status, 200, `${what}: status`);
  check(/^text\/html/.test(hdr(r, 'content-type') || ''), `${what}: Content-Type ${JSON.stringify(hdr(r, 'content-type'))}, expected text/html from the .html extension`);
  eq(hdrAll(r, 'cache-control').join(' | '), 'no-store', `${what}: Cache-Control`);
  eq(hdr(r, 'x-leakproxy-mode'), 'csr', `${what}: X-Leakproxy-Mode`);
  eq(hdr(r, 'content-length'), String(SHELL.length), `${what}: Content-Length`);
  if (head) eq(r.body.length, 0, `${what}: HEAD body length`);
  else check(r.body.equals(SHELL), `${what}: body is not byte-identical to ${VUE_SHELL} (${r.body.length} vs ${SHELL.length} bytes)`);
}

test('switch: file fallback serves the shell, the upstream sees nothing of the csr route, others still reach it', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [['Content-Type', 'text/plain'], ['Cache-Control', 'max-age=60']], `ssr ${req.method} ${req.target}`));
  const p = await ctx.proxy(switchConfig(up.port, {
    fallback: { file: VUE_SHELL },
    routes: [
      { name: 'home', match: '/' },
      { name: 'about', match: '/about' },
      { name: 'news', match: '/news/:id', mode: 'csr' },
      { name: 'api', match: '/api/*', never_csr: true },
    ],
  }));
  let news = await routeStats(p.adminPort, 'news');
  eq(news.mode, 'csr', 'news mode from the config');
  eq(news.mode_by, 'config', 'news mode_by');
  check(typeof news.fallback === 'string' && news.fallback.includes('index.html'), `news fallback text: ${JSON.stringify(news.fallback)}`);
  eq((await routeStats(p.adminPort, 'about')).mode, 'ssr', 'about mode');

  // GET and HEAD, on one keep-alive connection, interleaved with a rendered route
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/news/1?x=1'));
  assertShell(await c.readResponse(), 'GET /news/1');
  await c.write(rawRequest('GET', '/about'));
  const about = await c.readResponse();
  eq(about.status, 200, 'GET /about status');
  eq(about.body.toString(), 'ssr GET /about', 'GET /about reached the upstream');
  eq(hdr(about, 'x-leakproxy-mode'), undefined, 'an ssr answer carries no X-Leakproxy-Mode');
  eq(hdr(about, 'cache-control'), 'max-age=60', 'an ssr answer keeps the upstream Cache-Control');
  await c.write(rawRequest('HEAD', '/news/2'), ['HEAD']);
  assertShell(await c.readResponse(), 'HEAD /news/2', { head: true });
  await c.write(rawRequest('GET', '/news/3/'));
  assertShell(await c.readResponse(), 'GET /news/3/ (trailing slash)');
  check(!c.isClosed, 'keep-alive connection closed after csr answers');
  await sleep(100);
  eq(targets(up).join(','), 'GET /about', 'the upstream saw only /about');

  // other methods on a csr route are forwarded
  const post = await request(p.port, 'POST', '/news/4', { body: 'comment=1', headers: [['Content-Type', 'application/x-www-form-urlencoded']] });
  eq(post.status, 200, 'POST /news/4 status');
  eq(post.body.toString(), 'ssr POST /news/4', 'POST /news/4 reached the upstream');
  eq(hdr(post, 'x-leakproxy-mode'), undefined, 'POST on a csr route is not answered in csr');
  await up.waitRequests(2);
  eq(up.requests[1].body.toString(), 'comment=1', 'POST body at the upstream');

  // never_csr and ssr routes still reach the upstream
  eq((await get(p.port, '/api/x')).body.toString(), 'ssr GET /api/x', '/api/x');
  eq((await get(p.port, '/')).body.toString(), 'ssr GET /', '/');
  await sleep(100);
  eq(targets(up).filter((t) => t.startsWith('GET /news')).length, 0, `GET /news requests at the upstream: ${targets(up)}`);

  news = await routeStats(p.adminPort, 'news', { until: (j) => j.requests >= 4 });
  eq(news.requests, 4, 'news requests (3 GET/HEAD in csr + 1 POST)');
  eq(news.csr_requests, 3, 'news csr_requests');
  eq(news.rendered, 1, 'news rendered (only the POST reached the upstream)');
  eq(news.status['2xx'], 4, 'news 2xx');
  const ab = await routeStats(p.adminPort, 'about');
  eq(ab.csr_requests, 0, 'about csr_requests');
  eq(ab.rendered, 1, 'about rendered');
});

test('switch: Content-Type of a file fallback follows its extension; per-route file overrides the global one', async (ctx) => {
  const up = await ctx.upstream();
  const dir = ctx.tmp();
  const json = path.join(dir, 'shell.json'), txt = path.join(dir, 'shell.txt');
  fs.writeFileSync(json, '{"shell":true}\n');
  fs.writeFileSync(txt, 'plain shell\n');
  const p = await ctx.proxy(switchConfig(up.port, {
    fallback: { file: VUE_SHELL },
    routes: [
      { name: 'home', match: '/', mode: 'csr' },
      { name: 'about', match: '/about', mode: 'csr', fallback: { file: json } },
      { name: 'news', match: '/news/:id', mode: 'csr', fallback: { file: txt } },
    ],
  }));
  assertShell(await get(p.port, '/'), 'GET / (global fallback)');
  const a = await get(p.port, '/about');
  eq(a.body.toString(), '{"shell":true}\n', '/about body (route fallback)');
  check(/^application\/json/.test(hdr(a, 'content-type')), `/about Content-Type ${hdr(a, 'content-type')}`);
  const n = await get(p.port, '/news/1');
  eq(n.body.toString(), 'plain shell\n', '/news/1 body (route fallback)');
  check(/^text\/plain/.test(hdr(n, 'content-type')), `/news/1 Content-Type ${hdr(n, 'content-type')}`);
  eq(hdr(n, 'x-leakproxy-mode'), 'csr', '/news/1 X-Leakproxy-Mode');
  eq(up.requests.length, 0, 'upstream requests');
  eq((await routeStats(p.adminPort, 'about')).fallback, `file: ${json}`, 'about fallback text');
});

test('switch: header fallback adds the header, replaces Cache-Control; an inbound copy is stripped everywhere', async (ctx) => {
  const up = await ctx.upstream((req, res) => res.send(200, [['Content-Type', 'text/html'], ['Cache-Control', 'public, max-age=600'],
    ['X-Render', hdr(req, 'x-ssr-off') === '1' ? 'csr' : 'ssr']], 'page'));
  const p = await ctx.proxy(switchConfig(up.port, { fallback: { header: 'X-SSR-Off: 1' } }));
  eq((await setMode(p, 'news', 'csr')).status, 200, 'PUT news csr');

  const n = await get(p.port, '/news/7', { headers: [['X-SSR-Off', '0'], ['Accept', 'text/html']] });
  eq(n.status, 200, '/news/7 status');
  eq(n.body.toString(), 'page', '/news/7 body from the upstream');
  eq(hdrAll(n, 'cache-control').join(' | '), 'no-store', '/news/7 Cache-Control (the upstream one replaced)');
  eq(hdr(n, 'x-leakproxy-mode'), 'csr', '/news/7 X-Leakproxy-Mode');
  eq(hdr(n, 'x-render'), 'csr', '/news/7 X-Render from the app');
  await up.waitRequests(1);
  const q = up.requests[0];
  eq(q.target, '/news/7', 'target at upstream');
  eq(hdrAll(q, 'x-ssr-off').join(','), '1', 'X-SSR-Off at the upstream: exactly one, the configured value (the client\'s "0" dropped)');
  eq(hdr(q, 'accept'), 'text/html', 'other headers still forwarded');

  // an ssr route: a client cannot switch SSR off by sending the header (any case)
  for (const [name, value] of [['X-SSR-Off', '1'], ['x-ssr-off', '1'], ['X-Ssr-Off', 'yes']]) {
    const a = await get(p.port, '/about', { headers: [[name, value]] });
    eq(a.status, 200, `/about with ${name}: ${value}`);
    eq(hdr(a, 'x-render'), 'ssr', `/about with ${name}: ${value}: rendered by the app`);
    eq(hdr(a, 'cache-control'), 'public, max-age=600', '/about keeps the upstream Cache-Control');
    eq(hdr(a, 'x-leakproxy-mode'), undefined, '/about X-Leakproxy-Mode');
  }
  // never_csr and POSTs on the csr route: stripped as well
  await get(p.port, '/api/v', { headers: [['X-SSR-Off', '1']] });
  await request(p.port, 'POST', '/news/7', { body: 'x', headers: [['X-SSR-Off', '1']] });
  await up.waitRequests(6);
  for (const r of up.requests.slice(1))
    eq(hdrAll(r, 'x-ssr-off').length, 0, `X-SSR-Off reached the upstream on ${r.method} ${r.target}`);
  const ns = await routeStats(p.adminPort, 'news');
  eq(ns.csr_requests, 1, 'news csr_requests');
  eq(ns.rendered, 1, 'news rendered (the POST; the csr GET is not counted)');
});

test('switch: upstream fallback goes to the second server; the first sees nothing of the route', async (ctx) => {
  const up1 = await ctx.upstream((req, res) => res.send(200, [['Content-Type', 'text/plain']], `one ${req.target}`));
  const up2 = await ctx.upstream((req, res) => {
    const body = `two ${req.method} ${req.target}`;
    if (req.method === 'HEAD') res.write(respond(200, [['Content-Type', 'text/html'], ['Content-Length', String(body.length)]]));
    else res.send(200, [['Content-Type', 'text/html']], body);
  });
  const p = await ctx.proxy(switchConfig(up1.port, {
    fallback: { file: VUE_SHELL },
    routes: [
      { name: 'home', match: '/' },
      { name: 'about', match: '/about', mode: 'csr' },
      { name: 'news', match: '/news/:id', mode: 'csr', fallback: { upstream: `http://127.0.0.1:${up2.port}` } },
    ],
  }));
  const n = await get(p.port, '/news/5?a=b');
  eq(n.status, 200, '/news/5 status');
  eq(n.body.toString(), 'two GET /news/5?a=b', '/news/5 body from the fallback upstream');
  const h = await request(p.port, 'HEAD', '/news/6');
  eq(h.status, 200, 'HEAD /news/6 status');
  assertShell(await get(p.port, '/about'), '/about (global file fallback)');
  eq((await get(p.port, '/')).body.toString(), 'one /', '/ from the main upstream');
  const post = await request(p.port, 'POST', '/news/5', { body: 'x' });
  eq(post.body.toString(), 'one /news/5', 'POST /news/5 goes to the main upstream');
  await sleep(100);
  eq(targets(up2).join(','), 'GET /news/5?a=b,HEAD /news/6', 'requests at the fallback upstream');
  eq(targets(up1).join(','), 'GET /,POST /news/5', 'requests at the main upstream');
  eq(hdr(up2.requests[0], 'host'), 'test.local', 'Host forwarded to the fallback upstream');
  const ns = await routeStats(p.adminPort, 'news');
  eq(ns.csr_requests, 2, 'news csr_requests');
  eq(ns.rendered, 1, 'news rendered');
  eq(ns.fallback, `upstream: http://127.0.0.1:${up2.port}`, 'news fallback text');
});

test('switch: PUT /api/routes/NAME/mode: 200 with the route, 400 bad body, 404 unknown, 409 never_csr, 409 without a fallback', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(switchConfig(up.port, {
    routes: [
      { name: 'home', match: '/' },
      { name: 'about', match: '/about' },
      { name: 'news', match: '/news/:id', fallback: { file: VUE_SHELL } },
      { name: 'api', match: '/api/*', never_csr: true, fallback: { file: VUE_SHELL } },
    ],
  }));
  const t0 = Date.now();
  let r = await setMode(p, 'news', 'csr');
  eq(r.status, 200, `PUT news csr: ${r.text}`);
  eq(r.json.name, 'news', 'answer is the route object');
  eq(r.json.mode, 'csr', 'mode');
  eq(r.json.mode_by, 'manual', 'mode_by');
  check(r.json.mode_since_ms >= t0 - 1000 && r.json.mode_since_ms <= Date.now() + 1000, `mode_since_ms ${r.json.mode_since_ms} near now ${t0}`);
  eq(r.json.never_csr, false, 'never_csr');
  eq(r.json.csr_requests, 0, 'csr_requests');
  assertShell(await get(p.port, '/news/1'), 'GET /news/1 right after the switch');
  eq((await adminJson(p, '/api/routes/news')).mode, 'csr', 'GET /api/routes/news mode');
  // idempotent
  r = await setMode(p, 'news', 'csr');
  eq(r.status, 200, 'PUT news csr again');

  const bad = [
    ['{"mode": "off"}', 'unknown mode'], ['{"mode": 1}', 'mode not a string'], ['{}', 'no mode'],
    ['not json', 'not JSON'], ['', 'empty body'], ['["csr"]', 'an array'],
  ];
  for (const [body, what] of bad) {
    r = await adminCall(p, 'PUT', '/api/routes/news/mode', body);
    eq(r.status, 400, `PUT news with ${what} (${JSON.stringify(body)})`);
    check(r.json && typeof r.json.error === 'string', `400 answer has an error: ${r.text}`);
  }
  r = await setMode(p, 'nosuch', 'csr');
  eq(r.status, 404, 'PUT unknown route');
  check(r.json && typeof r.json.error === 'string', `404 answer has an error: ${r.text}`);
  r = await setMode(p, 'api', 'csr');
  eq(r.status, 409, 'PUT never_csr route');
  check(/never_csr/.test(r.json?.error || ''), `409 error names never_csr: ${r.text}`);
  r = await setMode(p, 'about', 'csr');
  eq(r.status, 409, 'PUT a route without any fallback');
  check(/fallback/.test(r.json?.error || ''), `409 error names the fallback: ${r.text}`);
  r = await setMode(p, '_other', 'csr');
  eq(r.status, 409, 'PUT _other csr');
  // the refused routes did not change
  const all = await routesByName(p);
  for (const n of ['api', 'about', '_other', 'home']) {
    eq(all[n].mode, 'ssr', `${n} mode after refused switches`);
    eq(all[n].mode_by, 'config', `${n} mode_by after refused switches`);
  }
  eq(all.api.never_csr, true, 'api never_csr');
  eq((await get(p.port, '/api/v')).body.toString(), 'ok GET /api/v', '/api/v still reaches the upstream');

  r = await setMode(p, 'news', 'ssr');
  eq(r.status, 200, 'PUT news ssr');
  eq(r.json.mode, 'ssr', 'mode back');
  eq(r.json.mode_by, 'manual', 'mode_by after switching back');
  eq(r.json.csr_requests, 1, 'csr_requests kept');
  eq((await get(p.port, '/news/2')).body.toString(), 'ok GET /news/2', '/news/2 rendered again');
  eq((await routeStats(p.adminPort, 'news', { until: (j) => j.rendered >= 1 })).rendered, 1, 'news rendered');
  // the switch is logged with the mode it set (read after the request body is freed: garbage here
  // would be a use-after-free in the handler)
  await p.waitStderr(/route news: mode csr \(manual[^\n]*\n[\s\S]*route news: mode ssr \(manual/, 1000);
});

test('switch: a switch is immediate for new requests and does not break requests in flight', async (ctx) => {
  let release;
  const gate = new Promise((r) => { release = r; });
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/news/slow') {
      res.write(respond(200, [['Content-Type', 'text/plain'], ['Transfer-Encoding', 'chunked']]));
      res.write(Buffer.from('5\r\nfirst\r\n'));
      await gate;
      res.write(Buffer.from('4\r\nlast\r\n0\r\n\r\n'));
      return;
    }
    res.send(200, [['Content-Type', 'text/plain']], `ssr ${req.target}`);
  });
  const p = await ctx.proxy(switchConfig(up.port, { fallback: { file: VUE_SHELL } }));
  const a = await ctx.client(p.port);
  await a.write(rawRequest('GET', '/news/slow'));
  await a.waitFor(() => a.bytes > 0, 3000, 'the first bytes of /news/slow');
  eq((await setMode(p, 'news', 'csr')).status, 200, 'PUT news csr while /news/slow is in flight');
  assertShell(await get(p.port, '/news/1'), 'GET /news/1 right after the switch');
  eq((await setMode(p, 'news', 'ssr')).status, 200, 'PUT news ssr while /news/slow is still in flight');
  eq((await get(p.port, '/news/2')).body.toString(), 'ssr /news/2', 'GET /news/2 after switching back');
  eq((await setMode(p, 'news', 'csr')).status, 200, 'PUT news csr again');
  release();
  const r = await a.readResponse();
  eq(r.status, 200, '/news/slow status');
  eq(r.body.toString(), 'firstlast', '/news/slow body, complete');
  eq(hdr(r, 'x-leakproxy-mode'), undefined, '/news/slow was rendered (its mode was decided when it arrived)');
  // the same keep-alive connection: the next request follows the new mode
  await a.write(rawRequest('GET', '/news/3'));
  assertShell(await a.readResponse(), 'GET /news/3 on the same connection');
  eq(targets(up).join(','), 'GET /news/slow,GET /news/2', 'requests at the upstream');
});

test('switch: "mode": "csr" without any fallback is a config error naming routes[i].mode', async (ctx) => {
  const cfg = switchConfig(3000, {
    routes: [{ name: 'home', match: '/' }, { name: 'news', match: '/news/:id', mode: 'csr' }],
  });
  const file = path.join(ctx.tmp(), 'nofb.json');
  fs.writeFileSync(file, configText(cfg));
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 1, `--check-config exit code (stderr ${JSON.stringify(r.stderr.slice(0, 300))})`);
  check(r.stderr.includes(`${file}:`) && r.stderr.includes('routes[1].mode'), `stderr names the file and routes[1].mode: ${JSON.stringify(r.stderr.slice(0, 300))}`);
  // with a global fallback it is valid
  cfg.fallback = { file: VUE_SHELL };
  fs.writeFileSync(file, configText(cfg));
  eq(runSync(['--check-config', '-c', file]).code, 0, '--check-config with a fallback');
});

test('switch: manual modes survive SIGHUP, config modes follow the file, the fallback file is re-read', async (ctx) => {
  const up = await ctx.upstream();
  const shell = path.join(ctx.tmp(), 'index.html');
  fs.writeFileSync(shell, '<html>v1</html>');
  const cfg = switchConfig(up.port, { fallback: { file: shell } });
  const p = await ctx.proxy(cfg);
  eq((await setMode(p, 'news', 'csr')).status, 200, 'PUT news csr');
  eq((await setMode(p, 'about', 'csr')).status, 200, 'PUT about csr');
  eq((await setMode(p, 'about', 'ssr')).status, 200, 'PUT about ssr (manual ssr)');
  const since = (await routeStats(p.adminPort, 'news')).mode_since_ms;
  eq((await get(p.port, '/news/1')).body.toString(), '<html>v1</html>', 'shell before the reload');

  // reload: home csr by config, about csr by config (but about was set by hand), shell changed
  fs.writeFileSync(shell, '<html>v2</html>');
  cfg.routes = cfg.routes.map((r) => (r.name === 'home' || r.name === 'about' ? { ...r, mode: 'csr' } : r));
  await reloadWith(p, cfg);
  let all = await routesByName(p);
  eq(`${all.news.mode}/${all.news.mode_by}`, 'csr/manual', 'news after reload');
  eq(all.news.mode_since_ms, since, 'news mode_since_ms unchanged by the reload');
  eq(`${all.about.mode}/${all.about.mode_by}`, 'ssr/manual', 'about (manual ssr) after a reload that says csr');
  eq(`${all.home.mode}/${all.home.mode_by}`, 'csr/config', 'home after reload (config csr)');
  eq((await get(p.port, '/news/1')).body.toString(), '<html>v2</html>', 'news serves the re-read shell');
  eq((await get(p.port, '/')).body.toString(), '<html>v2</html>', 'home serves the shell');
  eq((await get(p.port, '/about')).body.toString(), 'ok GET /about', 'about still rendered');

  // the config drops home's mode: back to ssr; news stays manual csr
  cfg.routes = cfg.routes.map((r) => { const { mode, ...rest } = r; return rest; });
  await reloadWith(p, cfg);
  all = await routesByName(p);
  eq(`${all.home.mode}/${all.home.mode_by}`, 'ssr/config', 'home after the second reload');
  eq(`${all.news.mode}/${all.news.mode_by}`, 'csr/manual', 'news after the second reload');
  eq((await get(p.port, '/')).body.toString(), 'ok GET /', '/ rendered again');
  eq(up.requests.filter((q) => q.target.startsWith('/news')).length, 0, 'the upstream never saw /news');
});

test('switch: the memory endpoint paths are refused to clients (403)', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy(switchConfig(up.port, {
    memory: { source: 'http', url: fm.url, gc_url: `http://127.0.0.1:${fm.port}/__mem/gc?force=1`, interval_ms: 1000 },
  }));
  for (const t of ['/__mem', '/__mem?gc=1', '/__mem/gc', '/__mem/gc?force=1']) {
    const r = await get(p.port, t);
    eq(r.status, 403, `GET ${t} status`);
    check(hdr(r, 'x-leakproxy-error'), `GET ${t}: X-Leakproxy-Error on the proxy's own answer`);
  }
  const r = await request(p.port, 'POST', '/__mem', { body: 'x' });
  eq(r.status, 403, 'POST /__mem status');
  eq((await get(p.port, '/__memx')).status, 200, '/__memx is another path');
  eq((await get(p.port, '/about')).status, 200, '/about');
  await sleep(50);
  eq(targets(up).join(','), 'GET /__memx,GET /about', 'requests at the upstream');
  // on a keep-alive connection: exactly one 403, then the next pipelined
  // request is served (the refused head must not be parsed again: it was,
  // in an endless loop of 403s, before the fix)
  const c = await ctx.client(p.port);
  await c.write('GET /__mem HTTP/1.1\r\nHost: x\r\n\r\nGET /about HTTP/1.1\r\nHost: x\r\n\r\n');
  const r1 = await c.readResponse(3000);
  const r2 = await c.readResponse(3000);
  eq(r1.status, 403, 'first pipelined answer');
  eq(r2.status, 200, 'second pipelined answer (GET /about)');
  await sleep(200);
  eq(c.responses.length, 0, 'responses after the two answers');
  check(c.bytes < 4096, `bytes received on the connection: ${c.bytes}`);
});

// ---------------------------------------------------------------------------
// Acceptance: the real Vue demo under steady load on news (leaks
// ~240 KB per request) and about. Switching news to csr with the file
// fallback serves the shell, news stops reaching the app, the app's forced-GC
// heap floor stops rising, and about keeps being rendered.

test('switch: Vue demo, news switched to csr: shell served, floor stops rising, about still rendered', async (ctx) => {
  const app = await startDemo(ctx, 'vue', {});
  const p = await ctx.proxy(demoProxyConfig(app, { fallback: { file: VUE_SHELL }, memory: demoMemory(app) }));
  const truth = truthSteadyHeap('vue', 'news');
  const RATE = 40, BEFORE = 9000, SETTLE = 2500, AFTER = 9000;   // half news, half about
  let stop = false, phase = 'ssr';
  const seen = { ssr: { news: {}, newsCsrHeader: 0 }, settle: { news: {}, newsCsrHeader: 0 }, csr: { news: {}, newsCsrHeader: 0 } };
  const load = drive(p.port, (i) => (stop ? null : i % 2 ? `/news/${1 + (i >> 1) % 800}` : '/about'), {
    requests: 1e6, concurrency: 2, rate: RATE, maxMs: BEFORE + SETTLE + AFTER + 10000,
    onResponse: (pth, r) => {
      if (!pth.startsWith('/news')) return;
      const s = seen[phase];
      s.news[r.statusCode] = (s.news[r.statusCode] || 0) + 1;
      if (r.headers['x-leakproxy-mode'] === 'csr') s.newsCsrHeader++;
    },
  });
  try {
    const t0 = Date.now();
    await sleep(BEFORE);
    phase = 'settle';
    const r = await setMode(p, 'news', 'csr');
    eq(r.status, 200, `PUT news csr: ${r.text}`);
    const tSwitch = Date.now();
    const atSwitch = await routesByName(p);
    await sleep(SETTLE);
    phase = 'csr';
    const tAfter = Date.now();
    const atAfter = await routesByName(p);
    await sleep(AFTER);
    const end = await routesByName(p);
    const tEnd = Date.now();
    stop = true;
    const res = await load;
    check(res.errors === 0 && res.statuses[200] === res.done, `load: ${JSON.stringify(res.statuses)}, ${res.errors} errors (${res.lastError})`);

    // what clients got
    const shell = await get(p.port, '/news/12');
    eq(shell.status, 200, 'GET /news/12 after the switch');
    check(shell.body.equals(SHELL), 'GET /news/12 after the switch: body is not the shell');
    eq(seen.csr.newsCsrHeader, Object.values(seen.csr.news).reduce((a, b) => a + b, 0), `news answers after the switch all csr: ${JSON.stringify(seen.csr)}`);
    eq(seen.ssr.newsCsrHeader, 0, 'news answers before the switch were rendered');

    // what the app got: nothing more of news; about still rendered
    eq(end.news.rendered, atAfter.news.rendered, `news rendered during the csr phase (${atAfter.news.rendered} -> ${end.news.rendered})`);
    check(end.news.rendered <= atSwitch.news.rendered + 4, `news rendered after the switch: ${atSwitch.news.rendered} -> ${end.news.rendered}`);
    check(end.news.csr_requests >= (AFTER / 1000) * (RATE / 2) * 0.6, `news csr_requests ${end.news.csr_requests}`);
    const aboutDuring = end.about.rendered - atAfter.about.rendered;
    check(aboutDuring >= (AFTER / 1000) * (RATE / 2) * 0.6, `about rendered during the csr phase: ${aboutDuring}`);
    eq(end.about.csr_requests, 0, 'about csr_requests');
    eq(end.about.mode, 'ssr', 'about mode');

    // the heap floor: rising at about news' rate before, flat after
    const mem = await adminJson(p, '/api/memory?points=1024');
    eq(mem.workers.length, 1, 'one worker in /api/memory');
    const s = mem.workers[0].samples;
    const before = gcFloors(s, t0 + 1000, tSwitch), after = gcFloors(s, tAfter, tEnd);
    const sb = slopePerSecond(before), sa = slopePerSecond(after);
    const newsRate = (atSwitch.news.rendered - 0) / ((tSwitch - t0) / 1000);
    const expected = newsRate * truth;
    note(`floor slope before ${(sb / KB).toFixed(0)} KB/s (${before.length} floors; expected ~${(expected / KB).toFixed(0)} KB/s = ${newsRate.toFixed(1)} news/s x ${(truth / KB).toFixed(0)} KB), after ${(sa / KB).toFixed(1)} KB/s (${after.length} floors); heap ${(before[0]?.[1] / MB).toFixed(1)} -> ${(after.at(-1)?.[1] / MB).toFixed(1)} MB`);
    check(before.length >= 3 && after.length >= 3, `forced-GC floors: ${before.length} before, ${after.length} after (need 3 each); gc ${JSON.stringify(mem.gc)} health ${JSON.stringify(mem.health)}`);
    check(sb > 0.5 * expected && sb < 2 * expected, `floor slope before the switch ${(sb / KB).toFixed(0)} KB/s, expected ~${(expected / KB).toFixed(0)} KB/s (band 0.5x..2x)`);
    check(sa < 0.1 * sb && sa < 200 * KB, `floor slope after the switch ${(sa / KB).toFixed(1)} KB/s: not flat (before: ${(sb / KB).toFixed(0)} KB/s); floors ${JSON.stringify(after.map(([t, f]) => [t - tAfter, +(f / MB).toFixed(2)]))}`);
  } finally { stop = true; await load; }
}, { timeout: 60000 });
