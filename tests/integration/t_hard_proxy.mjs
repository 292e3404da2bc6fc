// Hardening, second round: the forwarding path. Each case is a red-team
// reproduction that failed before its fix (docs/hardening.md, "Second round").
//   - dot segments and other spellings of a path must not reach what the
//     router, the reserved memory paths and the csr switch refused or matched;
//   - late bytes after a bodiless response (HEAD, 204, 304) never reach
//     another client;
//   - only safe methods are retried on a fresh connection;
//   - a client cannot make the proxy drop Host;
//   - a probe captures the request as it was forwarded;
//   - pipelined read-ahead is bounded over all clients.

import fs from 'node:fs';
import net from 'node:net';
import {
  test, get, request, hdr, hdrAll, check, eq, sleep, rawRequest, adminCall, pollUntil, startFakeMemory,
  routeStats, assertStillServes, baseConfig, VUE_SHELL, parseMetrics, metric, note,
} from './lib.mjs';

function memPathsConfig(upPort, fm, extra = {}) {
  return {
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${upPort}`, admin: '127.0.0.1:0',
    routes: [
      { name: 'home', match: '/' },
      { name: 'news', match: '/news/:id', mode: 'csr' },
      { name: 'rest', match: '/*' },
    ],
    fallback: { file: VUE_SHELL },
    memory: { source: 'http', url: fm.url, gc_url: `http://127.0.0.1:${fm.port}/__mem/gc?force=1`, interval_ms: 1000 },
    ...extra,
  };
}

const targets = (up) => up.requests.map((q) => `${q.method} ${q.target}`);

test('hard2: dot segments, %2e and backslashes in the path -> 400, never forwarded (reserved paths, csr routes)', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy(memPathsConfig(up.port, fm));
  const bad = ['/./__mem?gc=1', '/x/../__mem', '/%2e/__mem', '/%2E%2e/__mem', '/.%2E/__mem/gc', '/x\\..\\__mem',
    '/./news/1', '/news/x/../1', '/news/%2e', '/news/..', '/..', '/.'];
  for (const t of bad) {
    const r = await get(p.port, t);
    eq(r.status, 400, `GET ${t} status`);
  }
  // encodings of ordinary characters are matched as what they mean
  for (const t of ['/__MEM', '/_%5fmem', '/%5F%5Fmem/gc', '/__mem/GC?force=1']) {
    eq((await get(p.port, t)).status, 403, `GET ${t} status (a reserved path, spelled differently)`);
  }
  const r = await get(p.port, '/n%65ws/1');
  eq(r.status, 200, '/n%65ws/1 status');
  eq(hdr(r, 'x-leakproxy-mode'), 'csr', '/n%65ws/1 is the news route (csr): served the shell');
  // names that only look like dot segments are ordinary
  for (const t of ['/a.b', '/...', '/.well-known/x', '/x%2e.y']) eq((await get(p.port, t)).status, 200, `GET ${t}`);
  await sleep(50);
  eq(targets(up).join(','), 'GET /a.b,GET /...,GET /.well-known/x,GET /x%2e.y', 'requests at the upstream');
  await assertStillServes(p, '/about');
});

// A raw upstream: answers HEAD (and /nocontent with a 204) with a
// Content-Length and no body, then writes an injected response 30 ms later
// on the same connection. Every other request gets "ok <target>".
async function lateBytesUpstream(ctx) {
  const INJECT = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED';
  const seen = [];
  const server = net.createServer((s) => {
    let buf = '';
    s.on('error', () => {});
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, i);
        buf = buf.slice(i + 4);
        const [method, target] = head.split(' ');
        seen.push(`${method} ${target}`);
        if (method === 'HEAD' || target === '/nocontent') {
          s.write(method === 'HEAD' ? 'HTTP/1.1 200 OK\r\nContent-Length: 57\r\n\r\n' : 'HTTP/1.1 204 No Content\r\nContent-Length: 57\r\n\r\n');
          setTimeout(() => { if (!s.destroyed) s.write(INJECT); }, 30);
        } else {
          const body = `ok ${target}`;
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  ctx.defer(() => new Promise((r) => server.close(() => r())));
  ctx.defer(() => { for (const s of server._conns || []) s.destroy(); });
  return { port: server.address().port, seen };
}

test('hard2: late bytes after a HEAD or 204 answer never reach another client', async (ctx) => {
  const up = await lateBytesUpstream(ctx);
  const p = await ctx.proxy(baseConfig(up.port));
  let wrong = 0, n = 0;
  for (let round = 0; round < 10; round++) {
    const first = round % 2 ? request(p.port, 'HEAD', `/detail/h${round}`) : get(p.port, '/nocontent');
    const r0 = await first;
    check(r0.status === 200 || r0.status === 204, `bodiless answer status ${r0.status}`);
    // other clients, right away and while the late bytes arrive
    for (const delay of [0, 10, 40]) {
      await sleep(delay);
      const r = await get(p.port, `/detail/g${round}-${delay}`);
      n++;
      if (r.body.toString() !== `ok /detail/g${round}-${delay}`) wrong++;
    }
  }
  eq(wrong, 0, `responses of other clients that were not their own (of ${n})`);
  await assertStillServes(p, '/detail/ok', 200).catch(() => {});
});

test('hard2: a bodiless POST (also DELETE, PATCH) on a pooled connection the upstream closes is never sent twice', async (ctx) => {
  for (const method of ['POST', 'DELETE', 'PATCH']) {
    const up = await ctx.upstream((req, res) => {
      if (req.index >= 1) return res.destroy();     // reads the request, then closes unanswered
      res.send(200, [], `ok ${req.target}`);
    });
    const p = await ctx.proxy(baseConfig(up.port));
    eq((await get(p.port, '/detail/1')).status, 200, `${method}: first request pools the connection`);
    const r = await request(p.port, method, '/detail/act', { headers: [['Content-Length', '0']] });
    eq(r.status, 502, `${method} on the pooled connection the upstream closed`);
    await sleep(100);
    eq(up.requests.filter((q) => q.method === method).length, 1, `${method} requests received by the upstream`);
  }
  // a GET in the same situation is still retried (safe method)
  const up = await ctx.upstream((req, res) => {
    if (req.index >= 1) return res.destroy();
    res.send(200, [], `ok ${req.target}`);
  });
  const p = await ctx.proxy(baseConfig(up.port));
  await get(p.port, '/detail/1');
  eq((await get(p.port, '/detail/2')).status, 200, 'GET retried on a fresh connection');
});

test('hard2: Connection: host does not remove Host; other named headers are still dropped', async (ctx) => {
  const up = await ctx.upstream();
  const p = await ctx.proxy(baseConfig(up.port));
  const r = await request(p.port, 'GET', '/detail/1', { headers: [['Connection', 'host, x-drop'], ['X-Drop', '1'], ['X-Keep', '2']] });
  eq(r.status, 200, 'status');
  const q = up.requests[0];
  eq(hdrAll(q, 'host').length, 1, 'Host lines at the upstream');
  eq(hdr(q, 'x-drop'), undefined, 'X-Drop (named by Connection) at the upstream');
  eq(hdr(q, 'x-keep'), '2', 'X-Keep at the upstream');
  eq(hdr(q, 'x-forwarded-host'), hdr(q, 'host'), 'X-Forwarded-Host is the Host');
});

test('hard2: a probe replays requests as forwarded: no control header, no Connection-named header, no refused request', async (ctx) => {
  const up = await ctx.upstream();
  const fm = await startFakeMemory(ctx);
  const p = await ctx.proxy({
    listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${up.port}`, admin: '127.0.0.1:0',
    routes: [{ name: 'rest', match: '/*' }],
    fallback: { header: 'X-SSR-Off: 1' },
    memory: { source: 'http', url: fm.url, gc_url: fm.gc_url, interval_ms: 100, gc_interval_ms: 100 },
  });
  for (let i = 0; i < 8; i++) {
    const r = await request(p.port, 'GET', `/page/${i}`, { headers: [['X-SSR-Off', '1'], ['Connection', 'x-hop'], ['X-Hop', 'h'], ['X-Keep', 'k']] });
    eq(r.status, 200, `GET /page/${i}`);
  }
  for (const t of ['/__mem', '/__mem?gc=1']) eq((await get(p.port, t)).status, 403, `GET ${t}`);
  const live = up.requests.length;
  const s = await adminCall(p, 'POST', '/api/probe', { route: 'rest', requests: 20, block: 10, concurrency: 1 });
  eq(s.status, 200, `POST /api/probe: ${s.text}`);
  let j;
  await pollUntil(async () => { j = (await adminCall(p, 'GET', '/api/probe')).json; return j.state !== 'running'; },
    { timeout: 20000, interval: 200, what: 'the probe to end', describe: () => JSON.stringify(j).slice(0, 300) });
  const replays = up.requests.slice(live);
  check(replays.length >= 20, `replays at the upstream: ${replays.length}`);
  for (const q of replays) {
    check(/^\/page\/\d$/.test(q.target), `replayed target ${q.target} (a refused request was captured)`);
    eq(hdr(q, 'x-ssr-off'), undefined, `X-SSR-Off in the replay of ${q.target}`);
    eq(hdr(q, 'x-hop'), undefined, `X-Hop (named by Connection) in the replay of ${q.target}`);
    eq(hdr(q, 'x-keep'), 'k', `X-Keep in the replay of ${q.target}`);
  }
});

test('hard2: pipelined read-ahead is bounded over all clients (16 MiB), and every pipelined request is answered', async (ctx) => {
  // 600 clients each pipeline 128 KiB of requests behind a slow one: without
  // a global budget the proxy reads ~80 KiB ahead per client (~48 MB).
  const up = await ctx.upstream(async (req, res) => {
    if (req.target.startsWith('/detail/slow')) await sleep(2500);
    res.send(200, [], 'ok');
  });
  const p = await ctx.proxy(baseConfig(up.port, { limits: { max_connections: 2000 } }));
  const rss = () => +((/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8')) || [0, 0])[1]) * 1024;
  const pad = 'x'.repeat(4000);
  const one = `GET /detail/p HTTP/1.1\r\nHost: x\r\nX-Pad: ${pad}\r\n\r\n`;
  const clients = [];
  for (let i = 0; i < 20; i++) clients.push(await ctx.client(p.port));
  await sleep(100);
  const base = rss();
  for (let i = 0; i < 580; i++) clients.push(await ctx.client(p.port));
  for (let i = 0; i < clients.length; i++) {
    clients[i].sock.write(rawRequest('GET', `/detail/slow${i}`));
    clients[i].sock.write(one.repeat(32));
  }
  await sleep(1500);
  const grew = rss() - base;
  const m = parseMetrics((await adminCall(p, 'GET', '/metrics')).text);
  const ahead = metric(m, 'leakproxy_pipelined_bytes')[0]?.value;
  check(ahead <= 16 * 1024 * 1024 + 16384, `leakproxy_pipelined_bytes with 600 pipelining clients: ${ahead}`);
  check(ahead >= 8 * 1024 * 1024, `leakproxy_pipelined_bytes with 600 pipelining clients: ${ahead} (the load did not pipeline)`);
  note(`RSS growth ${(grew / 1048576).toFixed(1)} MB`);
  // the first client's 33 requests all get answers
  for (let k = 0; k < 33; k++) eq((await clients[0].readResponse(15000)).status, 200, `pipelined answer ${k}`);
}, { timeout: 60000 });
