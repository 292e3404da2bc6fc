// run.mjs -- the dashboard in a real browser (Node 20, no npm dependencies).
//
// Starts a real upstream (tests/browser/app.mjs: /leak/:id keeps ~64 KB of
// V8 heap per request, /__mem reports process.memoryUsage() after a forced
// GC), a real leakproxy in front of it (admin token, a header fallback, a
// never_csr route, a route whose fallback text is HTML), and the system
// Chromium headless, driven through the DevTools protocol over a pipe
// (--remote-debugging-pipe: fd 3 to the browser, fd 4 from it, JSON messages
// ended by a NUL byte). Load is driven until GET /api/routes names the
// leaking route, then the page is checked as a user would use it.
//
//   node tests/browser/run.mjs [--screenshot] [--verbose]
//
// LEAKPROXY_BIN (default ./leakproxy), CHROMIUM (default: chromium on PATH),
// ARTIFACTS_DIR (default build/artifacts): where dashboard.png and, on
// failure, the proxy's stderr go. --screenshot also writes docs/dashboard.png.
// Last line: "browser: N passed, M failed"; exit 1 on failure. Without a
// Chromium: "browser: FAILED (chromium not installed ...)", exit 1
// (LEAKPROXY_ALLOW_SKIP=1: SKIPPED, exit 0).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.resolve(ROOT, process.env.LEAKPROXY_BIN || './leakproxy');
const ARTIFACTS = path.resolve(ROOT, process.env.ARTIFACTS_DIR || 'build/artifacts');
const SCREENSHOT = process.argv.includes('--screenshot');
const VERBOSE = process.argv.includes('--verbose') || !!process.env.LEAKPROXY_IT_VERBOSE;
const TOKEN = 'browser-test-token-0123456789';
const XSS_FALLBACK = 'X-Evil: <img src=x onerror=window.__xss=1>';
const XSS_TAG = '<img src=x onerror=window.__xss=2>';
const LEAKY = 'leaky';
const BUDGET_MS = 85000;
const T0 = Date.now();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => { if (VERBOSE) console.log(`  # ${((Date.now() - T0) / 1000).toFixed(1)}s ${m}`); };

function findChromium() {
  const cands = process.env.CHROMIUM ? [process.env.CHROMIUM] : ['chromium', 'chromium-browser', 'google-chrome'];
  for (const c of cands) {
    if (c.includes('/')) { if (fs.existsSync(c)) return c; continue; }
    const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

// ---------------------------------------------------------------------------
// Results and cleanup

let passed = 0, failed = 0;
function ok(cond, what, detail) {
  if (cond) { passed++; console.log(`ok - ${what}`); }
  else { failed++; console.log(`not ok - ${what}${detail ? `\n    ${String(detail).split('\n').join('\n    ')}` : ''}`); }
  return !!cond;
}

const children = [];          // { proc, group }
const tmpDirs = [];
function killAll() {
  for (const c of children.splice(0)) {
    try { if (c.group) process.kill(-c.proc.pid, 'SIGKILL'); else c.proc.kill('SIGKILL'); } catch { /* gone */ }
  }
  for (const d of tmpDirs.splice(0)) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* busy */ } }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { console.log(`browser: interrupted by ${sig}`); process.exit(1); });

// Chromium closed through the protocol (it reaps its own processes), the
// others asked to stop; whatever is left after 3 s is killed.
let browserRef = null, finishing = false;
async function finish() {
  if (finishing) return;
  finishing = true;
  const exited = (proc) => proc.exitCode !== null || proc.signalCode !== null;
  if (browserRef && !browserRef.exited) await browserRef.close();
  for (const c of children) if (!exited(c.proc) && c.proc !== browserRef?.proc) c.proc.kill('SIGTERM');
  const end = Date.now() + 3000;
  while (Date.now() < end && children.some((c) => !exited(c.proc))) await sleep(50);
  killAll();
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

// ---------------------------------------------------------------------------
// Processes

function spawnChild(cmd, args, opts = {}) {
  const proc = spawn(cmd, args, { ...opts, detached: !!opts.group });
  children.push({ proc, group: !!opts.group });
  return proc;
}

function waitOutput(proc, stream, re, timeout, what) {
  return new Promise((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => reject(new Error(`${what}: no ${re} within ${timeout} ms; output: ${text.slice(-500)}`)), timeout);
    proc[stream].on('data', (d) => {
      text += d;
      const m = re.exec(text);
      if (m) { clearTimeout(t); resolve(m); }
    });
    proc.on('exit', (code, sig) => { clearTimeout(t); reject(new Error(`${what} exited (${code ?? sig}) before ${re}; output: ${text.slice(-800)}`)); });
  });
}

async function startUpstream() {
  const proc = spawnChild(process.execPath, ['--expose-gc', path.join(ROOT, 'tests/browser/app.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const m = await waitOutput(proc, 'stdout', /listening on (\d+)/, 10000, 'upstream');
  return +m[1];
}

async function startProxy(upPort, dir) {
  const up = `http://127.0.0.1:${upPort}`;
  const cfg = {
    listen: '127.0.0.1:0', admin: '127.0.0.1:0', admin_token: TOKEN, upstream: up, access_log: null,
    fallback: { header: 'X-SSR-Off: 1' },
    routes: [
      { name: 'home', match: '/' },
      { name: 'about', match: '/about' },
      { name: LEAKY, match: '/leak/:id' },
      { name: 'item', match: '/item/:id' },
      { name: 'api', match: '/api/*', never_csr: true },
      { name: 'evil', match: "/x/(a)&b=c'd", fallback: { header: XSS_FALLBACK } },
    ],
    memory: { source: 'http', url: `${up}/__mem`, gc_url: `${up}/__mem?gc=1`, interval_ms: 100,
      gc_interval_ms: 100, max_gc_duty: 0.1, quiesce_ms: 50 },
    attribution: { interval_ms: 1000 },
  };
  const file = path.join(dir, 'leakproxy.json');
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} does not exist (run make, or set LEAKPROXY_BIN)`);
  const proc = spawnChild(BIN, ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; if (stderr.length > 200000) stderr = stderr.slice(-100000); });
  const re = /proxy listening on [^\n]*?:(\d+)[\s\S]*admin listening on [^\n]*?:(\d+)/;
  const m = await waitOutput(proc, 'stderr', re, 10000, 'leakproxy');
  return { proc, port: +m[1], adminPort: +m[2], stderr: () => stderr };
}

function request(port, method, target, { headers = {}, body, agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(10000, () => req.destroy(new Error(`${method} ${target}: timeout`)));
    req.on('error', reject);
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body)); else req.end();
  });
}
const admin = (p, method, target, body) => request(p.adminPort, method, target,
  { headers: { Authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) }, body });
async function routes(p) {
  const r = await admin(p, 'GET', '/api/routes');
  return Object.fromEntries(r.json.routes.map((x) => [x.name, x]));
}

// Mixed load, ~100 requests/s on 4 keep-alive connections until stopped:
// leaky 25 % (its captured requests carry X-Tag: plain or an HTML payload,
// for the probe split), home 35 %, about 20 %, item 15 %, api 4 %, evil 1 %.
function startLoad(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const st = { stop: false, sent: 0, errors: 0, statuses: {} };
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  st.done = (async () => {
    const t0 = Date.now();
    const one = async () => {
      const i = st.sent++, u = rand();
      const headers = {};
      let p;
      if (u < 0.25) { p = `/leak/${i}`; headers['X-Tag'] = i % 2 ? XSS_TAG : 'plain'; }
      else if (u < 0.60) p = '/';
      else if (u < 0.80) p = '/about';
      else if (u < 0.95) p = `/item/${i}`;
      else if (u < 0.99) p = `/api/ping?i=${i}`;
      else p = "/x/(a)&b=c'd";
      try {
        const r = await request(port, 'GET', p, { headers, agent });
        st.statuses[r.status] = (st.statuses[r.status] || 0) + 1;
      } catch { st.errors++; }
    };
    const lanes = Array.from({ length: 4 }, async (_, k) => {
      for (let n = 0; !st.stop; n++) {
        const due = t0 + (n * 4 + k) * 10;          // 100 requests/s in all
        if (due > Date.now()) await sleep(due - Date.now());
        await one();
      }
    });
    await Promise.all(lanes);
    agent.destroy();
  })();
  return st;
}

// ---------------------------------------------------------------------------
// Chrome DevTools protocol over --remote-debugging-pipe

class Browser {
  constructor(bin, dir) {
    this.dir = dir;
    this.proc = spawnChild(bin, [
      '--headless=new', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      `--user-data-dir=${dir}`, '--no-first-run', '--no-default-browser-check', '--disable-extensions',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--mute-audio',
      '--hide-scrollbars', '--window-size=1366,900', 'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], group: true });
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr += d; if (this.stderr.length > 50000) this.stderr = this.stderr.slice(-20000); });
    this.out = this.proc.stdio[3];
    this.in = this.proc.stdio[4];
    this.id = 0;
    this.pending = new Map();
    this.listeners = [];
    this.exited = false;
    let buf = Buffer.alloc(0);
    this.in.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (let i; (i = buf.indexOf(0)) >= 0;) {
        const msg = JSON.parse(buf.subarray(0, i).toString('utf8'));
        buf = buf.subarray(i + 1);
        this.dispatch(msg);
      }
    });
    this.proc.on('exit', () => {
      this.exited = true;
      for (const [, p] of this.pending) p.reject(new Error(`chromium exited; stderr: ${this.stderr.slice(-600)}`));
      this.pending.clear();
    });
  }
  dispatch(msg) {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message} ${msg.error.data || ''}`));
      else p.resolve(msg.result);
    } else for (const l of this.listeners) l(msg);
  }
  send(method, params = {}, sessionId, timeout = 15000) {
    if (this.exited) return Promise.reject(new Error(`chromium exited; stderr: ${this.stderr.slice(-600)}`));
    const id = ++this.id;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.pending.delete(id); reject(new Error(`${method}: no answer within ${timeout} ms`)); }, timeout);
      this.pending.set(id, { method, resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
      this.out.write(JSON.stringify(msg) + '\0');
    });
  }
  on(fn) { this.listeners.push(fn); }
  async close() {
    try { await this.send('Browser.close', {}, undefined, 3000); } catch { /* killed by the caller */ }
    for (let i = 0; i < 60 && !this.exited; i++) await sleep(50);
  }
}

class Page {
  constructor(browser, sessionId) { this.b = browser; this.sid = sessionId; }
  send(method, params, timeout) { return this.b.send(method, params, this.sid, timeout); }
  async eval(expr) {
    const r = await this.send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`evaluate ${expr.slice(0, 80)}: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
    return r.result.value;
  }
  async waitFor(expr, timeout, what) {
    const end = Date.now() + timeout;
    let last;
    for (;;) {
      try { last = await this.eval(expr); } catch (e) { last = null; this.lastError = e.message; }
      if (last) return last;
      if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}${this.lastError ? ` (${this.lastError})` : ''}`);
      await sleep(100);
    }
  }
  // A real mouse click in the middle of the element (scrolled into view).
  async click(selector) {
    const r = await this.eval(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
      if (!e) return null; e.scrollIntoView({ block: 'center' }); const b = e.getBoundingClientRect();
      return { x: b.left + b.width / 2, y: b.top + b.height / 2, w: b.width }; })()`);
    if (!r || !r.w) throw new Error(`click: no visible ${selector}`);
    for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased'])
      await this.send('Input.dispatchMouseEvent', { type, x: r.x, y: r.y, button: 'left', clickCount: type === 'mouseMoved' ? 0 : 1 });
  }
  async type(selector, text) {
    await this.eval(`(() => { const e = document.querySelector(${JSON.stringify(selector)}); e.focus(); e.select && e.select(); })()`);
    await this.send('Input.insertText', { text });
  }
  // Resolves after the page's next completed poll (the "updated hh:mm:ss" text changes).
  async nextRefresh(timeout = 6000) {
    const before = await this.eval(`document.getElementById('live').textContent`);
    await this.waitFor(`(() => { const t = document.getElementById('live').textContent; return t !== ${JSON.stringify(before)} && t.startsWith('live'); })()`,
      timeout, 'the next refresh');
  }
}

// ---------------------------------------------------------------------------
// Fixtures for the events and guard contract, served by the browser itself
// (Fetch domain): events of every type with HTML in their text, newest first,
// answered incrementally to ?after=ID; a tripped guard added to /api/status.

async function contractFixtures(browser, page) {
  const now = Date.now();
  const events = [
    { id: 11, time_ms: now - 9000, type: 'trip', source: 'guard', worker: 4123, metric: 'heap_used', bytes: 1234567, threshold: 1200000, reason: 'heap above <b>high</b>' },
    { id: 12, time_ms: now - 8000, type: 'switch', source: 'guard', action: 'csr', routes: [LEAKY, '<img src=x onerror=window.__xss=4>'], worker: 4123, metric: 'heap_used', bytes: 1234567, threshold: 1200000, dry_run: false, reason: 'largest leak: <img src=x onerror=window.__xss=5>' },
    { id: 13, time_ms: now - 6000, type: 'mode', source: 'manual', action: 'ssr', routes: ['about'], reason: 'admin API' },
    { id: 14, time_ms: now - 4000, type: 'bisect', source: 'bisect', reason: 'round 2 started' },
    { id: 15, time_ms: now - 3000, type: 'restart', source: 'memory', worker: 4200, reason: 'worker 4123 replaced by 4200' },
  ];
  const guard = { enabled: true, dry_run: true, tripped: true, metric: 'heap_used', high_bytes: 1200000, low_bytes: 1000000,
    current_bytes: 1234567, worker: 4123, switched: [LEAKY, '<script>window.__xss=6</script>'], switches_last_hour: 1, max_switches_per_hour: 6 };
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64');
  const json = [{ name: 'Content-Type', value: 'application/json' }, { name: 'Cache-Control', value: 'no-store' }];
  const seen = [];
  browser.on(async (m) => {
    if (m.method !== 'Fetch.requestPaused' || m.sessionId !== page.sid) return;
    const { requestId, request: rq, responseStatusCode } = m.params;
    try {
      if (/\/api\/events/.test(rq.url)) {
        const after = +(new URL(rq.url).searchParams.get('after') || 0);
        seen.push(rq.url);
        const list = events.filter((e) => e.id > after).sort((a, b) => b.id - a.id);
        await page.send('Fetch.fulfillRequest', { requestId, responseCode: 200, responseHeaders: json, body: b64({ events: list, last_id: 15 }) });
      } else if (responseStatusCode === 200) {
        const body = await page.send('Fetch.getResponseBody', { requestId });
        const st = JSON.parse(body.base64Encoded ? Buffer.from(body.body, 'base64').toString() : body.body);
        await page.send('Fetch.fulfillRequest', { requestId, responseCode: 200, responseHeaders: json, body: b64({ ...st, guard }) });
      } else await page.send('Fetch.continueRequest', { requestId });
    } catch (e) { log(`fixture: ${e.message}`); }
  });
  await page.send('Fetch.enable', { patterns: [{ urlPattern: '*/api/events*', requestStage: 'Request' }, { urlPattern: '*/api/status', requestStage: 'Response' }] });
  await page.send('Page.reload', {});
  const ev = await page.waitFor(`(() => { const li = [...document.querySelectorAll('#event-list li')];
    return !document.getElementById('events').hidden && li.length === 5 && li.map((x) => ({ id: +x.dataset.id, text: x.textContent })); })()`, 8000, 'the fixture events').catch(() => null);
  ok(ev && ev.map((e) => e.id).join(',') === '15,14,13,12,11', 'events are listed newest first', JSON.stringify(ev));
  ok(ev && ev[3].text.includes('<img src=x onerror=window.__xss=4>') && ev[3].text.includes('largest leak: <img src=x onerror=window.__xss=5>') && ev[4].text.includes('<b>high</b>'),
    'event routes and reasons holding HTML show as text', JSON.stringify(ev && ev.slice(3)));
  await page.nextRefresh();
  await page.nextRefresh();
  const g = await page.eval(`(() => ({ text: document.getElementById('guard-body').textContent,
    badges: [...document.querySelectorAll('#guard-body .badge')].map((b) => b.textContent),
    gauge: !!document.querySelector('#guard-body .gauge-fill'), items: document.querySelectorAll('#event-list li').length,
    marks: [...document.querySelectorAll('#mem-marks g')].map((x) => x.getAttribute('class')),
    imgs: document.querySelectorAll('img').length, scripts: document.scripts.length, xss: typeof window.__xss }))()`);
  ok(g.badges.includes('tripped') && g.badges.includes('dry run') && g.gauge && g.text.includes('<script>window.__xss=6</script>') && g.text.includes('1 in the last hour (at most 6)'),
    'the guard panel shows a tripped guard in dry run, its gauge, switched routes as text and the switch budget', JSON.stringify(g));
  ok(g.items === 5 && seen.some((u) => /after=15/.test(u)), 'later polls ask for events after the last id and add no duplicates', JSON.stringify({ items: g.items, seen: seen.slice(0, 3) }));
  ok(g.marks.filter((c) => /mk-guard/.test(c)).length === 2 && g.marks.some((c) => /mk-restart/.test(c)) && g.marks.some((c) => /mk-bisect/.test(c)) && g.marks.some((c) => /mk-mode/.test(c)),
    'the memory chart marks guard actions, mode changes, bisect rounds and restarts from the events', JSON.stringify(g.marks));
  ok(g.imgs === 0 && g.scripts === 1 && g.xss === 'undefined', 'no HTML from the fixtures became elements or ran', JSON.stringify(g));
  const full = await page.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
  fs.writeFileSync(path.join(ARTIFACTS, 'dashboard-fixtures.png'), Buffer.from(full.data, 'base64'));
  await page.send('Fetch.disable', {});
}

// ---------------------------------------------------------------------------

const chromiumBin = findChromium();
if (!chromiumBin) {
  // make test skips nothing: a missing browser is a failure with the reason
  const allowed = !!process.env.LEAKPROXY_ALLOW_SKIP;
  console.log(`browser: ${allowed ? 'SKIPPED' : 'FAILED'} (chromium not installed: make deps, or apt-get install chromium)`);
  process.exit(allowed ? 0 : 1);
}

const budget = setTimeout(() => { ok(false, `whole run within ${BUDGET_MS / 1000} s`); finish(); }, BUDGET_MS);
budget.unref();

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'leakproxy-browser-'));
tmpDirs.push(tmp);
fs.mkdirSync(ARTIFACTS, { recursive: true });

let proxy = null, load = null, page = null;
const problems = [];       // console errors, exceptions
const expectedNet = [];     // [RegExp for url, status] of network errors the test provokes

async function main() {
  const [upPort, browser] = await Promise.all([
    startUpstream(),
    (async () => { const b = browserRef = new Browser(chromiumBin, path.join(tmp, 'profile')); await b.send('Browser.getVersion', {}, undefined, 20000); return b; })(),
  ]);
  proxy = await startProxy(upPort, tmp);
  log(`upstream :${upPort}, proxy :${proxy.port}, admin :${proxy.adminPort}`);
  const base = `http://127.0.0.1:${proxy.adminPort}`;

  // the static files: no token needed, strict policy; the API: token needed
  const idx = await request(proxy.adminPort, 'GET', '/');
  const csp = idx.headers['content-security-policy'] || '';
  ok(idx.status === 200 && /script-src 'self'/.test(csp) && !/unsafe/.test(csp), 'GET / without a token: 200 with a strict Content-Security-Policy', `${idx.status} ${csp}`);
  const sizes = ['/', '/app.js', '/app.css'].map(async (u) => (await request(proxy.adminPort, 'GET', u)).text.length);
  const total = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  ok(total < 200 * 1024, `the page's three files total ${(total / 1024).toFixed(1)} KB (< 200 KB)`);
  const noTok = await request(proxy.adminPort, 'GET', '/api/routes');
  ok(noTok.status === 401, 'GET /api/routes without the token: 401', noTok.status);

  load = startLoad(proxy.port);

  // the page
  browser.on((m) => {
    if (m.method === 'Runtime.exceptionThrown') problems.push(`exception: ${m.params.exceptionDetails.exception?.description || m.params.exceptionDetails.text}`);
    else if (m.method === 'Runtime.consoleAPICalled' && (m.params.type === 'error' || m.params.type === 'assert'))
      problems.push(`console.${m.params.type}: ${m.params.args.map((a) => a.value ?? a.description).join(' ')}`);
    else if (m.method === 'Log.entryAdded' && m.params.entry.level === 'error') {
      const e = m.params.entry;
      const st = /status of (\d+)/.exec(e.text);
      if (e.source === 'network' && st && expectedNet.some(([re, code]) => re.test(e.url || '') && +st[1] === code)) return;
      problems.push(`log (${e.source}): ${e.text} ${e.url || ''}`);
    }
  });
  const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
  page = new Page(browser, sessionId);
  await Promise.all([page.send('Runtime.enable'), page.send('Page.enable'), page.send('Log.enable')]);
  await page.send('Emulation.setDeviceMetricsOverride', { width: 1366, height: 900, deviceScaleFactor: 1, mobile: false });

  // 1. the token: the API answers 401, the page asks for the token
  expectedNet.push([/\/api\//, 401]);
  expectedNet.push([/\/api\/events/, 404]);          // until main has /api/events: the panel hides
  await page.send('Page.navigate', { url: `${base}/` });
  await page.waitFor(`!document.getElementById('auth').hidden`, 8000, 'the token form');
  ok(true, 'on 401 the page shows the token form');
  await page.type('#auth-token', TOKEN);
  await page.click('#auth-form button[type=submit]');
  await page.waitFor(`document.querySelectorAll('#route-body tr.route').length >= 7`, 8000, 'the route table');
  const stored = await page.eval(`sessionStorage.getItem('leakproxy.token')`);
  ok(stored === TOKEN, 'the token is kept in sessionStorage and the route table fills', stored);
  // count the page's API calls from now on (to see polling pause while hidden)
  await page.eval(`(() => { window.__calls = 0; const f = window.fetch; window.fetch = function () { window.__calls++; return f.apply(this, arguments); }; })()`);

  // 2. wait for the leak to be named by the API (bounded), then in the page
  let r, leakMs = null;
  const tl = Date.now();
  while (Date.now() - tl < 60000) {
    r = await routes(proxy);
    if (r[LEAKY].verdict === 'leaking') { leakMs = Date.now() - tl; break; }
    await sleep(500);
  }
  ok(leakMs !== null, `GET /api/routes names ${LEAKY} leaking within 60 s of load${leakMs !== null ? ` (${(leakMs / 1000).toFixed(1)} s)` : ''}`,
    r && `${r[LEAKY].verdict}: ${r[LEAKY].reason}`);
  if (leakMs === null) return;
  try {
    await page.waitFor(`(() => { const tr = document.querySelector('#route-body tr.route');
      return tr && tr.dataset.route === ${JSON.stringify(LEAKY)} && tr.querySelector('.c-verdict .badge').textContent === 'leaking'; })()`, 6000, 'the first row');
  } catch { /* reported below */ }
  const first = await page.eval(`(() => { const tr = document.querySelector('#route-body tr.route');
    return tr && { name: tr.dataset.route, shown: tr.querySelector('.rname').textContent, verdict: tr.querySelector('.c-verdict .badge').textContent,
      reason: tr.querySelector('.reason').textContent, retained: tr.querySelector('.ret').textContent, iv: tr.querySelector('.iv').textContent }; })()`);
  ok(first && first.name === LEAKY && first.shown === LEAKY && first.verdict === 'leaking',
    `the route table's first row is ${LEAKY} with its verdict "leaking" (leaking first by default)`, JSON.stringify(first));
  ok(first && first.reason.length > 20 && /KB|MB/.test(first.retained) && /…/.test(first.iv),
    'the row shows the reason and the retained bytes per request with an interval', JSON.stringify(first));

  // 3. the memory chart and the sparklines
  const chart = await page.eval(`(() => { const pl = [...document.querySelectorAll('#mem-chart svg polyline.series')];
    return { lines: pl.length, points: pl.reduce((s, p) => s + p.points.numberOfItems, 0),
      metrics: [...new Set(pl.map((p) => p.dataset.metric))].sort().join(','),
      sparks: document.querySelectorAll('#route-body .c-trend svg polyline').length,
      rate: document.querySelector('#route-body tr.route .c-rate').textContent }; })()`);
  ok(chart.lines >= 3 && chart.points >= 30 && chart.metrics === 'floor,heap,rss',
    `the memory chart draws rss, heap used and floor (${chart.lines} lines, ${chart.points} SVG points)`, JSON.stringify(chart));
  ok(chart.sparks >= 2 && /^\d/.test(chart.rate), `latency sparklines and request rates from successive polls (${chart.sparks} sparklines, rate ${chart.rate}/s)`, JSON.stringify(chart));

  // 4. untrusted text: a fallback whose text is HTML, shown as text
  await page.click('#route-body tr.route[data-route="evil"] button.name');
  await page.waitFor(`(() => { const tr = document.querySelector('#route-body tr.route[data-route="evil"]').nextElementSibling;
    return !tr.hidden && tr.textContent.includes(${JSON.stringify(XSS_FALLBACK)}); })()`, 4000, 'the evil route details').catch(() => {});
  const xss = await page.eval(`(() => { const tr = document.querySelector('#route-body tr.route[data-route="evil"]').nextElementSibling;
    return { open: !tr.hidden, text: tr.textContent.includes(${JSON.stringify(XSS_FALLBACK)}), imgs: document.querySelectorAll('img').length, xss: typeof window.__xss }; })()`);
  ok(xss.open && xss.text && xss.imgs === 0 && xss.xss === 'undefined',
    'a route fallback holding <img onerror> shows as text in the route details and runs nothing', JSON.stringify(xss));

  // 5. sorting, kept across refreshes with the open panel
  await page.click('#route-head th:nth-child(2) button');
  const sortedByRequests = `(() => { const v = [...document.querySelectorAll('#route-body tr.route .c-requests')].map((td) => +td.textContent.replace(/,/g, ''));
    return v.length >= 7 && v.every((x, i) => i === 0 || v[i - 1] >= x); })()`;
  const s1 = await page.eval(sortedByRequests);
  const y0 = await page.eval(`(window.scrollTo(0, 300), window.scrollY)`);
  await page.nextRefresh();
  await page.nextRefresh();
  const s2 = await page.eval(`(() => ({ sorted: ${sortedByRequests}, aria: document.querySelector('#route-head th:nth-child(2)').getAttribute('aria-sort'),
    open: !document.querySelector('#route-body tr.route[data-route="evil"]').nextElementSibling.hidden, y: window.scrollY }))()`);
  ok(s1 && s2.sorted && s2.aria === 'descending' && s2.open && y0 === 300 && s2.y === y0,
    'sorting by requests (click on the header), an open route panel and the scroll position survive two refreshes', JSON.stringify({ s1, s2, y0 }));
  await page.click('#route-head th:nth-child(8) button');       // back to verdict, leaking first
  await page.waitFor(`document.querySelector('#route-body tr.route').dataset.route === ${JSON.stringify(LEAKY)}`, 3000, 'verdict order').catch(() => {});

  // 6. probe from the page, split by a header whose values are client-sent HTML
  await page.eval(`document.getElementById('probe-route').value = ${JSON.stringify(LEAKY)}`);
  await page.type('#probe-requests', '250');
  await page.type('#probe-split', 'header:X-Tag');
  await page.click('#probe-start');
  let probe = null;
  try {
    await page.waitFor(`/^(done|failed|aborted)/.test(document.querySelector('#probe-body .run-head .badge')?.textContent || '')`, 30000, 'the probe to end');
  } catch (e) { log(e.message); }
  probe = await page.eval(`(() => ({ state: document.querySelector('#probe-body .run-head .badge')?.textContent,
    values: [...document.querySelectorAll('#probe-body td.val')].map((t) => t.textContent),
    verdicts: [...document.querySelectorAll('#probe-body tr.group .badge')].map((t) => t.textContent),
    summary: document.querySelector('#probe-body .summary')?.textContent, imgs: document.querySelectorAll('img').length, xss: typeof window.__xss }))()`);
  ok(probe.state === 'done' && probe.values.includes(XSS_TAG) && probe.values.includes('plain'),
    'a probe started from the page runs to its result, one row per X-Tag value', JSON.stringify(probe));
  ok(probe.verdicts.length === 2 && probe.verdicts.every((v) => v === 'leaking'), 'both probe groups are leaking', JSON.stringify(probe));
  ok(probe.imgs === 0 && probe.xss === 'undefined', 'client-sent HTML in probe values and summary shows as text and runs nothing', JSON.stringify(probe));

  // 7. bisect from the page: confirm, watch rounds, abort; modes come back
  await page.type('#bisect-seconds', '3');
  await page.click('#bisect-start');
  await page.waitFor(`document.getElementById('confirm').open`, 3000, 'the bisect confirmation');
  await page.click('#confirm-ok');
  let bis = null;
  try {
    bis = await page.waitFor(`(() => { const rows = document.querySelectorAll('#bisect-body table tr').length - 1;
      return rows >= 2 && document.querySelector('#bisect-body .run-head .badge').textContent === 'running' && rows; })()`, 9000, 'two bisect rounds');
  } catch (e) { log(e.message); }
  const during = await routes(proxy);
  const offByBisect = Object.values(during).filter((x) => x.mode_by === 'bisect').map((x) => x.name);
  await page.click('#bisect-abort');
  const aborted = await page.waitFor(`document.querySelector('#bisect-body .run-head .badge')?.textContent === 'aborted' &&
    document.getElementById('bisect-abort').hidden`, 5000, 'the aborted state').catch(() => false);
  const restored = Object.values(await routes(proxy)).every((x) => x.mode === 'ssr' && x.mode_by !== 'bisect');
  ok(bis >= 2 && offByBisect.length > 0 && aborted && restored,
    `a bisection started from the page shows its rounds (${bis}; switched off during a round: ${offByBisect.join(', ')}), aborts from the page, modes restored`,
    JSON.stringify({ bis, offByBisect, aborted, restored }));

  // 8. the mode switch: the confirmation survives refreshes with typed form values, then the API changes
  await page.type('#bisect-seconds', '45');
  await page.click(`#route-body tr.route[data-route="${LEAKY}"] button.toggle`);
  await page.waitFor(`document.getElementById('confirm').open`, 3000, 'the confirmation dialog');
  await page.nextRefresh();
  await page.nextRefresh();
  const kept = await page.eval(`(async () => ({ open: document.getElementById('confirm').open, title: document.getElementById('confirm-title').textContent,
    secs: document.getElementById('bisect-seconds').value, split: document.getElementById('probe-split').value,
    mode: (await fetch('/api/routes/${LEAKY}', { headers: { Authorization: 'Bearer ' + sessionStorage.getItem('leakproxy.token') } }).then((r) => r.json())).mode }))()`);
  ok(kept.open && kept.title.includes(LEAKY) && kept.title.includes('csr') && kept.secs === '45' && kept.split === 'header:X-Tag' && kept.mode === 'ssr',
    'the confirmation dialog and typed form values survive two refreshes; nothing switched before confirming', JSON.stringify(kept));
  await page.click('#confirm-ok');
  await page.waitFor(`!document.getElementById('confirm').open`, 5000, 'the dialog to close').catch(() => {});
  const after = (await routes(proxy))[LEAKY];
  ok(after.mode === 'csr' && after.mode_by === 'manual', `confirming switches ${LEAKY}: GET /api/routes says mode csr, mode_by manual`, `${after.mode}/${after.mode_by}`);
  const shown = await page.waitFor(`(() => { const tr = document.querySelector('#route-body tr.route[data-route="${LEAKY}"]');
    return tr.querySelector('.c-mode .badge').textContent === 'csr' && tr.querySelector('.by').textContent.includes('manual') && tr.querySelector('button.toggle').textContent; })()`, 5000, 'csr in the row').catch(() => null);
  ok(shown === 'to ssr', 'the row shows csr by manual and offers the way back', shown);

  // 9. a never_csr route: the 409 is shown in the dialog
  expectedNet.push([/\/api\/routes\/api\/mode/, 409]);
  await page.click('#route-body tr.route[data-route="api"] button.toggle');
  await page.waitFor(`document.getElementById('confirm').open`, 3000, 'the confirmation dialog');
  await page.click('#confirm-ok');
  const err = await page.waitFor(`document.getElementById('confirm-err').textContent`, 5000, 'the error').catch(() => '');
  ok(/409/.test(err) && /never_csr/.test(err) && (await routes(proxy)).api.mode === 'ssr', 'switching a never_csr route shows the 409 error and changes nothing', err);
  await page.click('#confirm-cancel');

  // 10. events: listed newest first when /api/events exists, the panel hidden when it does not
  const evStatus = (await admin(proxy, 'GET', '/api/events?limit=5')).status;
  if (evStatus === 404) {
    const hidden = await page.eval(`document.getElementById('events').hidden`);
    ok(hidden, 'GET /api/events is 404 here: the events panel is hidden');
  } else {
    const ev = await page.waitFor(`(() => { const li = [...document.querySelectorAll('#event-list li')];
      return li.length && li.some((x) => x.textContent.includes(${JSON.stringify(LEAKY)}) && x.textContent.includes('csr')) &&
        li.map((x) => +x.dataset.id); })()`, 6000, 'the mode event').catch(() => null);
    ok(ev && ev.every((id, i) => i === 0 || ev[i - 1] > id), 'the events panel lists the mode change, newest first', JSON.stringify(ev));
  }

  // 11. polling pauses while the tab is hidden, and resumes
  await page.eval(`(() => { Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.dispatchEvent(new Event('visibilitychange')); })()`);
  await sleep(300);
  const c0 = await page.eval('window.__calls');
  await sleep(4500);
  const c1 = await page.eval('window.__calls');
  const paused = await page.eval(`document.getElementById('live').textContent`);
  await page.eval(`(() => { delete document.hidden; document.dispatchEvent(new Event('visibilitychange')); })()`);
  await sleep(800);
  const c2 = await page.eval('window.__calls');
  ok(c1 === c0 && /paused/.test(paused) && c2 > c1, `no API calls while hidden (${c1 - c0} in 4.5 s), polling again when visible (${c2 - c1})`, paused);

  // the screenshot: leaky's details open (the page as someone investigating sees it)
  await page.click('#route-body tr.route[data-route="evil"] button.name');
  await page.click(`#route-body tr.route[data-route="${LEAKY}"] button.name`);
  await page.nextRefresh();
  await page.eval('window.scrollTo(0, 0)');
  const shot = await page.send('Page.captureScreenshot', { format: 'png', clip: { x: 0, y: 0, width: 1366, height: 900, scale: 1 } });
  const png = Buffer.from(shot.data, 'base64');
  fs.writeFileSync(path.join(ARTIFACTS, 'dashboard.png'), png);
  if (SCREENSHOT) fs.writeFileSync(path.join(ROOT, 'docs', 'dashboard.png'), png);
  ok(png.length > 10000, `screenshot 1366x900 saved (${(png.length / 1024).toFixed(0)} KB) to ${path.relative(ROOT, ARTIFACTS)}/dashboard.png${SCREENSHOT ? ' and docs/dashboard.png' : ''}`);

  // 12. the events and guard contract (GET /api/events, "guard" in GET /api/status) with
  // fixtures: the browser answers /api/events itself and adds "guard" to the real status
  await contractFixtures(browser, page);

  ok(problems.length === 0, 'no console errors or exceptions in the page', problems.join('\n'));
}

try {
  await main();
} catch (e) {
  ok(false, 'the run ended early', `${e.stack || e.message}${problems.length ? `\npage problems so far:\n${problems.join('\n')}` : ''}`);
  if (page) {
    try {
      const shot = await page.send('Page.captureScreenshot', { format: 'png' }, 5000);
      fs.writeFileSync(path.join(ARTIFACTS, 'dashboard-failure.png'), Buffer.from(shot.data, 'base64'));
    } catch { /* the browser is gone */ }
  }
}
if (load) { load.stop = true; await Promise.race([load.done, sleep(2000)]); log(`load: ${load.sent} sent, ${JSON.stringify(load.statuses)}, ${load.errors} errors`); }
if (proxy && failed) fs.writeFileSync(path.join(ARTIFACTS, 'browser-leakproxy.stderr'), proxy.stderr());
log(`${((Date.now() - T0) / 1000).toFixed(1)} s`);
finish();
