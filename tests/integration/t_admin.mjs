// Admin API: /healthz, /api/routes (exact per-route counts, inflight,
// latency and ttfb quantiles), /metrics (exact samples, promtool, worker
// memory, client aborts), and the counting of proxy-generated errors. Who may
// use the admin listener (token, CORS, Host checks, limits): t_admin_security.mjs.

import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import {
  test, note, sleep, hdr, rawRequest, request, get, getJson, baseConfig, parseMetrics, metric, skip, check, eq,
  routeStats, pollUntil, startHttp,
} from './lib.mjs';

const PROMTOOL = process.env.PROMTOOL || '/usr/bin/promtool';

// The four classes must match exactly; the binary also reports "1xx", which must be 0 here.
function eqStatus(got, want, what) {
  const pick = (o) => JSON.stringify(['2xx', '3xx', '4xx', '5xx'].map((k) => o && o[k]));
  eq(pick(got), pick(want), what);
  if (got && '1xx' in got) eq(got['1xx'], 0, `${what} 1xx`);
}

// Upstream used by the counting tests: status and latency depend on the path.
function countingUpstream(ctx) {
  return ctx.upstream(async (req, res) => {
    const path = req.target.split('?')[0];
    if (path === '/static/a.js') { await sleep(150); return res.send(200, [['Content-Type', 'application/javascript']], 'x'.repeat(2000)); }
    if (path === '/detail/abc') return res.send(404, [], 'no such item');
    if (path === '/static/css/b.css') return res.send(302, [['Location', '/static/css/c.css']], '');
    if (path === '/nope') return res.send(500, [], 'boom');
    res.send(200, [], `page ${req.target} ` + 'p'.repeat(500));
  });
}

// 4 detail (3x 2xx, 1x 4xx), 2 home, 2 static (2xx slow, 3xx), 2 _other (2xx, 5xx).
async function sendMix(port) {
  const out = [];
  const reqs = [
    ['GET', '/detail/1'], ['GET', '/detail/7?x=1'], ['GET', '/detail/abc'], ['POST', '/detail/9', 'b'.repeat(1000)],
    ['GET', '/'], ['GET', '/?q=/detail/1'],
    ['GET', '/static/a.js'], ['GET', '/static/css/b.css'],
    ['GET', '/nope'], ['GET', '/about?x=1'],
  ];
  for (const [m, t, body] of reqs) out.push(await request(port, m, t, { body }));
  return out;
}

test('admin: /healthz -> 200', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await get(p.adminPort, '/healthz');
  eq(r.status, 200, 'status');
});

test('admin: /api/routes exact per-route counts, _other, query ignored', async (ctx) => {
  const up = await countingUpstream(ctx);
  const p = await ctx.proxy(baseConfig(up.port));
  const res = await sendMix(p.port);
  eq(res.map((r) => r.status).join(','), '200,200,404,200,200,200,200,302,500,200', 'statuses seen by the client');
  await routeStats(p.adminPort, '_other', { until: (j) => j.requests >= 2 });
  const { status, json } = await getJson(p.adminPort, '/api/routes');
  eq(status, 200, '/api/routes status');
  check(Array.isArray(json.routes), `/api/routes has no routes array: ${JSON.stringify(json).slice(0, 200)}`);
  const by = Object.fromEntries(json.routes.map((r) => [r.name, r]));
  eq(Object.keys(by).sort().join(','), '_other,detail,home,static', 'route names');
  const want = {
    detail: { match: '/detail/:id', requests: 4, status: { '2xx': 3, '3xx': 0, '4xx': 1, '5xx': 0 } },
    home: { match: '/', requests: 2, status: { '2xx': 2, '3xx': 0, '4xx': 0, '5xx': 0 } },
    static: { match: '/static/*', requests: 2, status: { '2xx': 1, '3xx': 1, '4xx': 0, '5xx': 0 } },
    _other: { requests: 2, status: { '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 1 } },
  };
  for (const [name, w] of Object.entries(want)) {
    const r = by[name];
    if (w.match) eq(r.match, w.match, `${name}.match`);
    eq(r.requests, w.requests, `${name}.requests`);
    eq(r.inflight, 0, `${name}.inflight`);
    eqStatus(r.status, w.status, `${name}.status`);
    eq(r.upstream_errors, 0, `${name}.upstream_errors`);
    eq(r.mode, 'ssr', `${name}.mode`);
    for (const f of ['latency_ms', 'ttfb_ms']) {
      const q = r[f];
      check(q && ['p50', 'p90', 'p99', 'max'].every((k) => typeof q[k] === 'number' && q[k] >= 0), `${name}.${f}: ${JSON.stringify(q)}`);
      check(q.p50 <= q.p90 && q.p90 <= q.p99, `${name}.${f} quantiles not ordered: ${JSON.stringify(q)}`);
    }
    check(typeof r.bytes_out === 'number' && typeof r.bytes_in === 'number', `${name}: bytes_in/bytes_out missing: ${JSON.stringify(r)}`);
  }
  const detailBodies = res.slice(0, 4).reduce((a, r) => a + r.body.length, 0);
  check(by.detail.bytes_out >= detailBodies, `detail.bytes_out ${by.detail.bytes_out} < ${detailBodies} body bytes sent`);
  check(by.detail.bytes_in >= 1000, `detail.bytes_in ${by.detail.bytes_in} < the 1000-byte POST body`);
  const sl = by.static.latency_ms, st = by.static.ttfb_ms;
  check(sl.max >= 140 && sl.max < 2000, `static.latency_ms.max ${sl.max}, upstream took 150 ms`);
  check(st.max >= 140 && st.max < 2000, `static.ttfb_ms.max ${st.max}, upstream took 150 ms`);
  check(by.detail.latency_ms.max < 140, `detail.latency_ms.max ${by.detail.latency_ms.max}: fast route looks slow`);
});

test('admin: /api/routes/NAME returns one route, unknown -> 404 JSON', async (ctx) => {
  const up = await countingUpstream(ctx);
  const p = await ctx.proxy(baseConfig(up.port));
  await sendMix(p.port);
  const d = await routeStats(p.adminPort, 'detail', { until: (j) => j.requests >= 4 });
  eq(d.name, 'detail', 'name'); eq(d.requests, 4, 'requests');
  const o = await routeStats(p.adminPort, '_other', { until: (j) => j.requests >= 2 });
  eq(o.requests, 2, '_other requests');
  const u = await getJson(p.adminPort, '/api/routes/no-such-route');
  eq(u.status, 404, 'status for an unknown route');
  check(typeof u.json.error === 'string' && u.json.error.length > 0, `404 body lacks an "error" string: ${JSON.stringify(u.json)}`);
});

test('admin: inflight counts a request in progress', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => { await sleep(req.target === '/detail/slow' ? 600 : 0); res.send(200, [], 'ok'); });
  const p = await ctx.proxy(baseConfig(up.port));
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/slow'));
  await up.waitRequests(1);
  const during = await routeStats(p.adminPort, 'detail');
  eq(during.inflight, 1, 'inflight during the slow request');
  eq((await c.readResponse(3000)).status, 200, 'status');
  const after = await routeStats(p.adminPort, 'detail', { until: (j) => j.inflight === 0 });
  eq(after.inflight, 0, 'inflight after');
  eq(after.requests, 1, 'requests');
});

test('admin: latency quantiles within a few % of a fixed 100 ms upstream delay', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => { await sleep(req.target.startsWith('/detail') ? 100 : 0); res.send(200, [], 'ok'); });
  const p = await ctx.proxy(baseConfig(up.port));
  await Promise.all(Array.from({ length: 10 }, (_, i) => get(p.port, `/detail/${i}`)));
  const d = await routeStats(p.adminPort, 'detail', { until: (j) => j.requests >= 10 });
  const l = d.latency_ms, t = d.ttfb_ms;
  note(`latency ${JSON.stringify(l)} ttfb ${JSON.stringify(t)}`);
  // the lower bound is the recorder's accuracy (the delay is a floor); the
  // upper bound only catches unit errors: a loaded machine (or ASan) adds time
  check(l.p50 >= 98 && l.p50 <= 400, `latency p50 ${l.p50} ms for a 100 ms upstream`);
  check(l.max >= 99 && l.max <= 1000, `latency max ${l.max} ms`);
  check(t.p50 >= 98 && t.p50 <= l.p50 + 2, `ttfb p50 ${t.p50} ms (latency p50 ${l.p50})`);
});

test('admin: ttfb measures the first byte, latency the whole streamed response', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    res.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n');
    await sleep(400);
    res.write('4\r\nrest\r\n0\r\n\r\n');
  });
  const p = await ctx.proxy(baseConfig(up.port));
  eq((await get(p.port, '/detail/s')).body.toString(), 'firstrest', 'body');
  const d = await routeStats(p.adminPort, 'detail', { until: (j) => j.requests >= 1 });
  check(d.ttfb_ms.max < 150, `ttfb ${d.ttfb_ms.max} ms, the head came at once`);
  check(d.latency_ms.max >= 390 && d.latency_ms.max < 1000, `latency ${d.latency_ms.max} ms, the body ended at 400 ms`);
});

test('admin: proxy-generated errors counted per route', async (ctx) => {
  const up = await ctx.upstream(async (req, res) => {
    if (req.target === '/detail/garbage') return res.write('NOT HTTP AT ALL\r\n\r\n');
    if (req.target === '/static/hang') return;   // never answers
    res.send(200, [], 'ok');
  });
  const p = await ctx.proxy(baseConfig(up.port, { timeouts: { response_ms: 300 }, limits: { max_body_bytes: 1000, max_headers: 10 } }));
  eq((await get(p.port, '/detail/garbage')).status, 502, '502 status');
  eq((await get(p.port, '/static/hang')).status, 504, '504 status');
  const c1 = await ctx.client(p.port);
  await c1.write('POST /detail/2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n');
  eq((await c1.readResponse()).status, 413, '413 status');
  const c2 = await ctx.client(p.port);
  await c2.write('BAD\r\n\r\n');
  eq((await c2.readResponse()).status, 400, '400 status');
  const headers = [];
  for (let i = 0; i < 20; i++) headers.push([`X-${i}`, '1']);
  eq((await get(p.port, '/', { headers })).status, 431, '431 status');
  await sleep(100);
  const { json } = await getJson(p.adminPort, '/api/routes');
  const by = Object.fromEntries(json.routes.map((r) => [r.name, r]));
  eqStatus(by.detail.status, { '2xx': 0, '3xx': 0, '4xx': 1, '5xx': 1 }, 'detail.status (502 + 413)');
  eq(by.detail.requests, 2, 'detail.requests');
  eq(by.detail.upstream_errors, 1, 'detail.upstream_errors (garbage)');
  eqStatus(by.static.status, { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 1 }, 'static.status (504)');
  eq(by.static.upstream_errors, 1, 'static.upstream_errors (timeout)');
  if (by.detail.errors) eq(by.detail.errors.bad_response, 1, 'detail.errors.bad_response');
  if (by.static.errors) eq(by.static.errors.timeout, 1, 'static.errors.timeout');
  eq(by._other.status['4xx'] + by.home.status['4xx'], 2, '4xx in _other + home (400 + 431)');
  check(by._other.status['4xx'] >= 1, `the 400 for an unparsable request must count under _other: ${JSON.stringify(by._other.status)}`);
  for (const r of json.routes) eq(r.inflight, 0, `${r.name}.inflight`);
});

test('admin: /metrics has exact per-route samples', async (ctx) => {
  const up = await countingUpstream(ctx);
  const p = await ctx.proxy(baseConfig(up.port));
  await sendMix(p.port);
  await routeStats(p.adminPort, '_other', { until: (j) => j.requests >= 2 });
  const r = await get(p.adminPort, '/metrics');
  eq(r.status, 200, 'status');
  check(/^text\/plain/.test(hdr(r, 'content-type') || ''), `Content-Type ${hdr(r, 'content-type')}`);
  const text = r.body.toString();
  const s = parseMetrics(text);
  const bad = s.filter((x) => x.bad);
  check(!bad.length, `unparsable lines: ${bad.slice(0, 3).map((x) => x.bad).join(' | ')}`);
  // leakproxy's own, plus the process_* names every exporter shares
  const ours = (n) => n.startsWith('leakproxy_') || n.startsWith('process_');
  check(s.every((x) => ours(x.name)), `metric without leakproxy_ or process_ prefix: ${s.find((x) => !ours(x.name))?.name}`);
  const one = (name, labels) => {
    const f = metric(s, name, labels);
    check(f.length === 1, `${name}${JSON.stringify(labels)}: ${f.length} samples`);
    return f[0].value;
  };
  // summed over any further labels (upstream errors carry a "kind")
  const sum = (name, labels) => {
    const f = metric(s, name, labels);
    check(f.length >= 1, `${name}${JSON.stringify(labels)}: no samples`);
    return f.reduce((a, x) => a + x.value, 0);
  };
  const counts = { detail: 4, home: 2, static: 2, _other: 2 };
  for (const [route, n] of Object.entries(counts)) {
    eq(one('leakproxy_requests_total', { route }), n, `leakproxy_requests_total{route="${route}"}`);
    eq(one('leakproxy_request_duration_seconds_count', { route }), n, `leakproxy_request_duration_seconds_count{route="${route}"}`);
    eq(one('leakproxy_request_duration_seconds_bucket', { route, le: '+Inf' }), n, `..._bucket{route="${route}",le="+Inf"}`);
    const buckets = metric(s, 'leakproxy_request_duration_seconds_bucket', { route });
    check(buckets.length >= 5, `only ${buckets.length} buckets for ${route}`);
    const sorted = buckets.map((b) => [b.labels.le === '+Inf' ? Infinity : +b.labels.le, b.value]).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) check(sorted[i][1] >= sorted[i - 1][1], `buckets of ${route} not cumulative`);
    check(one('leakproxy_request_duration_seconds_sum', { route }) >= 0, 'sum');
    eq(one('leakproxy_inflight_requests', { route }), 0, `leakproxy_inflight_requests{route="${route}"}`);
    eq(sum('leakproxy_upstream_errors_total', { route }), 0, `leakproxy_upstream_errors_total{route="${route}"}`);
    eq(one('leakproxy_ttfb_seconds_count', { route }), n, `leakproxy_ttfb_seconds_count{route="${route}"}`);
    check(one('leakproxy_response_bytes_total', { route }) > 0, `leakproxy_response_bytes_total{route="${route}"} > 0`);
  }
  eq(one('leakproxy_responses_total', { route: 'detail', class: '2xx' }), 3, 'responses_total detail 2xx');
  eq(one('leakproxy_responses_total', { route: 'detail', class: '4xx' }), 1, 'responses_total detail 4xx');
  eq(one('leakproxy_responses_total', { route: 'static', class: '3xx' }), 1, 'responses_total static 3xx');
  eq(one('leakproxy_responses_total', { route: '_other', class: '5xx' }), 1, 'responses_total _other 5xx');
  // the slow static request (150 ms) is in a bucket above 0.1 s
  const le01 = metric(s, 'leakproxy_request_duration_seconds_bucket', { route: 'static' })
    .filter((b) => b.labels.le !== '+Inf' && +b.labels.le <= 0.1).map((b) => b.value);
  check(le01.every((v) => v <= 1), `static: more than one request <= 0.1 s although one took 150 ms`);
  check(one('leakproxy_request_duration_seconds_sum', { route: 'static' }) >= 0.14, 'static duration sum >= 0.14 s');
});

test('admin: /metrics passes promtool check metrics', async (ctx) => {
  if (!fs.existsSync(PROMTOOL)) skip(`${PROMTOOL} not found (apt-get install prometheus, or set PROMTOOL)`);
  const up = await countingUpstream(ctx);
  const p = await ctx.proxy(baseConfig(up.port));
  await sendMix(p.port);
  const r = await get(p.adminPort, '/metrics');
  eq(r.status, 200, 'status');
  const text = r.body.toString();
  const pr = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10000 });
  check(pr.status === 0, `promtool check metrics failed (${pr.status}): ${(pr.stdout + pr.stderr).slice(0, 600)}`);
});

test('admin: /metrics per-kind worker memory by a stable worker label, worker_info, process_*, client aborts, revision', async (ctx) => {
  const MB = 1024 * 1024;
  let pids = [5001, 5002];
  const mem = await startHttp(ctx, (req, res) => {
    const workers = pids.map((pid, i) => ({ pid, rss: (100 + i) * MB, heapUsed: (20 + i) * MB, heapTotal: (30 + i) * MB,
                                            external: (2 + i) * MB, arrayBuffers: 1 }));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ workers }));
  });
  const up = await ctx.upstream(async (req, res) => {
    // a big answer: a client gone during the wait resets the connection as it arrives
    if (req.target === '/detail/slow') { await sleep(300); return res.send(200, [], 'x'.repeat(4 << 20)); }
    res.send(200, [], 'ok');
  });
  const p = await ctx.proxy(baseConfig(up.port, { memory: { source: 'http', url: `http://127.0.0.1:${mem.port}/__mem`, interval_ms: 100 } }));
  const scrape = async () => parseMetrics((await get(p.adminPort, '/metrics')).body.toString());
  const info = (m) => metric(m, 'leakproxy_upstream_worker_info').map((x) => `${x.labels.worker}:${x.labels.pid}`).sort().join(' ');
  let m;
  await pollUntil(async () => info(m = await scrape()) === '0:5001 1:5002', { timeout: 3000, what: 'worker_info for two workers', describe: () => info(m) });
  const val = (name, worker) => metric(m, name, { worker }).map((x) => x.value).join();
  eq(val('leakproxy_upstream_rss_bytes', '1'), String(101 * MB), 'rss_bytes of worker 1');
  eq(val('leakproxy_upstream_heap_used_bytes', '0'), String(20 * MB), 'heap_used_bytes of worker 0');
  eq(val('leakproxy_upstream_heap_total_bytes', '1'), String(31 * MB), 'heap_total_bytes of worker 1');
  eq(val('leakproxy_upstream_external_bytes', '0'), String(2 * MB), 'external_bytes of worker 0');
  check(metric(m, 'leakproxy_upstream_heap_floor_bytes', { worker: '0' }).length === 1, 'heap_floor_bytes of worker 0');
  eq(metric(m, 'leakproxy_upstream_memory_bytes', { pid: '5001', kind: 'rss' }).map((x) => x.value).join(), String(100 * MB),
    'the deprecated leakproxy_upstream_memory_bytes still there');
  // worker 0 restarts with a new pid: it keeps its label, the pid moves in worker_info
  pids = [5003, 5002];
  await pollUntil(async () => info(m = await scrape()) === '0:5003 1:5002', { timeout: 3000, what: 'the restarted worker keeps worker="0"', describe: () => info(m) });
  eq(metric(m, 'leakproxy_upstream_rss_bytes').map((x) => x.labels.worker).sort().join(), '0,1', 'one rss series per worker after the restart');

  // a client that hangs up: its own counter, and the deprecated kind still counted
  const c = await ctx.client(p.port);
  await c.write(rawRequest('GET', '/detail/slow'));
  await sleep(100);
  c.close();
  await pollUntil(async () => metric(m = await scrape(), 'leakproxy_client_aborts_total', { route: 'detail' })[0]?.value === 1,
    { timeout: 3000, what: 'leakproxy_client_aborts_total{route="detail"} 1', describe: () => metric(m, 'leakproxy_client_aborts_total').map((x) => x.line).join('; ') });
  eq(metric(m, 'leakproxy_upstream_errors_total', { route: 'detail', kind: 'client_abort' })[0]?.value, 1, 'deprecated kind="client_abort"');

  const one = (name) => { const x = metric(m, name); eq(x.length, 1, `${name} samples`); return x[0].value; };
  check(one('process_resident_memory_bytes') > MB, 'process_resident_memory_bytes');
  check(one('process_cpu_seconds_total') > 0, 'process_cpu_seconds_total');
  const fds = one('process_open_fds');
  check(fds >= 4 && fds <= one('process_max_fds'), `process_open_fds ${fds}`);
  check(Math.abs(one('process_start_time_seconds') - Date.now() / 1000) < 60, 'process_start_time_seconds is about now');
  const bi = metric(m, 'leakproxy_build_info');
  check(bi.length === 1 && /^\d+\.\d+/.test(bi[0].labels.version) && /^[0-9a-f]{4,}|unknown$/.test(bi[0].labels.revision),
    `leakproxy_build_info{version,revision}: ${bi.map((x) => x.line)}`);
});
