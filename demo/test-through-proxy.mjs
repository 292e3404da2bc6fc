#!/usr/bin/env node
// test-through-proxy.mjs -- integration test: the Vue and React demo apps, each behind a
// real ./leakproxy, must answer every route byte-for-byte as they do directly, streaming
// included (the streamed /feed's first bytes must come through before the upstream is done).
// Node built-ins only. Prints one line per check, then "PASS n / FAIL m" and exits 1 on failure.
//
//   node demo/test-through-proxy.mjs [--direct-only]     (LEAKPROXY=path overrides ./leakproxy)
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO, ROOT, startApp, startProxy, stop } from './lib/procs.mjs';
import { loadMix, sequence, prng, expand } from './load.mjs';
import { shellHtml } from './lib/server.mjs';

const directOnly = process.argv.includes('--direct-only');
const BIN = process.env.LEAKPROXY || join(ROOT, 'leakproxy');
const APPS = ['vue', 'react'];
let pass = 0, fail = 0;
const check = (ok, name, detail = '') => {
  if (ok) pass++; else fail++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? `\n       ${detail}` : ''}`);
};
const sha = (b) => createHash('sha256').update(b).digest('hex').slice(0, 16);

/** GET/POST <path> on host:port; resolves { status, headers, body: Buffer, chunks: [{t, n}], ttfb, total }. */
function fetchRaw(hostport, q, agent) {
  const [host, port] = [hostport.slice(0, hostport.lastIndexOf(':')), hostport.slice(hostport.lastIndexOf(':') + 1)];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const headers = { ...(q.headers || {}) };
    if (q.body !== undefined) headers['content-length'] = Buffer.byteLength(q.body);
    const req = http.request({ host: host.replace(/^\[|\]$/g, ''), port, path: q.path, method: q.method || 'GET', headers, agent, timeout: 10000 }, (res) => {
      const parts = [], chunks = [];
      res.on('data', (c) => { parts.push(c); chunks.push({ t: performance.now() - t0, n: c.length }); });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts), chunks,
        ttfb: chunks[0]?.t ?? performance.now() - t0, total: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${q.path}`)));
    req.on('error', reject);
    req.end(q.body);
  });
}

/** The URLs to compare: three parameter values per route, plus a 404 and the query-string cases. */
function requestsFor(app) {
  const routes = loadMix(app);
  const out = [];
  for (const r of routes) {
    const rand = prng(7);
    const n = /\{/.test(r.path) ? 3 : 1;
    for (let i = 1; i <= n; i++) out.push({ route: r.name, method: r.method, headers: r.headers, body: r.body, path: expand(r.path, rand, i) });
  }
  out.push({ route: '_other', path: '/no/such/page' });
  out.push({ route: 'home', path: '/?utm_source=test&x=%20y' });
  return out;
}

async function testApp(app, tmp) {
  const upstream = await startApp(app, { LEAKS: 'on' });
  const direct = `127.0.0.1:${upstream.port}`;
  const procs = [upstream.proc];
  try {
    const da = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // 1. the client-side shell: header and static file
    const shell = await fetchRaw(direct, { path: '/', headers: { 'x-ssr-off': '1' } }, da);
    check(shell.body.toString() === shellHtml(app), `${app}: X-SSR-Off: 1 answers the client-side shell`);
    const distFile = join(DEMO, app, 'dist/index.html');
    if (existsSync(distFile)) check(readFileSync(distFile, 'utf8') === shellHtml(app), `${app}: dist/index.html is the same shell`);
    // 2. pages are deterministic (a URL always renders the same bytes)
    const reqs = requestsFor(app);
    const want = new Map();
    let stable = true;
    for (const q of reqs) {
      const a = await fetchRaw(direct, q, da), b = await fetchRaw(direct, q, da);
      if (!a.body.equals(b.body)) { stable = false; check(false, `${app}: ${q.path} renders identically twice`); }
      want.set(`${q.method || 'GET'} ${q.path}`, a);
    }
    check(stable, `${app}: ${reqs.length} URLs render deterministically (direct)`);
    const sizes = [...want.values()].filter((r) => /html/.test(r.headers['content-type']) && r.status === 200).map((r) => r.body.length);
    check(sizes.every((n) => n >= 10240 && n <= 30720), `${app}: SSR pages are 10-30 KiB (${Math.min(...sizes)}-${Math.max(...sizes)} bytes)`);
    if (directOnly) return;

    // 3. through leakproxy: same status and bytes, one URL at a time
    const p = await startProxy(BIN, app, upstream.port, join(tmp, `${app}.json`));
    procs.push(p.proc);
    const pa = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (const q of reqs) {
      const d = want.get(`${q.method || 'GET'} ${q.path}`);
      let r;
      try { r = await fetchRaw(p.proxy, q, pa); } catch (e) { check(false, `${app}: ${q.method || 'GET'} ${q.path} through the proxy`, e.message); continue; }
      const same = r.status === d.status && r.body.equals(d.body) && r.headers['content-type'] === d.headers['content-type'];
      check(same, `${app}: ${q.method || 'GET'} ${q.path} through the proxy = direct (${d.status}, ${d.body.length} bytes)`,
        `direct ${d.status} ${d.body.length} B ${sha(d.body)}, proxy ${r.status} ${r.body.length} B ${sha(r.body)}`);
    }
    // 4. streaming (React /feed): first bytes arrive well before the upstream finishes
    if (app === 'react') {
      const d = await fetchRaw(direct, { path: '/feed' }, da);
      const r = await fetchRaw(p.proxy, { path: '/feed' }, pa);
      const spread = (x) => new Set(x.chunks.map((c) => Math.round(c.t / 20))).size;   // distinct 20 ms slots
      check(d.total - d.ttfb > 150, `react: /feed streams directly (ttfb ${d.ttfb.toFixed(0)} ms, done ${d.total.toFixed(0)} ms)`);
      check(r.body.equals(d.body) && r.total - r.ttfb > 150 && spread(r) >= 4,
        `react: /feed streams through the proxy (ttfb ${r.ttfb.toFixed(0)} ms, done ${r.total.toFixed(0)} ms, ${r.chunks.length} reads in ${spread(r)} slots)`);
    }
    // 5. under concurrency: 300 requests of the load mix, 8 at a time, bodies as direct
    const seq = sequence(loadMix(app), 11);
    const ca = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const batch = Array.from({ length: 300 }, () => seq.next());
    let bad = [], i = 0;
    const worker = async () => {
      while (i < batch.length) {
        const q = batch[i++];
        const key = `${q.method} ${q.path}`;
        if (!want.has(key)) want.set(key, await fetchRaw(direct, q, da));
        const ref = want.get(key);
        try {
          const r = await fetchRaw(p.proxy, q, ca);
          if (r.status !== ref.status || !r.body.equals(ref.body)) bad.push(`${key}: ${r.status} ${r.body.length} B vs ${ref.status} ${ref.body.length} B`);
        } catch (e) { bad.push(`${key}: ${e.message}`); }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    check(bad.length === 0, `${app}: 300 mixed requests, 8 concurrent, through the proxy = direct`, bad.slice(0, 5).join('\n       '));
    // 6. the admin API saw the routes
    try {
      const adm = await fetchRaw(p.admin, { path: '/api/routes' });
      const js = JSON.parse(adm.body.toString());
      const names = new Set(js.routes.map((x) => x.name));
      const missing = loadMix(app).map((r) => r.name).filter((n) => !names.has(n));
      const counted = js.routes.filter((x) => x.requests > 0).length;
      check(adm.status === 200 && names.has('_other') && !missing.length && counted >= loadMix(app).length,
        `${app}: admin /api/routes lists every route and _other, all with requests`, `status ${adm.status}, missing ${missing}, ${counted} routes counted`);
    } catch (e) { check(false, `${app}: admin /api/routes`, e.message); }
    da.destroy(); pa.destroy(); ca.destroy();
  } finally {
    for (const pr of procs.reverse()) await stop(pr);
  }
}

async function main() {
  for (const app of APPS) {
    if (!existsSync(join(DEMO, app, 'node_modules'))) {
      console.error(`test-through-proxy: demo/${app}/node_modules missing: run (cd demo/${app} && npm ci)`);
      return 2;
    }
  }
  if (!directOnly && !existsSync(BIN)) { console.error(`test-through-proxy: ${BIN} not built (or pass --direct-only)`); return 2; }
  // the load driver: a seed fixes the sequence; non-loopback targets are refused before any connect
  const seqOf = (seed) => { const g = sequence(loadMix('vue'), seed); return Array.from({ length: 1000 }, () => JSON.stringify(g.next())).join('\n'); };
  check(seqOf(1) === seqOf(1) && seqOf(1) !== seqOf(2), 'load.mjs: same seed, same 1000-request sequence; another seed, another');
  const refuse = spawnSync(process.execPath, [join(DEMO, 'load.mjs'), '--app', 'vue', '--target', 'http://192.0.2.1:80', '-n', '1'], { encoding: 'utf8' });
  check(refuse.status === 2 && /refusing non-loopback/.test(refuse.stderr), 'load.mjs: refuses a non-loopback target without --allow-remote');
  const tmp = mkdtempSync(join(tmpdir(), 'leakproxy-demo-test-'));
  const guard = setTimeout(() => { console.error('test-through-proxy: timed out after 180 s'); process.exit(1); }, 180000);
  try {
    for (const app of APPS) {
      try { await testApp(app, tmp); } catch (e) { check(false, `${app}: setup`, e.message.split('\n').slice(0, 6).join('\n       ')); }
    }
  } finally { clearTimeout(guard); rmSync(tmp, { recursive: true, force: true }); }
  console.log(`PASS ${pass} / FAIL ${fail}`);
  console.log(`${pass} passed, ${fail} failed`);
  return fail ? 1 : 0;
}

main().then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); });
