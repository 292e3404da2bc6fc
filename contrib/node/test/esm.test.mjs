// The ESM entry exports the same functions as the CommonJS one.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import lp, { attach, wrap, middleware, koa, egg, nitro, vite, create, headerValue, reading } from '../index.mjs';

const cjs = createRequire(import.meta.url)('../index.js');
const HEADER_RE = /^pid=\d+(; (rss|heap_used|heap_total|external|array_buffers|floor|gc_seq|heap_limit|gc)=\d+)*$/;

test('ESM wrapper re-exports the CommonJS module', () => {
  assert.equal(lp, cjs);
  for (const [k, f] of Object.entries({ attach, wrap, middleware, koa, egg, nitro, vite, create, headerValue, reading }))
    assert.equal(f, cjs[k], k);
  assert.match(headerValue(), HEADER_RE);
  assert.equal(reading().pid, process.pid);
});

test('package.json: zero dependencies, both entry points', async () => {
  const pkg = createRequire(import.meta.url)('../package.json');
  assert.equal(pkg.name, 'leakproxy-memory');
  for (const k of ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'])
    assert.ok(!pkg[k] || Object.keys(pkg[k]).length === 0, k);
  assert.equal(pkg.exports['.'].import, './index.mjs');
  assert.equal(pkg.exports['.'].require, './index.js');
});
