// ESM entry of leakproxy-memory: the same functions as the CommonJS index.js.
import cjs from './index.js';

export const {
  attach, wrap, middleware, express, connect, koa, egg, nitro, vite,
  create, headerValue, reading, forceGc, start, stop, isLocalRequest, DEFAULTS,
} = cjs;
export default cjs;
