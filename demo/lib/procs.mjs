// procs.mjs -- start the demo apps and leakproxy on free ports, read their ports back from
// their output, and kill everything started here on exit (also on SIGINT/SIGTERM).
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DEMO = fileURLToPath(new URL('..', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const children = new Set();
const killAll = () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } };
process.on('exit', killAll);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { killAll(); process.exit(130); });

/**
 * Spawns <cmd args> and resolves once <stream> ('stdout' | 'stderr') has printed every regex
 * in <waitFor>: { proc, matches: [RegExpExecArray...], output() }. Rejects on exit or timeout.
 */
export function startAndWait(cmd, args, { cwd, env, stream = 'stdout', waitFor, timeoutMs = 15000, name = cmd }) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    const out = { stdout: '', stderr: '' };
    const check = () => {
      const ms = waitFor.map((re) => re.exec(out[stream]));
      if (ms.every(Boolean)) { clearTimeout(timer); resolve({ proc, matches: ms, output: () => out }); }
    };
    for (const k of ['stdout', 'stderr']) {
      proc[k].on('data', (d) => { out[k] += d; if (out[k].length > 200000) out[k] = out[k].slice(-100000); if (k === stream) check(); });
    }
    const timer = setTimeout(() => reject(new Error(`${name}: not ready in ${timeoutMs} ms\n${out.stderr.slice(-2000)}`)), timeoutMs);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('exit', (code, sig) => { children.delete(proc); clearTimeout(timer); reject(new Error(`${name} exited (${sig || code})\n${out.stderr.slice(-2000)}`)); });
  });
}

/** Starts demo app <app> with PORT=0; resolves { proc, port }. */
export async function startApp(app, env = {}) {
  const r = await startAndWait(process.execPath, ['--expose-gc', 'server.js'], { cwd: `${DEMO}${app}`, env: { PORT: '0', ...env },
    waitFor: [/listening on [\d.]+:(\d+)/], name: `${app} app` });
  return { proc: r.proc, port: Number(r.matches[0][1]), output: r.output };
}

/**
 * Starts leakproxy in front of 127.0.0.1:<upstreamPort> with demo/<app>/leakproxy.json
 * (listen and admin on port 0). Resolves { proc, proxy: 'host:port', admin: 'host:port' }.
 */
export async function startProxy(bin, app, upstreamPort, configPath) {
  const cfg = JSON.parse(readFileSync(`${DEMO}${app}/leakproxy.json`, 'utf8'));
  cfg.upstream = `http://127.0.0.1:${upstreamPort}`;
  cfg.listen = '127.0.0.1:0';
  cfg.admin = '127.0.0.1:0';
  writeFileSync(configPath, JSON.stringify(cfg, null, 2));
  const r = await startAndWait(bin, ['-c', configPath], { stream: 'stderr', name: `leakproxy (${app})`,
    waitFor: [/proxy listening on ([\w.:[\]-]+:\d+)/, /admin listening on ([\w.:[\]-]+:\d+)/] });
  return { proc: r.proc, proxy: r.matches[0][1], admin: r.matches[1][1], output: r.output };
}

/** Stops a child and waits for it (SIGTERM, then SIGKILL after 3 s). */
export function stop(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    proc.once('exit', () => { clearTimeout(t); resolve(); });
    proc.kill('SIGTERM');
  });
}
