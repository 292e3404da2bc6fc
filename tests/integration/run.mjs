#!/usr/bin/env node
// run.mjs -- leakproxy integration test runner.
//
//   node tests/integration/run.mjs [FILTER...]
//
// Imports every tests/integration/t_*.mjs, runs their cases one at a time
// (each starts and tears down its own upstream and proxy), prints `ok NAME`
// or `FAIL NAME: reason` per case and a last line
// `integration: N passed, M failed[, K skipped]`. Exits 1 if any case failed.
// FILTERs (substrings) select cases by name. Env: LEAKPROXY_BIN (default
// ./leakproxy, relative to the repository root), LEAKPROXY_IT_VERBOSE=1 to
// print the proxy's stderr tail for failures and timings for every case.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { registry, Ctx, BIN, VERBOSE, sleep } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);

async function main() {
  const files = fs.readdirSync(here).filter((f) => /^t_.*\.mjs$/.test(f)).sort();
  for (const f of files) {
    const before = registry.length;
    await import(pathToFileURL(path.join(here, f)).href);
    for (let i = before; i < registry.length; i++) registry[i].file = f;
  }
  const cases = registry.filter((c) => !filters.length || filters.some((s) => c.name.includes(s) || c.file.includes(s)));
  const names = new Set();
  for (const c of cases) { if (names.has(c.name)) throw new Error(`duplicate test name ${c.name}`); names.add(c.name); }

  let passed = 0, failed = 0, skipped = 0;
  const failures = [];
  const t0 = Date.now();
  if (!fs.existsSync(BIN)) {
    console.log(`FAIL setup: binary ${BIN} not found (build it with make, or set LEAKPROXY_BIN)`);
    console.log(`integration: 0 passed, ${cases.length} failed`);
    process.exit(1);
  }
  for (const c of cases) {
    const ctx = new Ctx(c.name);
    const start = Date.now();
    let err = null, skip = null;
    let timer;
    try {
      await Promise.race([
        Promise.resolve().then(() => c.fn(ctx)),
        new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${c.timeout} ms`)), c.timeout); }),
      ]);
    } catch (e) {
      if (e && e.skip) skip = e.message; else err = e;
    } finally { clearTimeout(timer); }
    await ctx.cleanup();
    if (!err && !skip && ctx.problems.length) err = new Error(ctx.problems.join('; '));
    const ms = Date.now() - start;
    const timing = VERBOSE ? ` (${ms} ms)` : '';
    if (skip) {
      skipped++;
      console.log(`skip ${c.name}: ${skip}${timing}`);
    } else if (err) {
      failed++;
      const reason = (err && err.message ? err.message : String(err)).replace(/\s*\n\s*/g, ' | ');
      console.log(`FAIL ${c.name}: ${reason}${timing}`);
      failures.push(c.name);
      if (VERBOSE) {
        for (const p of ctx.proxies) console.log(p.stderrTail(15).split('\n').map((l) => '    | ' + l).join('\n'));
        if (err.stack) console.log(err.stack.split('\n').slice(1, 4).map((l) => '    ' + l.trim()).join('\n'));
      }
    } else {
      passed++;
      console.log(`ok ${c.name}${timing}`);
    }
  }
  await sleep(10);
  if (VERBOSE) console.log(`# ${cases.length} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`integration: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL runner: ${e.stack || e}`);
  console.log('integration: 0 passed, 1 failed');
  process.exit(1);
});
