// Types for leakproxy-memory (zero-dependency; framework types are kept structural).
import type { IncomingMessage, ServerResponse, Server } from 'node:http';

export interface Options {
  /** Response header name; false disables the header. Default 'X-Leakproxy-Memory'. */
  header?: string | false;
  /** Endpoint path; false disables the endpoint. Default '/__leakproxy/memory'. */
  path?: string | false;
  /** Reuse one process.memoryUsage() reading for at most this long. Default 50. */
  maxAgeMs?: number;
  /** Who may use the endpoint; refused requests fall through to the app. Default: loopback/unix socket. */
  allow?: (req: IncomingMessage) => boolean;
}

export interface Reading {
  pid: number; rss?: number; heapUsed: number; heapTotal: number; external?: number;
  arrayBuffers?: number; heapLimit?: number; heapFloor?: number; gcSeq?: number;
  heapFloorAgeMs?: number; gc?: true; gc_ms?: number; gc_error?: string;
}

export interface EndpointResponse {
  status: number; headers: Record<string, string>; body: string;
  /** the X-Leakproxy-Memory value of this very reading ('; gc=1' after a forced GC) */
  memHeader?: string;
}

export interface Instance {
  hook(req: IncomingMessage, res: ServerResponse): boolean;
  hookHeader(res: ServerResponse): void;
  headerValue(): string;
  endpointResponse(req: IncomingMessage): EndpointResponse | null;
  fixHeader(res: ServerResponse, r: EndpointResponse): void;
  reading(opts?: { gc?: boolean }): Reading;
  invalidate(): void;
  options: Options;
}

export function create(opts?: Options): Instance;
export function attach<S extends Server>(server: S, opts?: Options): S;
export function wrap<H extends (req: IncomingMessage, res: ServerResponse) => unknown>(handler: H, opts?: Options): H;
export function middleware(opts?: Options): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
export const express: typeof middleware;
export const connect: typeof middleware;
export function koa(opts?: Options): (ctx: any, next: () => Promise<unknown>) => Promise<unknown>;
export function egg(opts?: Options & { enable?: boolean; match?: unknown; ignore?: unknown }, app?: unknown): ReturnType<typeof koa>;
export function nitro(opts?: Options): (event: { node: { req: IncomingMessage; res: ServerResponse } }) => undefined;
export function vite(opts?: Options): { name: string; configureServer(server: any): void; configurePreviewServer(server: any): void };
export function headerValue(): string;
export function reading(opts?: { gc?: boolean }): Reading;
/** Force a major GC (needs --expose-gc) and record the heap right after it as the floor; ms or -1. */
export function forceGc(): number;
export function start(): void;
export function stop(): void;
export function isLocalRequest(req: IncomingMessage): boolean;
export const DEFAULTS: Readonly<Required<Options>>;

declare const _default: {
  attach: typeof attach; wrap: typeof wrap; middleware: typeof middleware; express: typeof middleware;
  connect: typeof middleware; koa: typeof koa; egg: typeof egg; nitro: typeof nitro; vite: typeof vite;
  create: typeof create; headerValue: typeof headerValue; reading: typeof reading; forceGc: typeof forceGc; start: typeof start;
  stop: typeof stop; isLocalRequest: typeof isLocalRequest; DEFAULTS: typeof DEFAULTS;
};
export default _default;
