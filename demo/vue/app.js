// app.js -- the Vue 3 SSR demo shop: a fresh createSSRApp per request, rendered with
// @vue/server-renderer's renderToString. Components are render functions (h()), so no
// bundler or template compiler is involved.
//
// Memory behaviours (see ../README.md for the table and measured ground truth):
//   /news/:id     leak: component subscribes to a module-level event bus in created()   (LEAK_BUS)
//   /live/:id     leak only for live rooms (odd id): setInterval in created()            (LEAK_LIVE)
//   /gallery/:id  leak of native Buffers: RSS grows, heapUsed hardly moves               (LEAK_NATIVE)
//   /product/:id  bounded LRU cache: grows to CACHE_MAX entries, then flat (not a leak)
//   /search       one-time warm-up: WARMUP_MB built on the first request (not a leak)
//   /, /about, /products, /user/:name   healthy
import { createSSRApp, h, markRaw, toRaw } from 'vue';
import { renderToString } from '@vue/server-renderer';
import { fake, junk, nativeJunk, esc } from '../lib/data.mjs';
import { leakOn, leakKB, num, describe } from '../lib/config.mjs';
import { serve, send } from '../lib/server.mjs';

const APP = 'vue';

// ---- layout ---------------------------------------------------------------------------
const NAV = [['/', 'Home'], ['/products', 'Products'], ['/product/42', 'Product 42'], ['/news/7', 'News'],
  ['/live/3', 'Live'], ['/gallery/5', 'Gallery'], ['/search?q=camera', 'Search'], ['/user/ana', 'Account'], ['/about', 'About']];

const Card = (p) => h('div', { class: 'card' }, [
  h('h3', [h('a', { href: `/product/${p.id}` }, p.title)]),
  h('p', p.blurb),
  h('p', [h('span', { class: 'price' }, `¥${p.price}`), ' · ', '★'.repeat(p.rating)]),
  h('ul', { class: 'tags' }, p.tags.map((t) => h('li', t))),
]);

const Layout = {
  props: ['title', 'path'],
  setup(props, { slots }) {
    const f = fake(`layout${props.path}`);
    const cats = Array.from({ length: 12 }, () => f.title());
    const cols = Array.from({ length: 4 }, () => ({ head: f.title(), links: Array.from({ length: 5 }, () => f.words(2)) }));
    return () => h('div', { class: 'page' }, [
      h('header', { class: 'top' }, [h('b', 'Vue shop'),
        h('nav', NAV.map(([href, label]) => h('a', { href, ...(props.path === href ? { class: 'on' } : {}) }, label)))]),
      h('nav', { class: 'side' }, [h('h4', 'Categories'),
        h('ul', cats.map((c, i) => h('li', [h('a', { href: `/products?cat=${i}` }, c)])))]),
      h('main', [h('h1', props.title), slots.default()]),
      h('footer', cols.map((c) => h('div', { class: 'col' }, [h('h5', c.head), h('ul', c.links.map((l) => h('li', l)))]))),
    ]);
  },
};

// ---- healthy pages --------------------------------------------------------------------
const Home = { props: ['path'], setup(props) {
  const f = fake(props.path);
  const hero = f.para(5), items = f.products(40);
  return () => [h('section', { class: 'hero' }, [h('p', hero)]), h('div', { class: 'cards' }, items.map(Card))];
} };

const About = { props: ['path'], setup(props) {
  const f = fake(props.path);
  const sections = Array.from({ length: 20 }, () => ({ t: f.title(), p: f.para(6) }));
  return () => sections.map((s) => h('section', [h('h2', s.t), h('p', s.p)]));
} };

const Products = { props: ['path', 'cat'], setup(props) {
  const f = fake(`${props.path}?${props.cat}`);
  const items = f.products(52);
  return () => [h('p', `${items.length} products in category ${props.cat || 'all'}`), h('div', { class: 'cards' }, items.map(Card))];
} };

const User = { props: ['path', 'name'], setup(props) {
  const f = fake(props.path);
  const orders = Array.from({ length: 44 }, (_, i) => ({ no: 10000 + i, item: f.title(), price: f.price(), state: f.pick(['paid', 'shipped', 'delivered']) }));
  const recs = f.products(16);
  return () => [h('p', `Welcome back, ${props.name}. ${f.sentence()}`),
    h('table', { class: 'orders' }, [h('tr', [h('th', 'Order'), h('th', 'Item'), h('th', 'Price'), h('th', 'State')]),
      ...orders.map((o) => h('tr', [h('td', o.no), h('td', o.item), h('td', o.price), h('td', o.state)]))]),
    h('h2', 'Recommended'), h('div', { class: 'cards' }, recs.map(Card))];
} };

// ---- /news/:id: event-bus leak (as in a real Vue SSR incident) ----------------------------
// A module-level bus (Vue 3 dropped $on; apps use a mitt-style bus). The page subscribes in
// created(), which runs on the server; beforeUnmount() never does, so every rendered page's
// component instance -- its props, data and rendered tree -- stays reachable from the bus.
const bus = { handlers: new Map(),
  on(e, fn) { (this.handlers.get(e) || this.handlers.set(e, []).get(e)).push(fn); },
  off(e, fn) { const a = this.handlers.get(e); if (a) a.splice(a.indexOf(fn) >>> 0, 1); },
  emit(e, v) { for (const fn of this.handlers.get(e) || []) fn(v); } };

const News = {
  props: ['path', 'id'],
  data() {
    const f = fake(this.path);
    return { locale: 'en', article: { title: f.title(), body: Array.from({ length: 16 }, () => f.para()) },
      comments: Array.from({ length: 48 }, () => f.comment()),
      // the API response also carries tracking/analytics data that the page never renders
      raw: markRaw(junk(leakKB('BUS'))) };
  },
  created() { if (leakOn('BUS')) bus.on('locale-change', this.onLocale); },
  beforeUnmount() { bus.off('locale-change', this.onLocale); },   // client only: never runs in SSR
  methods: { onLocale(l) { this.locale = l; } },
  render() {
    return [h('article', [h('h2', this.article.title), ...this.article.body.map((p) => h('p', p))]),
      h('section', { class: 'comments' }, [h('h3', `${this.comments.length} comments`),
        h('ul', this.comments.map((c) => h('li', [h('b', c.author), ` (${c.likes}) `, c.text])))])];
  },
};

// ---- /live/:id: data-dependent timer leak (as in a real Nuxt incident) -------------------
// Only rooms with a live video (odd id) poll the viewer count; the interval is started in
// created() and cleared in beforeUnmount(), which SSR never calls. Even ids never leak.
// The callback closes over the room's data only (not the component), so each leak is
// small -- about LEAK_LIVE_KB -- and, averaged over the route, half that: the hard case.
const pollViewers = (room, chat) => (room.viewers || 0) + (chat.length % 7);   // stands for an API call
const Live = {
  props: ['path', 'id'],
  data() {
    const f = fake(this.path);
    const live = Number(this.id) % 2 === 1;
    return { room: { title: f.title(), live, host: f.person(), desc: f.para(5) }, viewers: f.int(10, 9000),
      schedule: Array.from({ length: 30 }, () => ({ t: f.title(), who: f.person() })),
      chat: live ? markRaw(junk(leakKB('LIVE'))) : null, picks: f.products(28) };
  },
  created() {
    if (this.room.live && leakOn('LIVE')) {
      const room = toRaw(this.room), chat = this.chat;
      this.poll = setInterval(() => { room.viewers = pollViewers(room, chat); }, 30000);
    }
  },
  beforeUnmount() { clearInterval(this.poll); },
  render() {
    return [h('section', { class: 'room' }, [h('h2', this.room.title),
      h('p', this.room.live ? `LIVE now with ${this.room.host} · ${this.viewers} watching` : `Offline · host ${this.room.host}`),
      h('p', this.room.desc)]),
      h('h3', 'Schedule'), h('ol', this.schedule.map((s) => h('li', `${s.t} — ${s.who}`))),
      h('h3', 'Shop the stream'), h('div', { class: 'cards' }, this.picks.map(Card))];
  },
};

// ---- /gallery/:id: native-memory leak (in RSS, not in the heap) ----------------------------
// Rendered thumbnail sprites are queued for a CDN upload that only the browser build drains.
// Buffers live outside the V8 heap: RSS and `external` grow, heapUsed barely does.
const pendingUploads = [];
const Gallery = { props: ['path', 'id'], setup(props) {
  const f = fake(props.path);
  const photos = Array.from({ length: 64 }, (_, i) => ({ src: `/img/${props.id}/${i}.jpg`, cap: f.sentence(6), by: f.person() }));
  const sprite = nativeJunk(leakKB('NATIVE'));
  if (leakOn('NATIVE')) pendingUploads.push({ id: props.id, sprite });
  return () => [h('p', f.para(3)), h('div', { class: 'cards' }, photos.map((p) =>
    h('figure', { class: 'card' }, [h('img', { src: p.src, alt: p.cap, width: 220, height: 160 }), h('figcaption', `${p.cap} (${p.by})`)])))];
} };

// ---- /product/:id: bounded LRU cache (a trap: grows, then plateaus) -----------------------
const CACHE_MAX = num('CACHE_MAX', 200), CACHE_KB = num('CACHE_KB', 20);
const productCache = new Map();
function loadProduct(id) {
  let e = productCache.get(id);
  if (e) { productCache.delete(id); productCache.set(id, e); return e; }
  const f = fake(`/product/${id}`);
  e = { product: f.product(id), specs: Array.from({ length: 16 }, () => [f.title(), f.words(4)]),
    reviews: Array.from({ length: 20 }, () => f.comment()), raw: junk(CACHE_KB) };
  productCache.set(id, e);
  if (productCache.size > CACHE_MAX) productCache.delete(productCache.keys().next().value);
  return e;
}
const Product = { props: ['path', 'id'], setup(props) {
  const e = loadProduct(props.id);
  const similar = fake(props.path).products(24);
  return () => [h('section', [h('h2', e.product.title), h('p', e.product.blurb), h('p', { class: 'price' }, `¥${e.product.price}`)]),
    h('table', { class: 'specs' }, e.specs.map(([k, v]) => h('tr', [h('th', k), h('td', v)]))),
    h('h3', 'Reviews'), h('ul', e.reviews.map((c) => h('li', [h('b', c.author), ' ', c.text]))),
    h('h3', 'Similar'), h('div', { class: 'cards' }, similar.map(Card))];
} };

// ---- /search: one-time warm-up (a trap: tens of MB once, never again) -----------------------
const WARMUP_MB = num('WARMUP_MB', 30);
let searchIndex = null;
function index() {
  if (!searchIndex) searchIndex = junk(WARMUP_MB * 1024);   // built on the first search only
  return searchIndex;
}
const Search = { props: ['path', 'q'], setup(props) {
  const n = index().length;
  const f = fake(`/search?${props.q}`);
  const hits = f.products(40);
  return () => [h('form', { action: '/search' }, [h('input', { name: 'q', value: props.q }), h('button', 'Search')]),
    h('p', `${hits.length} results for “${props.q}” (${n} documents indexed)`), h('div', { class: 'cards' }, hits.map(Card))];
} };

// ---- rendering ------------------------------------------------------------------------
async function render(res, title, path, Page, props) {
  const app = createSSRApp({ render: () => h(Layout, { title, path }, () => h(Page, { path, ...props })) });
  const html = await renderToString(app);
  send(res, 200, 'text/html; charset=utf-8',
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${esc(title)} · Vue shop</title><link rel="stylesheet" href="/static/app.css"></head>` +
    `<body><div id="app">${html}</div><script>window.__APP__="vue"</script>` +
    '<script src="/static/client.js" defer></script></body></html>\n');
}

const page = (name, match, title, Page, props = () => ({})) => ({ name, match, ssr: true,
  handler: (req, res, p, url) => render(res, typeof title === 'function' ? title(p, url) : title, url.pathname, Page, props(p, url)) });

export const routes = [
  page('home', '/', 'Welcome', Home),
  page('about', '/about', 'About us', About),
  page('products', '/products', 'All products', Products, (p, u) => ({ cat: u.searchParams.get('cat') || '' })),
  page('product', '/product/:id', (p) => `Product ${p.id}`, Product, (p) => ({ id: p.id })),
  page('user', '/user/:name', (p) => `Account of ${p.name}`, User, (p) => ({ name: p.name })),
  page('news', '/news/:id', (p) => `News ${p.id}`, News, (p) => ({ id: p.id })),
  page('live', '/live/:id', (p) => `Live room ${p.id}`, Live, (p) => ({ id: p.id })),
  page('gallery', '/gallery/:id', (p) => `Gallery ${p.id}`, Gallery, (p) => ({ id: p.id })),
  page('search', '/search', 'Search', Search, (p, u) => ({ q: u.searchParams.get('q') || '' })),
];

serve({ appName: APP, routes, banner: () => ({ leaks: describe(['BUS', 'LIVE', 'NATIVE']),
  cache: { max: CACHE_MAX, kb: CACHE_KB, size: productCache.size }, warmup_mb: WARMUP_MB,
  retained: { bus: bus.handlers.get('locale-change')?.length || 0, uploads: pendingUploads.length } }) });
