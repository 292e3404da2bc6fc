// config.mjs -- the demo apps' switches, all from the environment.
//
//   LEAKS=off            turns every leak off (control run); traps (cache, warm-up) stay on
//   LEAK_<NAME>=0|off    turns one leak off, e.g. LEAK_BUS=0
//   LEAK_<NAME>_KB=n     bytes retained per leaking request, in KiB
//   CACHE_MAX, CACHE_KB  bounded cache: entries kept, KiB per entry
//   WARMUP_MB            one-time allocation on a route's first request (0 = none)
const env = process.env;
const isOff = (v) => v !== undefined && /^(0|off|false|no)$/i.test(v.trim());

/** Is leak <name> (BUS, TIMER, LISTENER, LIVE, NATIVE) switched on? */
export function leakOn(name) {
  if (isOff(env.LEAKS)) return false;
  return !isOff(env[`LEAK_${name}`]);
}

/** Integer setting <name> from the environment, <def> when unset or not a number >= 0. */
export function num(name, def) {
  const v = Number(env[name]);
  return env[name] !== undefined && env[name] !== '' && Number.isFinite(v) && v >= 0 ? v : def;
}

/** Summary printed at start-up and returned by /__config. */
export function describe(names) {
  const out = {};
  for (const n of names) out[n] = leakOn(n) ? `${num(`LEAK_${n}_KB`, DEFAULT_KB[n])} KiB` : 'off';
  return out;
}

/** Default leak sizes per request (KiB): a wide range on purpose, small leaks are the hard case. */
export const DEFAULT_KB = { BUS: 150, TIMER: 100, LISTENER: 8, LIVE: 16, NATIVE: 256 };
export const leakKB = (name) => num(`LEAK_${name}_KB`, DEFAULT_KB[name]);
