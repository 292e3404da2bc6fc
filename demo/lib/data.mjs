// data.mjs -- deterministic fake "backend data" for the demo apps.
//
// Every page is built from data seeded by its URL, so the same URL always renders
// the same bytes (the proxy test compares direct and proxied bodies byte for byte).
// junk() is the exception: it makes fresh, never-rendered payloads whose only job is
// to occupy a known number of bytes when a leak keeps them alive.
import { randomFillSync } from 'node:crypto';

/** mulberry32: tiny, fast, good enough for fake data; returns floats in [0,1). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string, as a 32-bit seed. */
export function seedOf(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) h = Math.imul(h ^ str.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const WORDS = ('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ' +
  'incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ' +
  'ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate ' +
  'velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt ' +
  'culpa qui officia deserunt mollit anim id est laborum market video live stream order parcel ' +
  'courier warehouse discount coupon member season fresh garden kitchen travel camera audio').split(' ');
const FIRST = ['Ana', 'Bo', 'Chen', 'Dara', 'Eli', 'Fei', 'Gus', 'Hana', 'Ivo', 'Jun', 'Kai', 'Lin'];
const LAST = ['Wang', 'Li', 'Zhang', 'Liu', 'Chen', 'Yang', 'Huang', 'Zhao', 'Wu', 'Zhou'];

/** A page-data generator bound to one seed string (usually the request path). */
export function fake(seedStr) {
  const r = rng(seedOf(seedStr));
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = (arr) => arr[Math.floor(r() * arr.length)];
  const words = (n) => Array.from({ length: n }, () => pick(WORDS)).join(' ');
  const sentence = (n = int(8, 16)) => { const s = words(n); return s[0].toUpperCase() + s.slice(1) + '.'; };
  const para = (n = int(3, 5)) => Array.from({ length: n }, () => sentence()).join(' ');
  const title = () => words(int(2, 5)).replace(/(^|\s)\w/g, (c) => c.toUpperCase());
  const person = () => `${pick(FIRST)} ${pick(LAST)}`;
  const price = () => (int(100, 99999) / 100).toFixed(2);
  const product = (id) => ({ id, title: title(), price: price(), rating: int(1, 5),
    blurb: sentence(), tags: [pick(WORDS), pick(WORDS), pick(WORDS)] });
  const products = (n, base = 1) => Array.from({ length: n }, (_, i) => product(base + int(0, 9999) * 10 + i));
  const comment = () => ({ author: person(), text: sentence(), likes: int(0, 300) });
  return { r, int, pick, words, sentence, para, title, person, price, product, products, comment };
}

/**
 * A fresh payload of about <kb> KiB of heap: an array of objects each holding a
 * ~1 KiB one-byte string (hex of random bytes, so nothing is shared or interned).
 * Stands for the part of an API response a page keeps but does not render.
 */
export function junk(kb) {
  const out = new Array(kb);
  const raw = Buffer.allocUnsafe(488);
  for (let i = 0; i < kb; i++) {
    randomFillSync(raw);
    out[i] = { i, text: raw.toString('hex') };   // 976 chars + headers ~ 1 KiB
  }
  return out;
}

/** A fresh native (off-heap) buffer of <kb> KiB, every page touched so it counts in RSS. */
export function nativeJunk(kb) {
  const b = Buffer.allocUnsafeSlow(kb * 1024);
  for (let off = 0; off < b.length; off += 4096) b[off] = off & 0xff;
  return b;
}

/** HTML-escape for the few strings the apps build by hand (shell, head). */
export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
