// bench/procs.mjs -- the child processes of a benchmark driver (Node built-ins only).
//
// Every child starts in its own process group (detached), so that stopping it
// also stops what it started (cluster workers, the load driver's children);
// every group still alive is SIGKILLed when the driver exits, is interrupted
// or is terminated. Used by bench/attribution.mjs, bench/synth.mjs and
// bench/probe.mjs.

import { spawn } from 'node:child_process';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const groups = new Set();            // pids of the process groups started here

// Starts <cmd> <args> (spawn options <o>) in its own process group, stdout and
// stderr piped; sets p.exited and p.exitInfo when it exits.
export function start(cmd, args, o) {
  const p = spawn(cmd, args, { ...o, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.add(p.pid);
  p.on('exit', (code, sig) => { p.exited = true; p.exitInfo = sig ? `signal ${sig}` : `code ${code}`; });
  return p;
}

// SIGTERM to <p>'s group, up to 3 s for it to exit, then SIGKILL to the whole
// group whatever happened (a cluster's workers share it).
export async function stop(p) {
  if (!p) return;
  if (!p.exited) {
    try { process.kill(-p.pid, 'SIGTERM'); } catch { /* gone */ }
    for (let i = 0; i < 30 && !p.exited; i++) await sleep(100);
  }
  try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  groups.delete(p.pid);
}

export function killAll() {
  for (const g of groups) { try { process.kill(-g, 'SIGKILL'); } catch { /* gone */ } }
  groups.clear();
}

process.on('exit', killAll);
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(s, () => { killAll(); process.exit(130); });
}

// Keeps the last MiB or so of a child's <stream> ('stdout' | 'stderr') in p.buf[stream].
export function collect(p, stream) {
  p.buf = p.buf || {};
  p.buf[stream] = '';
  p[stream].on('data', (d) => {
    p.buf[stream] += d;
    if (p.buf[stream].length > 1 << 20) p.buf[stream] = p.buf[stream].slice(-(1 << 19));
  });
}

// Resolves with the first match of <re> in what collect() kept of <stream>;
// rejects when the child exits first or after <ms> (naming <what>).
export async function waitFor(p, stream, re, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const m = re.exec(p.buf[stream]);
    if (m) return m;
    if (p.exited) throw new Error(`${what} exited: ${p.buf[stream].slice(-500)} ${p.buf.stderr?.slice(-500) ?? ''}`);
    if (Date.now() > end) throw new Error(`${what}: no ${re} within ${ms} ms: ${p.buf[stream].slice(-500)}`);
    await sleep(50);
  }
}
