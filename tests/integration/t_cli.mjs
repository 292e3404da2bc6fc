// Command line and config validation: --help, --version, --check-config and
// the "FILE:LINE: key.path: text" error format, fallback headers refused at
// load.

import fs from 'node:fs';
import path from 'node:path';
import {
  test, baseConfig, configText, lineOf, runSync, check, eq,
} from './lib.mjs';

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function writeCfg(ctx, text, name = 'cfg.json') {
  const p = path.join(ctx.tmp(), name);
  fs.writeFileSync(p, text);
  return p;
}

// Runs --check-config on <text>; expects exit 1 and an error line naming the
// file, <line> (a column may follow) and the key path <keyPath>.
function expectConfigError(ctx, text, line, keyPath) {
  const file = writeCfg(ctx, text);
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 1, `--check-config exit code (stderr: ${JSON.stringify(r.stderr.slice(0, 300))})`);
  const re = new RegExp(`${esc(file)}:${line}(:\\d+)?: ${esc(keyPath)}: \\S`);
  check(re.test(r.stderr), `stderr should contain "${file}:${line}: ${keyPath}: ..."; got ${JSON.stringify(r.stderr.slice(0, 400))}`);
  return r;
}

test('cli: --help exits 0 and prints usage', async () => {
  const r = runSync(['--help']);
  eq(r.code, 0, '--help exit code');
  check((r.stdout + r.stderr).includes('-c'), `--help output should mention -c: ${JSON.stringify((r.stdout + r.stderr).slice(0, 200))}`);
});

test('cli: --help names every option and every ctl command (and ctl --help every ctl option)', async () => {
  const out = runSync(['--help']).stdout;
  for (const w of ['-c', '--check-config', '-t', '--version', '-v', '--help', '-h', 'ctl',
                   'routes', 'mode', 'report', 'memory', 'bisect', 'probe', 'events', 'status',
                   '--admin', '--token', '--json', '--markdown', 'HUP', 'TERM', 'USR1'])
    check(new RegExp(`(^|[^\\w-])${esc(w)}([^\\w-]|$)`, 'm').test(out), `--help does not mention ${w}: ${out}`);
  const ctl = runSync(['ctl', '--help']);
  eq(ctl.code, 0, 'ctl --help exit code');
  for (const w of ['--admin', '--token', '-c', '--json', '--markdown', '--round-seconds', '--metric', '--wait',
                   '--abort', '--requests', '--concurrency', '--split'])
    check(ctl.stdout.includes(w), `ctl --help does not mention ${w}`);
});

test('cli: --version exits 0 and prints a version', async () => {
  const r = runSync(['--version']);
  eq(r.code, 0, '--version exit code');
  check(/\d+\.\d+/.test(r.stdout + r.stderr), `--version output has no version number: ${JSON.stringify(r.stdout + r.stderr)}`);
});

test('cli: unknown option exits non-zero', async () => {
  const r = runSync(['--no-such-option']);
  check(r.code !== 0 && r.code !== null, `expected non-zero exit, got ${r.code}`);
});

test('config: --check-config accepts a full valid config', async (ctx) => {
  const cfg = baseConfig(3000, {
    timeouts: { connect_ms: 2000, response_ms: 30000, client_idle_ms: 60000, header_ms: 10000 },
    limits: { max_header_bytes: 65536, max_headers: 100, max_body_bytes: 10485760, max_connections: 10000 },
    access_log: path.join(ctx.tmp(), 'access.log'),
  });
  const file = writeCfg(ctx, configText(cfg));
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 0, `--check-config exit code (stderr: ${JSON.stringify(r.stderr.slice(0, 300))})`);
});

test('config: --check-config accepts a minimal config (listen + upstream)', async (ctx) => {
  const file = writeCfg(ctx, configText({ listen: '127.0.0.1:0', upstream: 'http://127.0.0.1:3000' }));
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 0, `--check-config exit code (stderr: ${JSON.stringify(r.stderr.slice(0, 300))})`);
});

test('config: unknown top-level key names file, line and key', async (ctx) => {
  const text = configText({ ...baseConfig(3000), upstreem: 'x' });
  expectConfigError(ctx, text, lineOf(text, /"upstreem"/), 'upstreem');
});

test('config: unknown nested key names its full path', async (ctx) => {
  const text = configText(baseConfig(3000, { timeouts: { connect_ms: 100, respons_ms: 200 } }));
  expectConfigError(ctx, text, lineOf(text, /"respons_ms"/), 'timeouts.respons_ms');
});

test('config: wrong type in routes[1].match', async (ctx) => {
  const cfg = baseConfig(3000);
  cfg.routes[1].match = 5;
  const text = configText(cfg);
  expectConfigError(ctx, text, lineOf(text, /"match": 5/), 'routes[1].match');
});

test('config: bad listen address', async (ctx) => {
  const text = configText(baseConfig(3000, { listen: '127.0.0.1:99999' }));
  expectConfigError(ctx, text, lineOf(text, /"listen"/), 'listen');
});

test('config: duplicate route names rejected', async (ctx) => {
  const cfg = baseConfig(3000);
  cfg.routes.push({ name: 'detail', match: '/other/:id' });
  const text = configText(cfg);
  const file = writeCfg(ctx, text);
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 1, '--check-config exit code');
  check(new RegExp(`${esc(file)}:\\d+(:\\d+)?: routes\\[3\\]`).test(r.stderr),
    `stderr should name ${file}:LINE: routes[3]...; got ${JSON.stringify(r.stderr.slice(0, 300))}`);
});

test('config: JSON syntax error names file and line', async (ctx) => {
  const text = '{\n  "listen": "127.0.0.1:0",\n  "upstream": ,\n}\n';
  const file = writeCfg(ctx, text);
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 1, '--check-config exit code');
  check(new RegExp(`${esc(file)}:3(:\\d+)?: `).test(r.stderr), `stderr should start with ${file}:3: ...; got ${JSON.stringify(r.stderr.slice(0, 300))}`);
});

test('config: missing upstream is an error', async (ctx) => {
  const file = writeCfg(ctx, configText({ listen: '127.0.0.1:0' }));
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 1, '--check-config exit code');
  check(/upstream/.test(r.stderr), `stderr should mention upstream: ${JSON.stringify(r.stderr.slice(0, 300))}`);
});

test('config: leakproxy -c with an invalid config exits 1 without listening', async (ctx) => {
  const text = configText({ ...baseConfig(3000), bogus: 1 });
  const file = writeCfg(ctx, text);
  const r = runSync(['-c', file], { timeout: 5000 });
  check(!r.timedOut, `still running after 5 s with an invalid config; stderr: ${JSON.stringify(r.stderr.slice(0, 300))}`);
  eq(r.code, 1, 'exit code');
  check(r.stderr.includes(`${file}:${lineOf(text, /"bogus"/)}`), `stderr should name the file and line: ${JSON.stringify(r.stderr.slice(0, 300))}`);
  check(!/listening on/.test(r.stderr), 'must not listen with an invalid config');
});

test('config: max_header_bytes below the default max_request_line is accepted', async (ctx) => {
  // Only max_header_bytes is set; the request-line limit's default must not
  // turn this valid value into an error about a key the user never wrote.
  const file = writeCfg(ctx, configText(baseConfig(3000, { limits: { max_header_bytes: 4096 } })));
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 0, `--check-config exit code (stderr: ${JSON.stringify(r.stderr.slice(0, 300))})`);
});

// --- the header fallback's control header --------------------------------------

for (const [name, where] of [['Content-Length', 'top'], ['Transfer-Encoding', 'top'], ['connection', 'route'], ['Host', 'top'],
  ['Upgrade', 'top'], ['TE', 'top'], ['Trailer', 'top'], ['Keep-Alive', 'route'], ['Proxy-Authorization', 'top'], ['X-Forwarded-Host', 'top']]) {
  test(`config: fallback header ${name} refused at load with file:line`, async (ctx) => {
    const hv = `${name}: 1`;
    const cfg = where === 'top'
      ? baseConfig(1, { fallback: { header: hv } })
      : baseConfig(1, { routes: [{ name: 'home', match: '/', fallback: { header: hv } }] });
    const text = configText(cfg);
    const file = `${ctx.tmp()}/fb.json`;
    fs.writeFileSync(file, text);
    const line = lineOf(text, /"header":/);
    const key = where === 'top' ? 'fallback.header' : 'routes[0].fallback.header';
    const r = runSync(['--check-config', '-c', file]);
    eq(r.code, 1, `--check-config exit code (stderr ${JSON.stringify(r.stderr.slice(0, 200))})`);
    check(r.stderr.includes(`${file}:${line}: ${key}: '${hv}'`), `stderr should start with ${file}:${line}: ${key}: '${hv}': ${JSON.stringify(r.stderr.slice(0, 300))}`);
  });
}

test('config: an ordinary fallback header still loads', async (ctx) => {
  const file = `${ctx.tmp()}/fb.json`;
  fs.writeFileSync(file, configText(baseConfig(1, { fallback: { header: 'X-SSR-Off: 1' } })));
  const r = runSync(['--check-config', '-c', file]);
  eq(r.code, 0, `--check-config exit code (stderr ${JSON.stringify(r.stderr.slice(0, 200))})`);
});
