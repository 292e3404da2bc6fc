// `leakproxy ctl`: every command against a running proxy (a fake
// upstream and a fake forced-GC memory endpoint whose heap never moves):
// exit status and a key line of the output; errors exit non-zero with a
// message on stderr.

import {
  test, get, check, eq, sleep, deadPort, pollUntil,
  VUE_SHELL, adminCall, routesByName, startFakeMemory, runCtl, runBin,
} from './lib.mjs';

async function ctlSetup(ctx, { memory = true } = {}) {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy({
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${up.port}`, admin: '127.0.0.1:0',
    routes: [
      { name: 'home', match: '/', fallback: { file: VUE_SHELL } },
      { name: 'about', match: '/about' },
      { name: 'news', match: '/news/:id', fallback: { file: VUE_SHELL } },
      { name: 'api', match: '/api/*', never_csr: true, fallback: { file: VUE_SHELL } },
    ],
    ...(memory ? { memory: { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 } } : {}),
  });
  return { up, fm, p };
}

const out = (r) => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}, stdout ${JSON.stringify(r.stdout.slice(0, 500))}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`;
const ok = (r, what) => { check(r.code === 0 && !r.timedOut, `${what}: ${out(r)}`); return r; };
const bad = (r, what, re) => {
  check(r.code !== 0 && r.code !== null && !r.timedOut, `${what}: expected a non-zero exit, ${out(r)}`);
  if (re) check(re.test(r.stderr), `${what}: stderr should match ${re}: ${out(r)}`);
  return r;
};
const lineOf = (text, re) => text.split('\n').find((l) => re.test(l));
const parse = (r, what) => { try { return JSON.parse(r.stdout); } catch { throw new Error(`${what}: stdout is not JSON: ${out(r)}`); } };

test('ctl: routes, mode, report, memory, status: exit codes and key lines', async (ctx) => {
  const { p } = await ctlSetup(ctx);
  for (let i = 0; i < 3; i++) await get(p.port, `/news/${i}`);
  await get(p.port, '/about');

  let r = ok(await runCtl(p, ['routes']), 'ctl routes');
  check(/^route\s+requests\b.*\bmode\b/m.test(r.stdout), `ctl routes: header line: ${out(r)}`);
  let news = lineOf(r.stdout, /^news\s/);
  check(news && /^news\s+3\s/.test(news) && /\sssr\s+config\s*$/.test(news), `ctl routes: news line "news 3 ... ssr config": ${JSON.stringify(news)}`);
  r = ok(await runCtl(p, ['--json', 'routes']), 'ctl --json routes');
  eq(parse(r, 'ctl --json routes').routes.find((x) => x.name === 'news')?.requests, 3, 'ctl --json routes: news requests');
  r = ok(await runCtl(p, ['routes', '--json']), 'ctl routes --json (option after the command)');
  check(Array.isArray(parse(r, 'ctl routes --json').routes), 'ctl routes --json: routes array');

  r = ok(await runCtl(p, ['mode', 'news', 'csr']), 'ctl mode news csr');
  check(/^news: mode csr \(set by manual\)$/m.test(r.stdout), `ctl mode news csr: ${out(r)}`);
  eq((await routesByName(p)).news.mode, 'csr', 'news mode after ctl');
  news = lineOf((await runCtl(p, ['routes'])).stdout, /^news\s/);
  check(/\scsr\s+manual\s*$/.test(news), `ctl routes after the switch: ${JSON.stringify(news)}`);
  r = ok(await runCtl(p, ['--json', 'mode', 'news', 'ssr']), 'ctl --json mode news ssr');
  eq(parse(r, 'ctl --json mode').mode, 'ssr', 'ctl --json mode: mode in the JSON');
  bad(await runCtl(p, ['mode', 'api', 'csr']), 'ctl mode api csr (never_csr)', /never_csr/);
  bad(await runCtl(p, ['mode', 'about', 'csr']), 'ctl mode about csr (no fallback)', /fallback/);
  bad(await runCtl(p, ['mode', 'nosuch', 'csr']), 'ctl mode nosuch csr', /no such route/);
  bad(await runCtl(p, ['mode', 'news', 'off']), 'ctl mode news off', /csr or ssr/);
  bad(await runCtl(p, ['mode', 'news']), 'ctl mode news (no mode)');
  const all = await routesByName(p);
  eq(`${all.api.mode} ${all.about.mode} ${all.news.mode}`, 'ssr ssr ssr', 'modes after the refused switches');

  r = ok(await runCtl(p, ['report']), 'ctl report');
  check(/route/.test(r.stdout) && /news/.test(r.stdout), `ctl report names the routes: ${out(r)}`);
  r = ok(await runCtl(p, ['report', '--json']), 'ctl report --json');
  check(Array.isArray(parse(r, 'ctl report --json').findings), `ctl report --json: findings array: ${out(r)}`);
  r = ok(await runCtl(p, ['report', '--markdown']), 'ctl report --markdown');
  check(/^\| route \| verdict \|/.test(r.stdout) && /^\|---/m.test(r.stdout), `ctl report --markdown: a table: ${out(r)}`);
  r = ok(await runCtl(p, ['events']), 'ctl events');
  check(/mode\s+manual\s+route news set to csr by hand/.test(r.stdout) && /route news set to ssr by hand/.test(r.stdout),
    `ctl events lists the manual switches: ${out(r)}`);
  check(r.stdout.indexOf('set to ssr') < r.stdout.indexOf('set to csr'), `ctl events: newest first: ${out(r)}`);
  r = ok(await runCtl(p, ['memory']), 'ctl memory');
  const m = parse(r, 'ctl memory');
  eq(m.source, 'http', 'ctl memory: source');
  check(Array.isArray(m.workers), 'ctl memory: workers');
  r = ok(await runCtl(p, ['status']), 'ctl status');
  const s = parse(r, 'ctl status');
  check(typeof s.version === 'string' && s.version.length > 0, `ctl status: version: ${out(r)}`);

  bad(await runCtl(p, ['frobnicate']), 'ctl frobnicate', /unknown command/);
  bad(await runCtl(p, []), 'ctl without a command', /usage/);
  ok(await runBin(['ctl', '--help']), 'ctl --help');
  const dp = await deadPort();
  bad(await runBin(['ctl', '--admin', `127.0.0.1:${dp}`, 'routes']), 'ctl routes on a closed port', /cannot reach/);
  bad(await runBin(['ctl', '--admin', 'nonsense', 'routes']), 'ctl --admin nonsense');
});

test('ctl: probe ROUTE [--requests N] [--split] [--wait], probe, probe --abort', async (ctx) => {
  const { p } = await ctlSetup(ctx);
  bad(await runCtl(p, ['probe', 'news']), 'ctl probe news before any request', /no requests/);
  bad(await runCtl(p, ['probe', 'nosuch']), 'ctl probe nosuch', /no such route/);
  for (let i = 1; i <= 8; i++) await get(p.port, `/news/${i % 2 ? 1 : 2}`);
  let r = ok(await runCtl(p, ['probe', 'news', '--requests', '50', '--wait'], { timeout: 30000 }), 'ctl probe news --requests 50 --wait');
  check(/^probe news: done$/m.test(r.stdout), `ctl probe --wait: "probe news: done": ${out(r)}`);
  check(/^news: clean, /m.test(r.stdout), `ctl probe --wait: the summary "news: clean, ...": ${out(r)}`);
  r = ok(await runCtl(p, ['probe']), 'ctl probe (show)');
  check(/^probe news: done$/m.test(r.stdout), `ctl probe (show): ${out(r)}`);
  r = ok(await runCtl(p, ['--json', 'probe']), 'ctl --json probe');
  eq(parse(r, 'ctl --json probe').state, 'done', 'ctl --json probe: state');

  r = ok(await runCtl(p, ['probe', 'news', '--split', 'param:id', '--requests', '100', '--wait'], { timeout: 30000 }), 'ctl probe --split param:id --wait');
  check(/news leaks for param:id none; not for (1, 2|2, 1)/.test(r.stdout), `ctl probe --split: summary: ${out(r)}`);
  const j = (await adminCall(p, 'GET', '/api/probe')).json;
  eq(j.requests, 100, '--requests reached the API');
  eq(j.split, 'param:id', '--split reached the API');

  r = ok(await runCtl(p, ['probe', 'news', '--requests', '50000']), 'ctl probe news --requests 50000 (no wait)');
  eq(parse(r, 'ctl probe (running)').state, 'running', 'ctl probe without --wait: the running state');
  bad(await runCtl(p, ['probe', 'news']), 'ctl probe news while one runs', /running/);
  r = ok(await runCtl(p, ['probe', '--abort']), 'ctl probe --abort');
  eq(parse(r, 'ctl probe --abort').state, 'aborted', 'ctl probe --abort: state');
});

test('ctl: bisect ROUTES --round-seconds N [--wait], bisect, bisect --abort', async (ctx) => {
  const { p } = await ctlSetup(ctx);
  let r = ok(await runCtl(p, ['bisect']), 'ctl bisect (show, idle)');
  r = ok(await runCtl(p, ['bisect', 'news', 'home', '--round-seconds', '30']), 'ctl bisect news home --round-seconds 30');
  check(/^bisect: running/m.test(r.stdout), `ctl bisect start: "bisect: running": ${out(r)}`);
  check(/^\s*round\s+1 baseline\s+off \[\]: running$/m.test(r.stdout), `ctl bisect start: the first round: ${out(r)}`);
  check(/^leaking:\s*$/m.test(r.stdout), `ctl bisect start: "leaking:" line: ${out(r)}`);
  let j = (await adminCall(p, 'GET', '/api/bisect')).json;
  eq(j.round_seconds, 30, '--round-seconds reached the API');
  eq([...j.candidates].sort().join(','), 'home,news', 'candidates from the command line');
  r = ok(await runCtl(p, ['bisect']), 'ctl bisect (show, running)');
  check(/^bisect: running/m.test(r.stdout), `ctl bisect (show): ${out(r)}`);
  bad(await runCtl(p, ['bisect', 'news', '--round-seconds', '5']), 'ctl bisect while one runs', /running/);
  r = ok(await runCtl(p, ['bisect', '--abort']), 'ctl bisect --abort');
  check(/^bisect: aborted/m.test(r.stdout), `ctl bisect --abort: ${out(r)}`);
  eq((await adminCall(p, 'GET', '/api/bisect')).json.state, 'aborted', 'state after ctl bisect --abort');
  bad(await runCtl(p, ['bisect', 'nosuch', '--round-seconds', '2']), 'ctl bisect nosuch', /no route named/);
  bad(await runCtl(p, ['bisect', 'api', '--round-seconds', '2']), 'ctl bisect api (never_csr only)', /no candidate/);

  // a whole (flat) bisection, waited for
  const t0 = Date.now();
  r = ok(await runCtl(p, ['bisect', 'news', 'home', '--round-seconds', '2', '--wait'], { timeout: 40000 }), 'ctl bisect --round-seconds 2 --wait');
  check(/^bisect: done/m.test(r.stdout), `ctl bisect --wait: "bisect: done": ${out(r)}`);
  check(/^\s*round\s+1 baseline\s+off \[\]: baseline/m.test(r.stdout), `ctl bisect --wait: the baseline round: ${out(r)}`);
  check(/^\s*round\s+2 test\s+off \[\w+\]: cleared/m.test(r.stdout), `ctl bisect --wait: a cleared test round: ${out(r)}`);
  check(/^leaking:\s*$/m.test(r.stdout), `ctl bisect --wait: nothing leaking on a flat heap: ${out(r)}`);
  check(Date.now() - t0 < 30000, `ctl bisect --wait took ${Date.now() - t0} ms`);
  r = ok(await runCtl(p, ['--json', 'bisect']), 'ctl --json bisect');
  j = parse(r, 'ctl --json bisect');
  eq(j.state, 'done', 'ctl --json bisect: state');
  eq(j.leaking.length, 0, 'ctl --json bisect: leaking');
  const modes = await routesByName(p);
  for (const n of ['news', 'home']) eq(`${modes[n].mode}/${modes[n].mode_by}`, 'ssr/config', `${n} after ctl bisect`);

  // no memory source: refused with the reason
  const { p: p2 } = await ctlSetup(ctx, { memory: false });
  bad(await runCtl(p2, ['bisect', 'all', '--round-seconds', '2']), 'ctl bisect all without a memory source', /memory/);
  bad(await runCtl(p2, ['probe', 'news']), 'ctl probe without a memory source', /gc_url|forced GC/);
});

test('ctl: --admin=ADDR and --token=T forms; reals printed to at most 12 significant digits', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx, { heap: () => 20 * 1024 * 1024 + Math.floor(Math.random() * 1e6) });
  const p = await ctx.proxy({
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${up.port}`, admin: '127.0.0.1:0', admin_token: 's3cret-token-0123456789',
    routes: [{ name: 'news', match: '/news/:id' }],
    memory: { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 },
  });
  const admin = `127.0.0.1:${p.adminPort}`;
  for (let i = 0; i < 5; i++) await get(p.port, `/news/${i}`);
  await sleep(600);
  bad(await runBin(['ctl', `--admin=${admin}`, 'status']), 'ctl --admin=ADDR status without the token');
  let r = ok(await runBin(['ctl', `--admin=${admin}`, '--token=s3cret-token-0123456789', 'status']), 'ctl --admin=ADDR --token=T status');
  eq(parse(r, 'ctl status').version.length > 0, true, 'ctl --admin= status: version');
  ok(await runBin(['ctl', `--admin=${admin}`, '--token', 's3cret-token-0123456789', 'routes']), 'ctl --admin=ADDR --token T routes');
  r = ok(await runBin(['ctl', '--admin', admin, '--token=s3cret-token-0123456789', 'probe', 'news', '--requests=20', '--wait']),
    'ctl probe news --requests=20 --wait');
  check(/^probe news: done$/m.test(r.stdout), `ctl probe --requests=20 --wait: ${out(r)}`);
  const long = [];
  for (const cmd of [['memory'], ['status'], ['--json', 'routes'], ['--json', 'probe'], ['--json', 'report']]) {
    r = ok(await runBin(['ctl', `--admin=${admin}`, '--token=s3cret-token-0123456789', ...cmd]), `ctl ${cmd.join(' ')}`);
    for (const n of r.stdout.match(/-?\d+\.\d+(e[-+]?\d+)?/g) || [])
      if (n.split('e')[0].replace(/[-.]/g, '').replace(/^0+/, '').length > 12) long.push(`${cmd.join(' ')}: ${n}`);
  }
  eq(long.join('; '), '', 'reals with more than 12 significant digits');
});
