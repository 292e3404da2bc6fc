#!/usr/bin/env node
// run.mjs -- runs the integration suite with node:test, in two lanes.
//
//   node tests/integration/run.mjs [--jobs N] [--lane all|light|serial] [--test-name-pattern RE]... [FILE...]
//
// Every t_*.mjs is a node:test file and runs on its own too:
//   LEAKPROXY_BIN=./leakproxy node --test tests/integration/t_forwarding.mjs
//   node --test --test-name-pattern 'bisect' tests/integration/t_*.mjs
//
// This launcher only decides what may run at the same time. The files that
// drive a real app under load and judge memory readings, rates or deadlines
// against it (SERIAL below) run one at a time with nothing else beside them:
// a second file's CPU would change what they measure. The other files run N
// at a time (default 3: they mostly wait on sockets and timers), before the
// serial lane (--lane runs one of them: make test runs its other stages
// beside the light lane). Prints the spec reporter's lines, then one summary line
// `integration: N passed, M failed[, K skipped][, T todo] (S s)`; exits 1 if
// any case failed. FILEs (names or substrings) select files; other options
// go to node --test as they are. Env: LEAKPROXY_BIN, LEAKPROXY_IT_VERBOSE=1
// (timings and the proxy's stderr for failures), LEAKPROXY_IT_LONG=1 (the
// minutes-long cases of make test-long), LEAKPROXY_ALLOW_SKIP=1.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERIAL = new Set(['t_attrib.mjs', 't_bisect.mjs', 't_guard.mjs', 't_guard_fast.mjs', 't_memory.mjs',
  't_probe.mjs', 't_rows.mjs', 't_switch.mjs']);

function parseArgs(argv) {
  const o = { jobs: 3, pass: [], files: [], lane: 'all' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--jobs') o.jobs = Math.max(1, +argv[++i] || 1);
    else if (a.startsWith('--jobs=')) o.jobs = Math.max(1, +a.slice(7) || 1);
    else if (a === '--lane') o.lane = argv[++i];
    else if (a.startsWith('--lane=')) o.lane = a.slice(7);
    else if (a === '--test-name-pattern') o.pass.push(a, argv[++i]);
    else if (a.startsWith('--')) o.pass.push(a);
    else o.files.push(a);
  }
  return o;
}

// A signal to the launcher stops the lane's runner too (its files' own
// exit hooks then stop every process they started).
let running = null;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { if (running) running.kill(sig); process.exit(130); });
}

// Runs one lane; resolves with the counts of its TAP summary.
function lane(files, jobs, pass) {
  if (!files.length) return Promise.resolve({ pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 });
  const tapFile = path.join(os.tmpdir(), `leakproxy-it-${process.pid}-${jobs}.tap`);
  const args = ['--test', `--test-concurrency=${jobs}`, ...pass,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
    ...files.map((f) => path.join(here, f))];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    running = child;
    child.on('close', (code) => {
      let tap = '';
      try { tap = fs.readFileSync(tapFile, 'utf8'); fs.rmSync(tapFile, { force: true }); } catch {}
      const n = (k) => { const m = new RegExp(`^# ${k} (\\d+)$`, 'm').exec(tap); return m ? +m[1] : 0; };
      const r = { pass: n('pass'), fail: n('fail'), skipped: n('skipped'), todo: n('todo'), cancelled: n('cancelled') };
      // a runner that died without a summary is a failure, whatever it counted
      if (code !== 0 && r.fail === 0 && r.cancelled === 0) r.fail = 1;
      resolve(r);
    });
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let files = fs.readdirSync(here).filter((f) => /^t_.*\.mjs$/.test(f)).sort();
  if (o.files.length) files = files.filter((f) => o.files.some((s) => f.includes(path.basename(s))));
  const t0 = Date.now();
  if (!['all', 'light', 'serial'].includes(o.lane)) throw new Error(`--lane ${o.lane}: all, light or serial`);
  const a = await lane(o.lane === 'serial' ? [] : files.filter((f) => !SERIAL.has(f)), o.jobs, o.pass);
  const b = await lane(o.lane === 'light' ? [] : files.filter((f) => SERIAL.has(f)), 1, o.pass);
  const sum = (k) => a[k] + b[k];
  const failed = sum('fail') + sum('cancelled');
  console.log(`integration: ${sum('pass')} passed, ${failed} failed` +
    `${sum('skipped') ? `, ${sum('skipped')} skipped` : ''}${sum('todo') ? `, ${sum('todo')} todo` : ''}` +
    ` (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
