// app.js -- the React 18 SSR demo shop: renderToString for most pages, and
// renderToPipeableStream for /feed, whose sections arrive one by one (Suspense), so a proxy
// in front must pass the stream through as it comes. No JSX: h = React.createElement.
//
// Memory behaviours (see ../README.md for the table and measured ground truth):
//   /item/:id     leak: class component starts setInterval in componentWillMount      (LEAK_TIMER)
//   /ma.gif       leak: beacon endpoint adds queue.on('error') per request (not SSR)   (LEAK_LISTENER)
//   /user/:name   bounded cache: Map of CACHE_MAX profiles, then flat (not a leak)
//   /dashboard    one-time warm-up: WARMUP_MB built on the first request (not a leak)
//   /, /about, /detail/:id, /feed (streamed), POST /api/track   healthy
import React from 'react';
import { renderToString, renderToPipeableStream } from 'react-dom/server';
import { EventEmitter } from 'node:events';
import { fake, junk } from '../lib/data.mjs';
import { leakOn, leakKB, num, describe } from '../lib/config.mjs';
import { serve, send } from '../lib/server.mjs';

const h = React.createElement;
const APP = 'react';

// ---- layout ---------------------------------------------------------------------------
const NAV = [['/', 'Home'], ['/feed', 'Feed'], ['/detail/12', 'Detail'], ['/item/8', 'Flash sale'],
  ['/user/bo', 'Account'], ['/dashboard', 'Dashboard'], ['/about', 'About']];

function Card({ p }) {
  return h('div', { className: 'card' },
    h('h3', null, h('a', { href: `/detail/${p.id}` }, p.title)),
    h('p', null, p.blurb),
    h('p', null, h('span', { className: 'price' }, `¥${p.price}`), ' · ', '★'.repeat(p.rating)),
    h('ul', { className: 'tags' }, p.tags.map((t, i) => h('li', { key: i }, t))));
}
const Cards = ({ items }) => h('div', { className: 'cards' }, items.map((p, i) => h(Card, { key: i, p })));

function Doc({ title, path, children }) {
  const f = fake(`layout${path}`);
  const cats = Array.from({ length: 12 }, () => f.title());
  const cols = Array.from({ length: 4 }, () => ({ head: f.title(), links: Array.from({ length: 5 }, () => f.words(2)) }));
  return h('html', { lang: 'en' },
    h('head', null, h('meta', { charSet: 'utf-8' }),
      h('meta', { name: 'viewport', content: 'width=device-width, initial-scale=1' }),
      h('title', null, `${title} · React shop`), h('link', { rel: 'stylesheet', href: '/static/app.css' })),
    h('body', null,
      h('div', { id: 'app' }, h('div', { className: 'page' },
        h('header', { className: 'top' }, h('b', null, 'React shop'),
          h('nav', null, NAV.map(([href, label]) => h('a', { key: href, href, className: href === path ? 'on' : undefined }, label)))),
        h('nav', { className: 'side' }, h('h4', null, 'Categories'),
          h('ul', null, cats.map((c, i) => h('li', { key: i }, h('a', { href: `/detail/${100 + i}` }, c))))),
        h('main', null, h('h1', null, title), children),
        h('footer', null, cols.map((c, i) => h('div', { key: i, className: 'col' }, h('h5', null, c.head),
          h('ul', null, c.links.map((l, j) => h('li', { key: j }, l)))))))),
      h('script', { dangerouslySetInnerHTML: { __html: 'window.__APP__="react"' } }),
      h('script', { src: '/static/client.js', defer: true })));
}

// ---- healthy pages --------------------------------------------------------------------
function Home({ path }) {
  const f = fake(path);
  return [h('section', { key: 'h', className: 'hero' }, h('p', null, f.para(5))), h(Cards, { key: 'c', items: f.products(40) })];
}
function About({ path }) {
  const f = fake(path);
  return Array.from({ length: 20 }, (_, i) => h('section', { key: i }, h('h2', null, f.title()), h('p', null, f.para(6))));
}
function Detail({ path, id }) {
  const f = fake(path);
  const p = f.product(id);
  const specs = Array.from({ length: 20 }, () => [f.title(), f.words(4)]);
  return [h('section', { key: 's' }, h('h2', null, p.title), h('p', null, f.para(6)), h('p', { className: 'price' }, `¥${p.price}`)),
    h('table', { key: 't', className: 'specs' }, h('tbody', null, specs.map(([k, v], i) => h('tr', { key: i }, h('th', null, k), h('td', null, v))))),
    h('h3', { key: 'h' }, 'Customers also bought'), h(Cards, { key: 'c', items: f.products(28) })];
}

// ---- /feed: streamed with Suspense -------------------------------------------------------
// Each section "fetches" after the previous one (FEED_DELAY_MS apart), so the order in
// which React flushes them is fixed and the streamed bytes are identical on every request.
const FEED_DELAY = num('FEED_DELAY_MS', 40);
function feedSections(path) {
  const f = fake(path);
  let prev = Promise.resolve();
  return Array.from({ length: 6 }, (_, i) => {
    const s = { status: 'pending', title: f.title(), intro: f.para(3), items: f.products(7) };
    prev = s.promise = prev.then(() => new Promise((r) => setTimeout(r, FEED_DELAY))).then(() => { s.status = 'done'; });
    return s;
  });
}
function FeedSection({ s }) {
  if (s.status !== 'done') throw s.promise;   // React 18 Suspense protocol
  return h('section', { className: 'feed' }, h('h2', null, s.title), h('p', null, s.intro), h(Cards, { items: s.items }));
}
const Feed = ({ sections }) => sections.map((s, i) =>
  h(React.Suspense, { key: i, fallback: h('p', { className: 'loading' }, 'Loading…') }, h(FeedSection, { s })));

// ---- /item/:id: timer leak (as in a real React SSR incident) ----------------------------
// The flash-sale countdown starts its interval in componentWillMount, which React runs on
// the server too; componentWillUnmount never runs there. Each interval keeps the
// component, its props and the deal's price history alive, and keeps firing.
class Countdown extends React.Component {
  UNSAFE_componentWillMount() {
    this.left = this.props.deal.ends;
    if (leakOn('TIMER')) this.timer = setInterval(() => this.tick(), 10000);
  }
  componentWillUnmount() { clearInterval(this.timer); }
  tick() { this.left = Math.max(0, this.left - 10); this.low = Math.min(...this.props.deal.history.map((x) => x.i)); }
  render() {
    const d = this.props.deal;
    return h('section', { className: 'deal' }, h('h2', null, d.title), h('p', null, `Ends in ${d.ends} s · was ¥${d.was}, now ¥${d.now}`),
      h('p', null, d.text));
  }
}
function Item({ path, id }) {
  const f = fake(path);
  const deal = { id, title: f.title(), ends: f.int(60, 7200), was: f.price(), now: f.price(), text: f.para(8),
    history: junk(leakKB('TIMER')) };   // price history from the API: kept, not rendered
  return [h(Countdown, { key: 'd', deal }), h('h3', { key: 'h' }, 'More deals'), h(Cards, { key: 'c', items: f.products(36) })];
}

// ---- /user/:name: bounded cache (a trap: grows, then plateaus) -----------------------------
const CACHE_MAX = num('CACHE_MAX', 100), CACHE_KB = num('CACHE_KB', 40);
const profiles = new Map();
function profile(name) {
  let p = profiles.get(name);
  if (!p) {
    const f = fake(`/user/${name}`);
    p = { name, since: 2000 + f.int(0, 25), orders: Array.from({ length: 50 }, (_, i) => ({ no: 20000 + i, item: f.title(), price: f.price() })),
      prefs: junk(CACHE_KB) };
    profiles.set(name, p);
    if (profiles.size > CACHE_MAX) profiles.delete(profiles.keys().next().value);   // FIFO eviction
  }
  return p;
}
function User({ path, name }) {
  const p = profile(name), f = fake(path);
  return [h('p', { key: 'p' }, `${p.name}, member since ${p.since}`),
    h('table', { key: 't', className: 'orders' }, h('tbody', null, p.orders.map((o) => h('tr', { key: o.no },
      h('td', null, o.no), h('td', null, o.item), h('td', null, o.price))))),
    h('h3', { key: 'h' }, 'Recommended'), h(Cards, { key: 'c', items: f.products(20) })];
}

// ---- /dashboard: one-time warm-up (a trap) ------------------------------------------------
const WARMUP_MB = num('WARMUP_MB', 30);
let reportTables = null;
function Dashboard({ path }) {
  reportTables ||= junk(WARMUP_MB * 1024);   // loaded once, on the first visit
  const f = fake(path);
  const rows = Array.from({ length: 40 }, () => [f.title(), f.int(0, 9999), f.int(0, 100)]);
  return [h('p', { key: 'p' }, `${reportTables.length} report rows loaded. ${f.para(2)}`),
    h('table', { key: 't' }, h('tbody', null, rows.map((r, i) => h('tr', { key: i }, r.map((c, j) => h('td', { key: j }, c)))))),
    h(Cards, { key: 'c', items: f.products(20) })];
}

// ---- /ma.gif: listener leak on a beacon endpoint (as in a real Koa service) -----------------
// Every beacon adds an 'error' listener to the module-level report queue to log failures
// with the request's context; it is never removed. Node warns once (MaxListeners) and
// then the listeners, and the context each closes over, pile up.
const reportQueue = new EventEmitter();
const reported = [];
reportQueue.on('report', (r) => { reported.push(r.q); if (reported.length > 100) reported.shift(); });
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
function beacon(req, res, params, url) {
  const ctx = { q: url.search, ua: req.headers['user-agent'] || '', ref: req.headers.referer || '',
    session: junk(leakKB('LISTENER')) };
  if (leakOn('LISTENER')) reportQueue.on('error', (err) => console.error('beacon report failed', ctx.q, ctx.ua, err.message));
  reportQueue.emit('report', ctx);
  send(res, 200, 'image/gif', GIF, { 'Cache-Control': 'no-store' });
}

// ---- POST /api/track: healthy JSON API ----------------------------------------------
function track(req, res) {
  if (req.method !== 'POST') return send(res, 405, 'text/plain', 'POST only\n', { Allow: 'POST' });
  let n = 0; const parts = [];
  req.on('data', (c) => { n += c.length; if (n <= 65536) parts.push(c); });
  return new Promise((resolve) => req.on('end', () => {
    let ok = true;
    try { JSON.parse(Buffer.concat(parts).toString() || '{}'); } catch { ok = false; }
    send(res, ok ? 202 : 400, 'application/json', JSON.stringify({ ok, bytes: n }) + '\n');
    resolve();
  }));
}

// ---- rendering ------------------------------------------------------------------------
function render(res, title, path, Page, props) {
  const html = renderToString(h(Doc, { title, path }, h(Page, { path, ...props })));
  send(res, 200, 'text/html; charset=utf-8', `<!DOCTYPE html>\n${html}\n`);
}

function renderStream(res, title, path, Page, props) {
  return new Promise((resolve) => {
    const { pipe, abort } = renderToPipeableStream(h(Doc, { title, path }, h(Page, { path, ...props })), {
      onShellReady() {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        pipe(res);   // React writes the doctype itself for an <html> root
      },
      onShellError(err) { send(res, 500, 'text/plain', 'render failed\n'); console.error(err); resolve(); },
      onError(err) { console.error(`[react] stream ${path}:`, err); },
    });
    const timer = setTimeout(abort, 10000);   // give up on sections that never resolve
    res.on('close', () => { clearTimeout(timer); resolve(); });
  });
}

const page = (name, match, title, Page, props = () => ({}), how = render) => ({ name, match, ssr: true,
  handler: (req, res, p, url) => how(res, typeof title === 'function' ? title(p) : title, url.pathname, Page, props(p, url)) });

export const routes = [
  page('home', '/', 'Welcome', Home),
  page('about', '/about', 'About us', About),
  page('feed', '/feed', 'Your feed', Feed, (p, u) => ({ sections: feedSections(u.pathname) }), renderStream),
  page('detail', '/detail/:id', (p) => `Product ${p.id}`, Detail, (p) => ({ id: p.id })),
  page('item', '/item/:id', (p) => `Flash sale ${p.id}`, Item, (p) => ({ id: p.id })),
  page('user', '/user/:name', (p) => `Account of ${p.name}`, User, (p) => ({ name: p.name })),
  page('dashboard', '/dashboard', 'Dashboard', Dashboard),
  { name: 'beacon', match: '/ma.gif', ssr: false, handler: beacon },
  { name: 'track', match: '/api/track', ssr: false, handler: track },
];

serve({ appName: APP, routes, banner: () => ({ leaks: describe(['TIMER', 'LISTENER']),
  cache: { max: CACHE_MAX, kb: CACHE_KB, size: profiles.size }, warmup_mb: WARMUP_MB,
  retained: { error_listeners: reportQueue.listenerCount('error') } }) });
