#!/usr/bin/env node
// load.mjs -- deterministic HTTP load driver for the leakproxy demo apps. Node built-ins only.
//
// The same --seed always yields the same request sequence (route picks and parameter
// values), whatever the concurrency: workers take requests from one seeded generator in
// order. Prints a progress line on stderr once a second and per-route counts at the end.
//
//   node demo/load.mjs --app vue --target http://127.0.0.1:8080 --duration 60 --concurrency 8
//   node demo/load.mjs --mix my-mix.json --target URL --requests 5000 --seed 7 --rate 200
//   node demo/load.mjs --app react --dry-run 20        # print the first 20 requests, send nothing
//
// Mix file: {"routes":[{"name":"home","path":"/","weight":10}, {"name":"detail",
//   "path":"/detail/{int:1:500}", "weight":5}, {"name":"track","method":"POST",
//   "path":"/api/track","body":"{\"e\":\"click\"}","headers":{"content-type":"application/json"}}]}
// Path templates: {int:A:B} uniform integer, {pick:a,b,c} one of, {seq} 1,2,3... per route,
// {odd} / {even} the seq-th odd / even number. Extra fields in the file are ignored.
import http from 'node:http';
import https from 'node:https';
import dns from 'node:dns/promises';
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** mulberry32 PRNG: the single source of randomness of a run. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Expands one path template; <seq> is the route's 1-based request counter. */
export function expand(template, rand, seq) {
  return template.replace(/\{(\w+)(?::([^}]*))?\}/g, (m, kind, arg) => {
    if (kind === 'seq') return String(seq);
    if (kind === 'odd') return String(2 * seq - 1);
    if (kind === 'even') return String(2 * seq);
    if (kind === 'int') {
      const [lo, hi] = arg.split(':').map(Number);
      return String(lo + Math.floor(rand() * (hi - lo + 1)));
    }
    if (kind === 'pick') { const xs = arg.split(','); return xs[Math.floor(rand() * xs.length)]; }
    throw new Error(`unknown template ${m}`);
  });
}

/** Loads a mix: a file path, or an app name (demo/<app>/routes.json). Returns [{name, path, weight, ...}]. */
export function loadMix(fileOrApp) {
  const file = /^[\w-]+$/.test(fileOrApp)
    ? fileURLToPath(new URL(`./${fileOrApp}/routes.json`, import.meta.url)) : fileOrApp;
  const routes = JSON.parse(readFileSync(file, 'utf8')).routes.filter((r) => (r.weight ?? 1) > 0);
  if (!routes.length) throw new Error(`${file}: no routes with weight > 0`);
  for (const r of routes) if (!r.name || !r.path) throw new Error(`${file}: each route needs name and path`);
  return routes;
}

/** The request sequence: next() returns {route, method, path, headers, body}, same for a seed. */
export function sequence(routes, seed) {
  const rand = prng(seed);
  const total = routes.reduce((s, r) => s + (r.weight ?? 1), 0);
  const seqs = new Map();
  return { next() {
    let x = rand() * total, r = routes[routes.length - 1];
    for (const c of routes) { x -= c.weight ?? 1; if (x < 0) { r = c; break; } }
    const n = (seqs.get(r.name) || 0) + 1;
    seqs.set(r.name, n);
    return { route: r.name, method: r.method || 'GET', path: expand(r.path, rand, n), headers: r.headers || {}, body: r.body };
  } };
}

const isLoopback = (ip) => (net.isIPv4(ip) && ip.startsWith('127.')) || ip === '::1' || ip === '::ffff:127.0.0.1';
async function checkTarget(url, allowRemote) {
  if (allowRemote) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const ips = net.isIP(host) ? [host] : (await dns.lookup(host, { all: true })).map((a) => a.address);
  if (!ips.length || !ips.every(isLoopback)) {
    throw new Error(`refusing non-loopback target ${url.host} (${ips.join(', ')}); pass --allow-remote if you mean it`);
  }
}

function quantile(sorted, q) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0; }

function parseArgs(argv) {
  const o = { seed: 1, concurrency: 4, timeoutMs: 30000 };
  const flags = { '--allow-remote': 'allowRemote', '--quiet': 'quiet' };
  const vals = { '--app': 'mix', '--mix': 'mix', '--target': 'target', '--seed': 'seed', '--concurrency': 'concurrency',
    '-c': 'concurrency', '--duration': 'duration', '-d': 'duration', '--requests': 'requests', '-n': 'requests',
    '--rate': 'rate', '--json': 'json', '--dry-run': 'dryRun', '--only': 'only', '--timeout-ms': 'timeoutMs' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (flags[a]) o[flags[a]] = true;
    else if (vals[a] && i + 1 < argv.length) o[vals[a]] = argv[++i];
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown argument ${a} (try --help)`);
  }
  for (const k of ['seed', 'concurrency', 'duration', 'requests', 'rate', 'dryRun', 'timeoutMs']) {
    if (o[k] !== undefined) { o[k] = Number(o[k]); if (!Number.isFinite(o[k]) || o[k] < 0) throw new Error(`--${k}: not a number`); }
  }
  if (o.duration === undefined && o.requests === undefined) o.duration = 30;
  return o;
}

const USAGE = `usage: node load.mjs (--app vue|react | --mix FILE) --target URL [--seed N] [-c CONCURRENCY]
                     [--duration SECONDS | --requests N] [--rate REQ_PER_S] [--only r1,r2]
                     [--json OUT] [--timeout-ms MS] [--quiet] [--allow-remote] [--dry-run N]`;

export async function main(argv) {
  const o = parseArgs(argv);
  if (o.help || !o.mix) { console.log(USAGE); return o.help ? 0 : 2; }
  let routes = loadMix(o.mix);
  if (o.only) { const keep = new Set(o.only.split(',')); routes = routes.filter((r) => keep.has(r.name)); }
  if (!routes.length) throw new Error('--only left no routes');
  const seq = sequence(routes, o.seed);
  if (o.dryRun) { for (let i = 0; i < o.dryRun; i++) { const q = seq.next(); console.log(`${q.route}\t${q.method} ${q.path}`); } return 0; }
  if (!o.target) throw new Error('--target URL is required');
  const target = new URL(o.target);
  await checkTarget(target, o.allowRemote);
  const mod = target.protocol === 'https:' ? https : http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: o.concurrency });

  const stats = new Map(routes.map((r) => [r.name, { count: 0, status: {}, lat: [], bytes: 0 }]));
  let issued = 0, done = 0, errors = 0, inflight = 0, stopping = false;
  const t0 = performance.now();
  const deadline = o.duration !== undefined ? t0 + o.duration * 1000 : Infinity;
  const limit = o.requests ?? Infinity;

  const one = (q) => new Promise((resolve) => {
    const st = stats.get(q.route);
    const start = performance.now();
    const finish = (key, bytes = 0) => {
      st.count++; st.status[key] = (st.status[key] || 0) + 1; st.bytes += bytes;
      st.lat.push(performance.now() - start); done++; if (key === 'err') errors++;
      resolve();
    };
    const headers = { ...q.headers };
    if (q.body !== undefined) headers['content-length'] = Buffer.byteLength(q.body);
    const req = mod.request({ protocol: target.protocol, hostname: target.hostname.replace(/^\[|\]$/g, ''), port: target.port, agent,
      method: q.method, path: target.pathname.replace(/\/$/, '') + q.path, headers, timeout: o.timeoutMs }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => finish(`${Math.floor(res.statusCode / 100)}xx`, n));
      res.on('error', () => finish('err', n));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => finish('err'));
    req.end(q.body);
  });

  const worker = async () => {
    while (!stopping && issued < limit && performance.now() < deadline) {
      const i = issued++;
      const q = seq.next();
      if (o.rate) { const wait = t0 + (i * 1000) / o.rate - performance.now(); if (wait > 0) await new Promise((r) => setTimeout(r, wait)); }
      if (stopping || performance.now() >= deadline) break;
      inflight++; await one(q); inflight--;
    }
  };

  const progress = () => {
    if (o.quiet) return;
    const s = (performance.now() - t0) / 1000;
    process.stderr.write(`\r[load] ${s.toFixed(0).padStart(4)}s ${String(done).padStart(8)} req ${(done / s || 0).toFixed(0).padStart(6)} req/s` +
      `  inflight ${String(inflight).padStart(3)}  errors ${errors}` + (o.duration ? `  (${o.duration}s)` : `  (of ${limit})`) + '   ');
  };
  const timer = setInterval(progress, 1000);
  const onSig = () => { stopping = true; };
  process.once('SIGINT', onSig); process.once('SIGTERM', onSig);
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));
  clearInterval(timer); progress(); if (!o.quiet) process.stderr.write('\n');
  process.off('SIGINT', onSig); process.off('SIGTERM', onSig);
  agent.destroy();

  const secs = (performance.now() - t0) / 1000;
  const out = { target: target.origin, seed: o.seed, concurrency: o.concurrency, requests: done, errors, seconds: +secs.toFixed(2), routes: {} };
  const classes = ['2xx', '3xx', '4xx', '5xx', 'err'];
  console.log(`${'route'.padEnd(12)} ${'count'.padStart(7)} ${classes.map((c) => c.padStart(6)).join(' ')} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'KB/req'.padStart(7)}`);
  for (const [name, st] of stats) {
    const lat = st.lat.sort((a, b) => a - b);
    out.routes[name] = { count: st.count, status: st.status, bytes: st.bytes,
      latency_ms: { p50: +quantile(lat, 0.5).toFixed(2), p90: +quantile(lat, 0.9).toFixed(2), p99: +quantile(lat, 0.99).toFixed(2), max: +(lat.at(-1) || 0).toFixed(2) } };
    console.log(`${name.padEnd(12)} ${String(st.count).padStart(7)} ${classes.map((c) => String(st.status[c] || 0).padStart(6)).join(' ')} ` +
      `${quantile(lat, 0.5).toFixed(1).padStart(8)} ${quantile(lat, 0.99).toFixed(1).padStart(8)} ${(st.count ? st.bytes / st.count / 1024 : 0).toFixed(1).padStart(7)}`);
  }
  console.log(`total ${done} requests in ${secs.toFixed(1)} s (${(done / secs).toFixed(0)} req/s), ${errors} errors, seed ${o.seed}`);
  if (o.json) writeFileSync(o.json, JSON.stringify(out, null, 2) + '\n');
  if (stopping) return 130;   // interrupted: the summary above is partial
  return done > 0 && errors < done ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; },
    (err) => { console.error(`load.mjs: ${err.message}`); process.exitCode = 2; });
}
