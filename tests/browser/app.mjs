// app.mjs -- the upstream of the dashboard's browser test: a small real Node
// server (node --expose-gc app.mjs) whose route /leak/:id keeps about 64 KB of
// V8 heap per request forever, and whose other routes only make garbage. It
// reports its memory at /__mem (process.memoryUsage(), after a forced GC with
// ?gc=1) like the demo apps, and answers a client-side shell when leakproxy
// adds X-SSR-Off (a route switched to csr). Prints "listening on PORT".
import http from 'node:http';

const retained = [];
const shell = '<!doctype html><title>shell</title><div id="app"></div>\n';

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/__mem') {
    if (url.searchParams.get('gc') === '1' && typeof global.gc === 'function') global.gc();
    const body = JSON.stringify({ pid: process.pid, ...process.memoryUsage() });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  let body;
  if (req.headers['x-ssr-off']) body = shell;
  else {
    // some garbage per request, as a renderer makes
    const tmp = [];
    for (let i = 0; i < 200; i++) tmp.push({ i, s: `row ${i} ${url.pathname}` });
    body = `<!doctype html><title>${url.pathname.length}</title><p>${tmp.length} rows</p>\n`;
    if (url.pathname.startsWith('/leak/')) {
      // ~64 KB of heap kept per request: 8 arrays of 1000 numbers (8 bytes each)
      const keep = [];
      for (let k = 0; k < 8; k++) keep.push(new Array(1000).fill(retained.length + k + 0.5));
      retained.push(keep);
    }
  }
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
