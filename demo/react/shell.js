// shell.js -- writes the client-side shell (the page without SSR) to dist/index.html,
// byte-identical to what the server answers to "X-SSR-Off: 1", so a proxy can serve it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { shellHtml } from '../lib/server.mjs';
const out = new URL('./dist/index.html', import.meta.url);
mkdirSync(new URL('./dist/', import.meta.url), { recursive: true });
writeFileSync(out, shellHtml('react'));
console.log(`wrote ${out.pathname}`);
