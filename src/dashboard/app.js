/* leakproxy dashboard: reads the admin API every 2 s and draws it.
 * Everything from the API is untrusted text: the DOM is built with
 * createElement/textContent only (never innerHTML), route names are
 * URL-encoded in API paths. Charts are plain SVG. No build step. */
'use strict';
(function () {
  var POLL_MS = 2000, HIST_MAX = 90, MEM_MAX = 20000, EVENTS_MAX = 500;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var COLORS = ['#2166ac', '#d6604d', '#1b7837', '#762a83', '#e08214', '#35978f', '#8c510a', '#c51b7d'];
  var RANK = { leaking: 5, suspect: 4, warming: 3, unknown: 2, clean: 1 };
  var MARK = { trip: 'guard', switch: 'guard', restore: 'guard', refused: 'guard', recovered: 'guard', narrow: 'guard',
    mode: 'mode', bisect: 'bisect', probe: 'bisect', restart: 'restart', reload: 'restart' };

  var S = {
    token: sget('token') || '',
    auth: false, timer: 0, busy: false, tick: 0, fail: null,
    routes: [], rows: new Map(), hist: new Map(), open: new Set(), order: '',
    sort: parseSort(sget('sort')),
    mem: { workers: new Map(), last: 0, info: null, day: null, dayAt: 0 },
    events: new Map(), lastEvent: 0, eventsOk: null, eventsCheck: 0,
    status: null, report: null, bisect: null, probe: null, probeRoutes: '',
    confirm: null
  };

  function sget(k) { try { return sessionStorage.getItem('leakproxy.' + k); } catch (e) { return null; } }
  function sset(k, v) { try { if (v == null) sessionStorage.removeItem('leakproxy.' + k); else sessionStorage.setItem('leakproxy.' + k, v); } catch (e) { /* private mode */ } }
  function parseSort(s) {
    var m = /^(\w+):(-?1)$/.exec(s || '');
    return m ? { key: m[1], dir: +m[2] } : { key: 'verdict', dir: -1 };
  }

  /* ---- DOM helpers (text only) ---------------------------------------- */

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var k = arguments[i];
      if (k == null) continue;
      parent.appendChild(typeof k === 'object' ? k : document.createTextNode(String(k)));
    }
    return parent;
  }
  function sv(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) if (attrs[k] != null) e.setAttribute(k, attrs[k]);
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function setText(e, t) { t = t == null ? '' : String(t); if (e.textContent !== t) e.textContent = t; }
  function badge(text, kind) { return el('span', 'badge b-' + (kind || text), text); }

  /* ---- formatting ----------------------------------------------------- */

  function bytes(v) {
    if (v == null || !isFinite(v)) return '–';
    var a = Math.abs(v);
    if (a >= 1073741824) return (v / 1073741824).toFixed(2) + ' GB';
    if (a >= 1048576) return (v / 1048576).toFixed(1) + ' MB';
    if (a >= 1024) return (v / 1024).toFixed(1) + ' KB';
    return Math.round(v) + ' B';
  }
  function ms(v) {
    if (v == null || !isFinite(v)) return '–';
    return v >= 100 ? v.toFixed(0) + ' ms' : v >= 10 ? v.toFixed(1) + ' ms' : v.toFixed(2) + ' ms';
  }
  function num(v) { return v == null ? '–' : Number(v).toLocaleString('en-US'); }
  function pad(n) { return n < 10 ? '0' + n : '' + n; }
  function clock(t) { var d = new Date(t); return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); }
  function when(t) {
    var d = new Date(t), now = new Date();
    return d.toDateString() === now.toDateString() ? clock(t) : d.toISOString().slice(0, 10) + ' ' + clock(t);
  }
  function dur(s) {
    if (s == null || !isFinite(s)) return '–';
    if (s < 90) return Math.round(s) + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' days';
  }

  /* ---- API ------------------------------------------------------------ */

  function ApiError(status, msg) { this.status = status; this.message = msg; }

  function api(method, path, body) {
    var ac = new AbortController(), timer = setTimeout(function () { ac.abort(); }, 10000);
    var opt = { method: method, headers: {}, cache: 'no-store', signal: ac.signal };
    if (S.token) opt.headers.Authorization = 'Bearer ' + S.token;
    if (body !== undefined) { opt.headers['Content-Type'] = 'application/json'; opt.body = JSON.stringify(body); }
    return fetch(path, opt).then(function (res) {
      return res.text().then(function (t) {
        clearTimeout(timer);
        var j = null;
        try { j = JSON.parse(t); } catch (e) { /* not JSON */ }
        if (res.status === 401) { needAuth(S.token ? 'That token was refused.' : ''); throw new ApiError(401, 'token needed'); }
        if (!res.ok) throw new ApiError(res.status, (j && j.error) || res.status + ' ' + res.statusText);
        if (j === null) throw new ApiError(res.status, 'the answer is not JSON');
        return j;
      });
    }, function (e) { clearTimeout(timer); throw new ApiError(0, 'cannot reach leakproxy (' + (e.name === 'AbortError' ? 'no answer in 10 s' : e.message) + ')'); });
  }
  function routePath(name) { return '/api/routes/' + encodeURIComponent(name); }

  function needAuth(msg) {
    S.auth = true;
    $('auth').hidden = false;
    setText($('auth-msg'), msg);
    setText($('live'), 'token needed');
    $('live').className = 'live bad';
    if (document.activeElement !== $('auth-token')) $('auth-token').focus();
  }
  $('auth-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    S.token = $('auth-token').value.trim();
    sset('token', S.token || null);
    $('auth-token').value = '';
    S.auth = false;
    $('auth').hidden = true;
    poll();
  });

  /* ---- polling -------------------------------------------------------- */

  function schedule() {
    clearTimeout(S.timer);
    if (!document.hidden && !S.auth) S.timer = setTimeout(poll, POLL_MS);
  }

  function poll() {
    clearTimeout(S.timer);
    if (S.busy || S.auth) return;
    if (document.hidden) { liveState('paused (tab hidden)', 'idle'); return; }
    S.busy = true;
    S.tick++;
    var jobs = [loadRoutes(), loadMemory(), loadStatus(), loadBisect(), loadProbe()];
    if (S.eventsOk !== false || S.tick - S.eventsCheck >= 15) jobs.push(loadEvents());
    if (S.tick % 5 === 1) jobs.push(loadReport());
    Promise.all(jobs.map(function (p) { return p.then(function () { return null; }, function (e) { return e; }); }))
      .then(function (errs) {
        S.busy = false;
        var bad = errs.filter(function (e) { return e && e.status !== 401; });
        drawChart();
        drawMarkers();
        if (S.auth) return;
        if (bad.length) liveState('error: ' + bad[0].message, 'bad');
        else liveState('live · updated ' + clock(Date.now()), 'ok');
        schedule();
      });
  }
  function liveState(text, kind) { setText($('live'), text); $('live').className = 'live ' + kind; }

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) { clearTimeout(S.timer); liveState('paused (tab hidden)', 'idle'); }
    else poll();
  });

  /* ---- status, guard, projection -------------------------------------- */

  /* leakproxy restarted: event ids and counters start again */
  function restarted() {
    S.events.clear();
    S.lastEvent = 0;
    S.hist.clear();
    clear($('event-list'));
  }

  function loadStatus() {
    return api('GET', '/api/status').then(function (j) {
      if (S.status && j.uptime_s < S.status.uptime_s) restarted();
      S.status = j;
      var info = 'v' + j.version + ' · up ' + dur(j.uptime_s) + ' · upstream ' + j.upstream +
        ' · ' + num(j.connections && j.connections.current) + ' connections';
      setText($('hdr-info'), info);
      drawGuard(j.guard);
    });
  }

  function kv(dl, k, v) { add(dl, el('dt', null, k), v instanceof Node ? add(el('dd'), v) : el('dd', null, v)); }

  function drawGuard(g) {
    var body = clear($('guard-body'));
    if (!g || !g.enabled) {
      body.className = 'muted';
      add(body, 'No guard configured ("guard" in the config): nothing switches routes off automatically.');
      return;
    }
    body.className = '';
    var state = g.tripped ? 'tripped' : 'armed';
    var head = add(el('div', 'guard-state'), badge(state, state));
    if (g.dry_run) add(head, ' ', badge('dry run', 'dry'));
    add(body, head);
    if (g.high_bytes) {
      var max = Math.max(g.high_bytes * 1.15, g.current_bytes || 0);
      var bar = el('div', 'gauge'), fill = el('div', 'gauge-fill' + (g.current_bytes >= g.high_bytes ? ' over' : ''));
      fill.style.width = Math.min(100, 100 * (g.current_bytes || 0) / max) + '%';
      var hi = el('div', 'gauge-mark hi'); hi.style.left = (100 * g.high_bytes / max) + '%'; hi.title = 'high ' + bytes(g.high_bytes);
      add(bar, fill, hi);
      if (g.low_bytes) { var lo = el('div', 'gauge-mark lo'); lo.style.left = (100 * g.low_bytes / max) + '%'; lo.title = 'low ' + bytes(g.low_bytes); add(bar, lo); }
      add(body, bar);
    }
    var dl = el('dl', 'kv');
    kv(dl, g.metric || 'memory', bytes(g.current_bytes) + (g.worker ? ' (worker ' + g.worker + ')' : ''));
    kv(dl, 'trips at', bytes(g.high_bytes) + ', restores below ' + bytes(g.low_bytes));
    kv(dl, 'switched off', g.switched && g.switched.length ? g.switched.join(', ') : 'none');
    kv(dl, 'switches', (g.switches_last_hour || 0) + ' in the last hour (at most ' + (g.max_switches_per_hour == null ? '–' : g.max_switches_per_hour) + ')');
    add(body, dl);
  }

  function loadReport() {
    return api('GET', '/api/report').then(function (j) {
      S.report = j;
      var body = clear($('proj-body'));
      var p = j.engine && j.engine.projection;
      if (!p) {
        body.className = 'muted';
        add(body, 'No projection yet: it needs a memory source and a few minutes of readings.');
        return;
      }
      body.className = '';
      var dl = el('dl', 'kv');
      kv(dl, p.metric, bytes(p.current_bytes) + ' now');
      kv(dl, 'growth', bytes(p.growth_bytes_per_s * 60) + ' per minute');
      kv(dl, 'limit', p.limit_bytes ? bytes(p.limit_bytes) + ' (' + p.limit_source + ')' : 'unknown (set memory.limit_bytes)');
      var t = p.minutes_to_limit;
      var big = el('div', 'proj-big ' + (t != null && t < 60 ? 'bad' : t != null && t < 360 ? 'warn' : p.limit_bytes ? 'ok' : 'muted'),
        t != null ? 'limit in about ' + dur(t * 60) : p.limit_bytes ? 'not approaching the limit' : 'no known limit');
      add(body, big, dl);
    });
  }

  /* ---- routes --------------------------------------------------------- */

  var COLS = [
    { key: 'name', label: 'route' },
    { key: 'requests', label: 'requests', num: true },
    { key: 'rate', label: 'rate /s', num: true },
    { key: 'p50', label: 'p50', num: true },
    { key: 'p99', label: 'p99', num: true },
    { key: 'trend', label: 'p99 trend', num: true, title: 'p99 over the last minutes, from successive polls' },
    { key: 'retained', label: 'retained / request', num: true, title: 'bytes each request leaves behind, with the 95 % interval' },
    { key: 'verdict', label: 'verdict' },
    { key: 'mode', label: 'mode' }
  ];

  function buildHead() {
    var tr = clear($('route-head'));
    COLS.forEach(function (c) {
      var th = el('th', c.num ? 'num' : null), b = el('button', 'sort', c.label);
      b.type = 'button';
      if (c.title) b.title = c.title;
      b.addEventListener('click', function () {
        S.sort = S.sort.key === c.key ? { key: c.key, dir: -S.sort.dir } : { key: c.key, dir: c.key === 'name' ? 1 : -1 };
        sset('sort', S.sort.key + ':' + S.sort.dir);
        buildHead();
        drawRoutes();
      });
      if (S.sort.key === c.key) {
        th.setAttribute('aria-sort', S.sort.dir > 0 ? 'ascending' : 'descending');
        add(b, S.sort.dir > 0 ? ' ▲' : ' ▼');
      }
      tr.appendChild(add(th, b));
    });
  }

  function estimateOf(r) {
    var e = r.estimate || {};
    return e[r.verdict_metric] || e.heap_used || e.rss || e.external || null;
  }

  function loadRoutes() {
    return api('GET', '/api/routes').then(function (j) {
      var now = performance.now(), names = new Set();
      S.routes = j.routes || [];
      S.routes.forEach(function (r) {
        names.add(r.name);
        var h = S.hist.get(r.name) || [];
        if (h.length && r.requests < h[h.length - 1].req) h = [];      /* counters restarted */
        h.push({ t: now, req: r.requests, p50: r.latency_ms && r.latency_ms.p50, p99: r.latency_ms && r.latency_ms.p99 });
        if (h.length > HIST_MAX) h.shift();
        S.hist.set(r.name, h);
        var k = 0;
        while (k < h.length - 1 && now - h[k].t > 10500) k++;       /* rate over the last ~10 s */
        r._rate = k < h.length - 1 ? (r.requests - h[k].req) * 1000 / (now - h[k].t) : null;
        r._trend = h.length > 1 && h[0].p99 != null ? h[h.length - 1].p99 - h[0].p99 : null;
      });
      S.hist.forEach(function (v, k) { if (!names.has(k)) S.hist.delete(k); });
      drawRoutes();
      syncProbeRoutes();
    });
  }

  function sortValue(r, key) {
    switch (key) {
      case 'name': return r.name;
      case 'requests': return r.requests;
      case 'rate': return r._rate;
      case 'p50': return r.latency_ms && r.latency_ms.p50;
      case 'p99': return r.latency_ms && r.latency_ms.p99;
      case 'trend': return r._trend;
      case 'retained': var e = estimateOf(r); return e ? e.bytes_per_request : null;
      case 'verdict': return RANK[r.verdict] || 0;
      case 'mode': return (r.mode === 'csr' ? 2 : 0) + (r.mode_by !== 'config' ? 1 : 0);
    }
    return null;
  }
  function compare(a, b) {
    var k = S.sort.key, d = S.sort.dir, x = sortValue(a, k), y = sortValue(b, k);
    if (x == null && y != null) return 1;                          /* missing values last */
    if (y == null && x != null) return -1;
    if (x != null && x !== y) return (typeof x === 'string' ? x.localeCompare(y) : x - y) * d;
    if (k !== 'retained') {                                         /* then by retained bytes */
      var ea = estimateOf(a), eb = estimateOf(b);
      var va = ea ? ea.bytes_per_request : -Infinity, vb = eb ? eb.bytes_per_request : -Infinity;
      if (va !== vb) return vb - va;
    }
    if ((a.name === '_other') !== (b.name === '_other')) return a.name === '_other' ? 1 : -1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  }

  function drawRoutes() {
    var body = $('route-body');
    if (!$('route-head').firstChild) buildHead();
    var list = S.routes.slice().sort(compare), seen = new Set();
    list.forEach(function (r) {
      seen.add(r.name);
      var row = S.rows.get(r.name);
      if (!row) { row = makeRow(r.name); S.rows.set(r.name, row); }
      updateRow(row, r);
    });
    S.rows.forEach(function (row, name) {
      if (!seen.has(name)) { row.tr.remove(); row.detail.remove(); S.rows.delete(name); S.open.delete(name); }
    });
    var order = list.map(function (r) { return r.name; }).join('\n');
    if (order !== S.order) {                                        /* move rows only when the order changed */
      S.order = order;
      list.forEach(function (r) { var row = S.rows.get(r.name); body.appendChild(row.tr); body.appendChild(row.detail); });
    }
    var leaking = list.filter(function (r) { return r.verdict === 'leaking'; }).length;
    setText($('routes-note'), list.length + ' routes' + (leaking ? ' · ' + leaking + ' leaking' : ''));
  }

  function makeRow(name) {
    var row = { name: name, tr: el('tr', 'route'), detail: el('tr', 'detail'), cells: {}, key: '' };
    row.tr.dataset.route = name;
    row.detail.hidden = !S.open.has(name);
    COLS.forEach(function (c) { row.cells[c.key] = row.tr.appendChild(el('td', 'c-' + c.key + (c.num ? ' num' : ''))); });
    var nb = el('button', 'name');
    nb.type = 'button';
    row.arrow = nb.appendChild(el('span', 'arrow', S.open.has(name) ? '▾' : '▸'));
    add(nb, ' ', el('span', 'rname', name));
    nb.setAttribute('aria-expanded', S.open.has(name) ? 'true' : 'false');
    nb.addEventListener('click', function () {
      var open = !S.open.has(name);
      if (open) S.open.add(name); else S.open.delete(name);
      row.detail.hidden = !open;
      row.arrow.textContent = open ? '▾' : '▸';
      nb.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (open) { row.key = ''; updateDetail(row, row.r); }
    });
    row.match = el('div', 'match muted');
    add(row.cells.name, nb, row.match);
    row.spark = row.cells.trend.appendChild(sv('svg', { class: 'spark', viewBox: '0 0 90 22', width: 90, height: 22 }));
    row.ret = row.cells.retained.appendChild(el('div', 'ret'));
    row.iv = row.cells.retained.appendChild(el('div', 'iv muted'));
    row.metric = row.cells.retained.appendChild(el('div', 'iv muted'));
    row.badge = row.cells.verdict.appendChild(el('span'));
    row.reason = row.cells.verdict.appendChild(el('div', 'reason'));
    row.mode = row.cells.mode.appendChild(el('span'));
    row.by = row.cells.mode.appendChild(el('span', 'by muted'));
    row.toggle = row.cells.mode.appendChild(el('button', 'toggle'));
    row.toggle.type = 'button';
    row.toggle.addEventListener('click', function () { askMode(row.r); });
    row.detail.appendChild(el('td')).colSpan = COLS.length;
    return row;
  }

  function updateRow(row, r) {
    row.r = r;
    var c = row.cells, e = estimateOf(r);
    setText(row.match, r.match || (r.name === '_other' ? 'unmatched paths' : ''));
    setText(c.requests, num(r.requests));
    setText(c.rate, r._rate == null ? '…' : r._rate.toFixed(r._rate < 10 ? 1 : 0));
    setText(c.p50, r.requests ? ms(r.latency_ms && r.latency_ms.p50) : '–');
    setText(c.p99, r.requests ? ms(r.latency_ms && r.latency_ms.p99) : '–');
    drawSpark(row.spark, r.requests ? S.hist.get(r.name) || [] : []);
    setText(row.ret, e ? bytes(e.bytes_per_request) : '–');
    setText(row.iv, e ? bytes(e.low) + ' … ' + bytes(e.high) : '');
    setText(row.metric, e && r.verdict_metric ? r.verdict_metric : '');
    row.ret.title = e ? '95 % interval ' + bytes(e.low) + ' to ' + bytes(e.high) + ' over ' + num(e.requests) + ' requests' : '';
    var v = r.verdict || 'unknown';
    setText(row.badge, v);
    row.badge.className = 'badge b-' + (RANK[v] ? v : 'unknown');
    var next = r.next_step ? ' — next: ' + r.next_step.experiment.replace('_', ' ') : '';
    setText(row.reason, (r.reason || '') + next);
    row.reason.title = (r.reason || '') + (r.next_step ? '\nnext step (' + r.next_step.experiment + '): ' + r.next_step.how : '');
    row.tr.className = 'route v-' + (RANK[v] ? v : 'unknown') + (r.mode === 'csr' ? ' csr' : '');
    setText(row.mode, r.mode);
    row.mode.className = 'badge b-' + (r.mode === 'csr' ? 'csr' : 'ssr');
    setText(row.by, (r.mode_by ? ' by ' + r.mode_by : '') + (r.never_csr ? ' · never_csr' : ''));
    var to = r.mode === 'csr' ? 'ssr' : 'csr';
    setText(row.toggle, 'to ' + to);
    row.toggle.dataset.to = to;
    row.toggle.title = to === 'csr' ? 'switch server rendering off for this route' : 'switch server rendering back on';
    if (!row.detail.hidden) updateDetail(row, r);
  }

  function drawSpark(svg, h) {
    clear(svg);
    var pts = h.filter(function (p) { return p.p99 != null; });
    if (pts.length < 2) return;
    var lo = Infinity, hi = -Infinity;
    pts.forEach(function (p) { lo = Math.min(lo, p.p50 == null ? p.p99 : p.p50); hi = Math.max(hi, p.p99); });
    if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    var t0 = pts[0].t, t1 = pts[pts.length - 1].t;
    function line(key, cls) {
      var d = pts.filter(function (p) { return p[key] != null; }).map(function (p) {
        return ((p.t - t0) / (t1 - t0) * 88 + 1).toFixed(1) + ',' + (21 - (p[key] - lo) / (hi - lo) * 20).toFixed(1);
      }).join(' ');
      svg.appendChild(sv('polyline', { points: d, class: cls }));
    }
    line('p50', 'p50');
    line('p99', 'p99');
    var t = sv('title', {});
    t.textContent = 'p99 ' + ms(pts[0].p99) + ' → ' + ms(pts[pts.length - 1].p99) + ', p50 ' + ms(pts[pts.length - 1].p50) +
      ' (last ' + dur((t1 - t0) / 1000) + ')';
    svg.appendChild(t);
  }

  function updateDetail(row, r) {
    var key = JSON.stringify([r.status, r.errors, r.estimate, r.first_request_bytes, r.latency_trend, r.fallback,
      r.mode_since_ms, r.rendered, r.csr_requests, r.inflight, r.ttfb_ms, r.latency_ms, r.bytes_out]);
    if (key === row.key) return;
    row.key = key;
    var td = clear(row.detail.firstChild), grid = el('div', 'detail-grid');
    var dl = el('dl', 'kv');
    kv(dl, 'pattern', r.match || '–');
    kv(dl, 'rendered', num(r.rendered) + ' (csr answers ' + num(r.csr_requests) + ', in flight ' + num(r.inflight) + ')');
    kv(dl, 'status', ['1xx', '2xx', '3xx', '4xx', '5xx'].map(function (k) { return k + ' ' + num(r.status && r.status[k]); }).join(' · '));
    var errs = r.errors ? Object.keys(r.errors).filter(function (k) { return r.errors[k]; }) : [];
    kv(dl, 'errors', errs.length ? errs.map(function (k) { return k + ' ' + num(r.errors[k]); }).join(' · ') : 'none');
    kv(dl, 'latency', r.latency_ms ? 'p50 ' + ms(r.latency_ms.p50) + ' · p90 ' + ms(r.latency_ms.p90) + ' · p99 ' + ms(r.latency_ms.p99) + ' · max ' + ms(r.latency_ms.max) : '–');
    kv(dl, 'ttfb', r.ttfb_ms ? 'p50 ' + ms(r.ttfb_ms.p50) + ' · p99 ' + ms(r.ttfb_ms.p99) : '–');
    kv(dl, 'bytes', 'in ' + bytes(r.bytes_in) + ' · out ' + bytes(r.bytes_out));
    kv(dl, 'fallback', r.fallback == null ? 'none' : r.fallback);
    kv(dl, 'mode', r.mode + ' by ' + r.mode_by + (r.mode_since_ms ? ' since ' + when(r.mode_since_ms) : '') + (r.never_csr ? ' (never_csr)' : ''));
    add(grid, dl);
    var est = el('div');
    var names = r.estimate ? Object.keys(r.estimate) : [];
    if (names.length) {
      var t = el('table', 'mini'), hr = el('tr');
      ['metric', 'bytes/request', '95 % interval', 'requests', 'verdict', 'newest rows'].forEach(function (h) { add(hr, el('th', null, h)); });
      add(t, hr);
      names.forEach(function (m) {
        var e = r.estimate[m];
        if (!e) return;
        var tr = el('tr');
        add(tr, el('td', null, m + (m === r.verdict_metric ? ' ★' : '')), el('td', 'num', bytes(e.bytes_per_request)),
          el('td', 'num', bytes(e.low) + ' … ' + bytes(e.high)), el('td', 'num', num(e.requests)),
          el('td', null, e.verdict), el('td', 'num', e.recent ? bytes(e.recent.bytes_per_request) : '–'));
        add(t, tr);
      });
      add(est, t);
    } else add(est, el('p', 'muted', 'No estimate yet.'));
    var dl2 = el('dl', 'kv');
    kv(dl2, 'reason', r.reason || '–');
    if (r.next_step) kv(dl2, 'next step', r.next_step.experiment.replace('_', ' ') + ': ' + r.next_step.how);
    if (r.first_request_bytes != null) kv(dl2, 'first request', bytes(r.first_request_bytes) + ' one-time cost');
    if (r.latency_trend) kv(dl2, 'latency vs heap', r.latency_trend.ms_per_mb.toFixed(3) + ' ms per MB (' +
      r.latency_trend.low.toFixed(3) + ' … ' + r.latency_trend.high.toFixed(3) + '), rises with memory: ' + r.latency_trend.rises_with_memory);
    add(grid, add(est, dl2));
    add(td, grid);
  }

  /* ---- mode switch with confirmation ---------------------------------- */

  function askMode(r) {
    if (!r) return;
    var to = r.mode === 'csr' ? 'ssr' : 'csr';
    openConfirm('Switch ' + r.name + ' to ' + to + '?',
      to === 'csr' ? 'Server rendering of "' + r.name + '" stops: its requests get the client-render fallback (' +
        (r.fallback || 'none configured') + ') until it is switched back.' + (r.never_csr ? ' The config marks it never_csr.' : '')
        : 'Server rendering of "' + r.name + '" resumes.',
      'Switch to ' + to,
      function () {
        return api('PUT', routePath(r.name) + '/mode', { mode: to }).then(function () { return loadRoutes(); });
      });
  }

  function openConfirm(title, text, okLabel, action) {
    var d = $('confirm');
    S.confirm = action;
    setText($('confirm-title'), title);
    setText($('confirm-text'), text);
    setText($('confirm-err'), '');
    setText($('confirm-ok'), okLabel);
    $('confirm-ok').hidden = false;
    $('confirm-ok').disabled = false;
    setText($('confirm-cancel'), 'Cancel');
    if (!d.open) d.showModal();
  }
  function closeConfirm() { S.confirm = null; if ($('confirm').open) $('confirm').close(); }
  $('confirm-cancel').addEventListener('click', closeConfirm);
  $('confirm').addEventListener('close', function () { S.confirm = null; });
  $('confirm-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var act = S.confirm;
    if (!act) return closeConfirm();
    $('confirm-ok').disabled = true;
    act().then(closeConfirm, function (e) {
      $('confirm-ok').disabled = false;
      if (e.status === 401) return closeConfirm();
      setText($('confirm-err'), (e.status ? e.status + ': ' : '') + e.message);
      $('confirm-ok').hidden = true;
      setText($('confirm-cancel'), 'Close');
    });
  });

  /* ---- memory chart --------------------------------------------------- */

  function loadMemory() {
    var m = S.mem, range = $('mem-range').value;
    var dayJob = range === 'day' && Date.now() - m.dayAt > 30000
      ? api('GET', '/api/memory?coarse=1&points=1440').then(function (j) {
        m.dayAt = Date.now();
        m.day = new Map();
        (j.workers || []).forEach(function (w) { m.day.set(w.pid, w.samples || []); });
      }) : Promise.resolve();
    /* 5 s of overlap: workers are read at different moments; duplicates are dropped below */
    var q = m.last ? '/api/memory?points=1024&since=' + Math.max(0, m.last - 5000) : '/api/memory?points=1024';
    return Promise.all([dayJob, api('GET', q).then(function (j) {
      m.info = j;
      (j.workers || []).forEach(function (w) {
        var cur = m.workers.get(w.pid);
        if (!cur) { cur = { samples: [], color: COLORS[m.workers.size % COLORS.length] }; m.workers.set(w.pid, cur); }
        cur.w = w;
        var last = cur.samples.length ? cur.samples[cur.samples.length - 1][0] : 0;
        (w.samples || []).forEach(function (p) { if (p[0] > last) { cur.samples.push(p); last = p[0]; } });
        if (cur.samples.length > MEM_MAX) cur.samples.splice(0, cur.samples.length - MEM_MAX);
        if (last > m.last) m.last = last;
      });
      var h = j.health || {};
      var src = j.source === 'none' ? 'no memory source' : 'source ' + j.source + (h.failing ? ' · failing: ' + (h.last_error || '?') : '') +
        (j.gc ? ' · forced-GC duty ' + (100 * j.gc.duty).toFixed(1) + ' %' : '') + (j.note ? ' · ' + j.note : '');
      setText($('mem-source'), src);
      $('mem-source').className = h.failing ? 'err' : 'muted';
    })]);
  }

  var SERIES = [
    { i: 1, key: 'rss', box: 'show-rss', label: 'rss', cls: 'l-rss' },
    { i: 2, key: 'heap', box: 'show-heap', label: 'heap used', cls: 'l-heap' },
    { i: 5, key: 'floor', box: 'show-floor', label: 'floor', cls: 'l-floor' }
  ];
  var CH = { w: 800, h: 260, l: 64, r: 12, t: 10, b: 24 };

  function chartData() {
    var m = S.mem, range = $('mem-range').value, out = [], tmax = 0;
    m.workers.forEach(function (cur, pid) {
      var s = range === 'day' && m.day ? m.day.get(pid) || [] : cur.samples;
      if (s.length) tmax = Math.max(tmax, s[s.length - 1][0]);
      out.push({ pid: pid, cur: cur, s: s });
    });
    var span = range === 'day' ? 86400e3 : +range * 1000, t0 = Infinity;
    out.forEach(function (o) { if (o.s.length) t0 = Math.min(t0, o.s[0][0]); });
    if (span) t0 = Math.max(t0, tmax - span);                       /* no more than the data kept */
    return { list: out, t0: t0, t1: tmax };
  }

  function drawChart() {
    var box = $('mem-chart'), m = S.mem;
    CH.w = Math.max(400, box.clientWidth || 800);
    var svg = sv('svg', { viewBox: '0 0 ' + CH.w + ' ' + CH.h, width: CH.w, height: CH.h, class: 'mem', role: 'img' });
    svg.setAttribute('aria-label', 'memory per worker over time');
    var d = chartData(), pw = CH.w - CH.l - CH.r, ph = CH.h - CH.t - CH.b;
    var shown = SERIES.filter(function (s) { return $(s.box).checked; });
    var lo = Infinity, hi = 0;
    d.list.forEach(function (o) {
      o.vis = o.s.filter(function (p) { return p[0] >= d.t0; });
      o.vis.forEach(function (p) { shown.forEach(function (s) { var v = p[s.i]; if (v != null) { if (v < lo) lo = v; if (v > hi) hi = v; } }); });
    });
    var g = S.status && S.status.guard;
    if (!(hi > 0) || !(d.t1 > d.t0)) {
      var msg = m.info && m.info.source === 'none' ? 'No memory source configured ("memory" in the config).' : 'Waiting for memory readings…';
      svg.appendChild(sv('text', { x: CH.w / 2, y: CH.h / 2, 'text-anchor': 'middle', class: 'empty' })).textContent = msg;
      box.replaceChildren(svg);
      clear($('mem-legend'));
      m.scale = null;
      return;
    }
    lo = Math.max(0, lo - (hi - lo) * 0.1);
    hi = hi + (hi - lo) * 0.08;
    var sx = function (t) { return CH.l + (t - d.t0) / (d.t1 - d.t0) * pw; };
    var sy = function (v) { return CH.t + ph - (v - lo) / (hi - lo) * ph; };
    m.scale = { sx: sx, t0: d.t0, t1: d.t1, pw: pw, data: d };
    /* grid and axes */
    var grid = svg.appendChild(sv('g', { class: 'grid' }));
    niceTicks(lo, hi, 5).forEach(function (v) {
      grid.appendChild(sv('line', { x1: CH.l, x2: CH.w - CH.r, y1: sy(v), y2: sy(v) }));
      grid.appendChild(sv('text', { x: CH.l - 6, y: sy(v) + 4, 'text-anchor': 'end' })).textContent = bytes(v);
    });
    timeTicks(d.t0, d.t1, Math.floor(pw / 90)).forEach(function (t) {
      grid.appendChild(sv('line', { x1: sx(t), x2: sx(t), y1: CH.t, y2: CH.t + ph, class: 'v' }));
      grid.appendChild(sv('text', { x: sx(t), y: CH.h - 6, 'text-anchor': 'middle' })).textContent = clock(t);
    });
    /* limits: the workers' memory limit and the guard's thresholds, when in view */
    var lines = [];
    d.list.forEach(function (o) { if (o.cur.w && o.cur.w.limit_bytes) lines.push([o.cur.w.limit_bytes, 'limit', 'lim']); });
    if (g && g.enabled && g.high_bytes) { lines.push([g.high_bytes, 'guard high', 'ghi']); if (g.low_bytes) lines.push([g.low_bytes, 'guard low', 'glo']); }
    var labelled = [];
    lines.forEach(function (x) {
      if (x[0] < lo || x[0] > hi) return;
      var y = sy(x[0]), left = labelled.some(function (v) { return Math.abs(v - y) < 13; });   /* two close lines: labels at both ends */
      labelled.push(y);
      svg.appendChild(sv('line', { x1: CH.l, x2: CH.w - CH.r, y1: y, y2: y, class: 'hl ' + x[2] }));
      svg.appendChild(sv('text', { x: left ? CH.l + 4 : CH.w - CH.r - 4, y: y - 3, 'text-anchor': left ? 'start' : 'end', class: 'hl-t' }))
        .textContent = x[1] + ' ' + bytes(x[0]);
    });
    /* series: one colour per worker, one dash style per metric */
    var data = svg.appendChild(sv('g', { class: 'data' }));
    d.list.forEach(function (o) {
      shown.forEach(function (s) {
        var pts = thin(o.vis, s.i, sx);
        if (pts.length < 1) return;
        var pl = sv('polyline', { class: 'series ' + s.cls, stroke: o.cur.color,
          points: pts.map(function (p) { return sx(p[0]).toFixed(1) + ',' + sy(p[1]).toFixed(1); }).join(' ') });
        pl.dataset.pid = o.pid;
        pl.dataset.metric = s.key;
        pl.dataset.n = pts.length;
        data.appendChild(pl);
      });
    });
    svg.appendChild(sv('g', { class: 'marks', id: 'mem-marks' }));
    svg.appendChild(sv('line', { class: 'cursor', id: 'mem-cursor', x1: -10, x2: -10, y1: CH.t, y2: CH.t + ph }));
    svg.addEventListener('mousemove', hover);
    svg.addEventListener('mouseleave', function () { setText($('mem-readout'), '\u00a0'); var c = $('mem-cursor'); if (c) { c.setAttribute('x1', -10); c.setAttribute('x2', -10); } });
    box.replaceChildren(svg);
    drawLegend(d);
  }

  /* at most ~2 points per pixel column: keep each column's min and max */
  function thin(s, i, sx) {
    var out = [], col = null, mn = null, mx = null;
    function flush() { if (mn) { if (mn[0] <= mx[0]) { out.push(mn); if (mx !== mn) out.push(mx); } else { out.push(mx); out.push(mn); } } }
    for (var k = 0; k < s.length; k++) {
      var v = s[k][i];
      if (v == null) continue;
      var c = Math.round(sx(s[k][0]));
      var p = [s[k][0], v];
      if (c !== col) { flush(); col = c; mn = mx = p; }
      else { if (v < mn[1]) mn = p; if (v > mx[1]) mx = p; }
    }
    flush();
    return out;
  }

  function niceTicks(lo, hi, n) {
    var step = Math.pow(2, Math.ceil(Math.log2((hi - lo) / n)));          /* powers of two: whole KB / MB labels */
    var mag = Math.pow(1024, Math.floor(Math.log(Math.max(step, 1)) / Math.log(1024)));
    var s = step / mag;
    step = (s <= 1 ? 1 : s <= 2 ? 2 : s <= 5 ? 5 : s <= 10 ? 10 : s <= 25 ? 25 : s <= 50 ? 50 : s <= 100 ? 100 : s <= 250 ? 250 : 500) * mag;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi && out.length < 20; v += step) out.push(v);
    return out;
  }
  function timeTicks(t0, t1, n) {
    var steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600].map(function (s) { return s * 1000; });
    var step = steps[steps.length - 1];
    for (var k = 0; k < steps.length; k++) if ((t1 - t0) / steps[k] <= Math.max(2, n)) { step = steps[k]; break; }
    var out = [];
    for (var t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
    return out;
  }

  function drawLegend(d) {
    var lg = clear($('mem-legend'));
    d.list.forEach(function (o) {
      var w = o.cur.w || {}, l = w.latest || {};
      var it = el('span', 'lg' + (w.alive === false ? ' dead' : ''));
      var sw = el('span', 'sw');
      sw.style.background = o.cur.color;
      add(it, sw, 'pid ' + o.pid + (w.generation ? ' (gen ' + w.generation + ')' : '') + ': rss ' + bytes(l.rss) + ' · heap ' + bytes(l.heap_used) +
        ' · floor ' + bytes(w.floor_bytes) + (w.floor_kind && w.floor_kind !== 'none' ? ' (' + w.floor_kind + ')' : '') +
        (w.alive === false ? ' · gone' : w.stale ? ' · stale' : ''));
      add(lg, it);
    });
    add(lg, el('span', 'lg muted', 'lines: rss thin · heap used solid · floor dashed'));
  }

  function hover(ev) {
    var sc = S.mem.scale;
    if (!sc) return;
    var svg = ev.currentTarget, r = svg.getBoundingClientRect();
    var x = (ev.clientX - r.left) * (CH.w / r.width);
    if (x < CH.l || x > CH.l + sc.pw) return;
    var t = sc.t0 + (x - CH.l) / sc.pw * (sc.t1 - sc.t0), parts = [clock(t)];
    var c = $('mem-cursor');
    c.setAttribute('x1', x); c.setAttribute('x2', x);
    sc.data.list.forEach(function (o) {
      var s = o.vis, a = 0, b = s.length - 1;
      if (b < 0) return;
      while (a < b) { var mid = (a + b) >> 1; if (s[mid][0] < t) a = mid + 1; else b = mid; }
      if (a > 0 && Math.abs(s[a - 1][0] - t) < Math.abs(s[a][0] - t)) a--;
      var p = s[a];
      parts.push('pid ' + o.pid + ': rss ' + bytes(p[1]) + ', heap ' + bytes(p[2]) + ', floor ' + bytes(p[5]) + (p[6] ? ' (GC)' : ''));
    });
    setText($('mem-readout'), parts.join(' · '));
  }

  /* markers: events when /api/events exists; else what the other answers tell */
  function markers() {
    var out = [];
    if (S.eventsOk) {
      S.events.forEach(function (e) {
        var k = MARK[e.type];
        if (!k) return;
        out.push({ t: e.time_ms, kind: k, text: eventLine(e) });
      });
      return out;
    }
    S.routes.forEach(function (r) {
      if (r.mode_since_ms && r.mode_by !== 'config') out.push({ t: r.mode_since_ms, kind: 'mode', text: r.name + ' → ' + r.mode + ' (' + r.mode_by + ')' });
    });
    var b = S.bisect;
    if (b && b.rounds) b.rounds.forEach(function (x) { out.push({ t: x.start_ms, kind: 'bisect', text: 'bisect round ' + x.round + ' (' + x.kind + ')' + (x.off && x.off.length ? ': off ' + x.off.join(', ') : '') }); });
    var p = S.probe;
    if (p && p.started_ms) out.push({ t: p.started_ms, kind: 'bisect', text: 'probe of ' + p.route + ' started' });
    S.mem.workers.forEach(function (cur, pid) {
      if (S.mem.workers.size > 1 && cur.w && cur.w.generation > 0) out.push({ t: cur.w.first_seen_ms, kind: 'restart', text: 'worker ' + pid + ' appeared' });
    });
    return out;
  }

  function drawMarkers() {
    var g = $('mem-marks'), sc = S.mem.scale;
    if (!g || !sc) return;
    clear(g);
    if (!$('show-marks').checked) return;
    markers().forEach(function (mk) {
      if (!(mk.t >= sc.t0 && mk.t <= sc.t1)) return;
      var x = sc.sx(mk.t).toFixed(1), grp = sv('g', { class: 'mk mk-' + mk.kind });
      grp.appendChild(sv('line', { x1: x, x2: x, y1: CH.t, y2: CH.h - CH.b }));
      grp.appendChild(sv('path', { d: 'M' + (x - 4) + ',' + CH.t + 'h8l-4,6z' }));
      grp.appendChild(sv('title', {})).textContent = clock(mk.t) + ' ' + mk.text;
      g.appendChild(grp);
    });
  }

  ['show-rss', 'show-heap', 'show-floor', 'show-marks', 'mem-range'].forEach(function (id) {
    $(id).addEventListener('change', function () {
      if (id === 'mem-range' && $(id).value === 'day') { S.mem.dayAt = 0; loadMemory().then(function () { drawChart(); drawMarkers(); }, function () {}); }
      drawChart();
      drawMarkers();
    });
  });
  var resizeT = 0;
  window.addEventListener('resize', function () { clearTimeout(resizeT); resizeT = setTimeout(function () { drawChart(); drawMarkers(); }, 150); });

  /* ---- events --------------------------------------------------------- */

  function eventLine(e) {
    var s = e.type + (e.source ? ' (' + e.source + ')' : '') + (e.action ? ' ' + e.action : '');
    if (e.routes && e.routes.length) s += ': ' + e.routes.join(', ');
    if (e.worker) s += ' · worker ' + e.worker;
    if (e.reason) s += ' — ' + e.reason;
    return s;
  }

  function loadEvents() {
    S.eventsCheck = S.tick;
    var q = S.lastEvent ? '/api/events?limit=200&after=' + S.lastEvent : '/api/events?limit=200';
    return api('GET', q).then(function (j) {
      if (S.eventsOk !== true) { S.eventsOk = true; $('events').hidden = false; }
      if (j.last_id != null && j.last_id < S.lastEvent) { restarted(); return loadEvents(); }   /* ids started again */
      (j.events || []).forEach(function (e) { if (e && e.id != null) S.events.set(e.id, e); });
      if (j.last_id != null && j.last_id > S.lastEvent) S.lastEvent = j.last_id;
      S.events.forEach(function (e) { if (e.id > S.lastEvent) S.lastEvent = e.id; });
      if (S.events.size > EVENTS_MAX) {
        var ids = Array.from(S.events.keys()).sort(function (a, b) { return a - b; });
        ids.slice(0, ids.length - EVENTS_MAX).forEach(function (id) { S.events.delete(id); });
      }
      drawEvents();
    }, function (e) {
      if (e.status === 404) { S.eventsOk = false; $('events').hidden = true; return; }
      throw e;
    });
  }

  var FILTER = { guard: ['trip', 'switch', 'restore', 'refused', 'recovered', 'narrow'], mode: ['mode', 'switch', 'restore'],
    bisect: ['bisect', 'probe'], restart: ['restart', 'reload'] };

  function drawEvents() {
    var list = $('event-list'), f = FILTER[$('event-filter').value];
    var evs = Array.from(S.events.values()).filter(function (e) { return !f || f.indexOf(e.type) >= 0; })
      .sort(function (a, b) { return b.id - a.id; }).slice(0, 300);
    var have = new Map();
    Array.prototype.forEach.call(list.children, function (li) { have.set(+li.dataset.id, li); });
    var before = list.scrollHeight, top = list.scrollTop;
    var prev = null;
    evs.forEach(function (e) {
      var li = have.get(e.id);
      if (li) have.delete(e.id); else li = eventItem(e);
      if (prev ? prev.nextSibling !== li : list.firstChild !== li) list.insertBefore(li, prev ? prev.nextSibling : list.firstChild);
      prev = li;
    });
    have.forEach(function (li) { li.remove(); });
    if (top > 0) list.scrollTop = top + (list.scrollHeight - before);    /* keep the reader's place */
    $('event-empty').hidden = evs.length > 0;
  }

  function eventItem(e) {
    var li = el('li', 'ev ev-' + (MARK[e.type] || 'other'));
    li.dataset.id = e.id;
    var head = el('div', 'ev-head');
    add(head, el('time', 'muted', when(e.time_ms)), ' ', badge(e.type, 'ev'), ' ');
    if (e.source) add(head, el('span', 'src', e.source), ' ');
    if (e.action) add(head, el('strong', null, e.action), ' ');
    if (e.routes && e.routes.length) add(head, el('span', 'routes', e.routes.join(', ')), ' ');
    if (e.dry_run) add(head, badge('dry run', 'dry'));
    add(li, head);
    var det = [];
    if (e.worker) det.push('worker ' + e.worker);
    if (e.metric && e.bytes != null) det.push(e.metric + ' ' + bytes(e.bytes) + (e.threshold != null ? ' (threshold ' + bytes(e.threshold) + ')' : ''));
    if (det.length) add(li, el('div', 'muted', det.join(' · ')));
    if (e.reason) add(li, el('div', 'ev-reason', e.reason));
    return li;
  }
  $('event-filter').addEventListener('change', drawEvents);

  /* ---- bisect and probe ----------------------------------------------- */

  function loadBisect() {
    return api('GET', '/api/bisect').then(function (j) { S.bisect = j; drawBisect(); });
  }
  function loadProbe() {
    return api('GET', '/api/probe').then(function (j) { S.probe = j; drawProbe(); });
  }

  function runHead(j, what) {
    var head = el('div', 'run-head');
    add(head, badge(j.state, j.state));
    if (j.started_ms) add(head, ' ' + what + ' started ' + when(j.started_ms) + (j.finished_ms ? ', ended ' + when(j.finished_ms) : ''));
    if (j.message) add(head, el('div', 'muted', j.message));
    return head;
  }

  function drawBisect() {
    var j = S.bisect, body = clear($('bisect-body')), running = j && j.state === 'running';
    $('bisect-abort').hidden = !running;
    $('bisect-start').disabled = !!running;
    if (!j || j.state === 'idle') { add(body, el('p', 'muted', 'No bisection has run. It switches groups of routes to csr one round each, under live traffic, and compares memory growth.')); return; }
    add(body, runHead(j, 'bisection on ' + j.metric + ', rounds of ' + j.round_seconds + ' s,'));
    var dl = el('dl', 'kv');
    kv(dl, 'candidates', (j.candidates || []).join(', ') || '–');
    kv(dl, 'leaking', j.leaking && j.leaking.length ? j.leaking.join(', ') : running ? 'none found yet' : 'none');
    if (j.undecided && j.undecided.length) kv(dl, 'undecided', j.undecided.join(', '));
    if (running) kv(dl, 'pending groups', String(j.pending_groups));
    add(body, dl);
    if (!j.rounds || !j.rounds.length) return;
    var t = el('table', 'mini'), hr = el('tr');
    ['#', 'kind', 'switched off', 'growth', 'lowered by', 'decision'].forEach(function (h) { add(hr, el('th', null, h)); });
    add(t, hr);
    j.rounds.forEach(function (r) {
      var tr = el('tr', r.state === 'running' ? 'running' : null);
      var dec = el('td', 'dec');
      if (r.state === 'running') {
        var done = Math.max(0, Math.min(1, (Date.now() - r.start_ms) / ((r.planned_seconds || j.round_seconds) * 1000)));
        var bar = el('div', 'gauge small'), f = el('div', 'gauge-fill');
        f.style.width = (100 * done).toFixed(0) + '%';
        add(dec, 'running… ', add(bar, f));
      } else add(dec, (r.decision || '') + (r.signal ? ' [' + r.signal + (r.extended ? ', extended ' + r.extended + '×' : '') + ']' : ''));
      add(tr, el('td', 'num', r.round), el('td', null, r.kind), el('td', null, (r.off || []).join(', ') || '–'),
        el('td', 'num', r.growth_bytes_per_s == null ? '…' : bytes(r.growth_bytes_per_s) + '/s ± ' + bytes(r.growth_se) + '/s'),
        el('td', 'num', r.lowered_by_bytes_per_s == null ? '–' : bytes(r.lowered_by_bytes_per_s) + '/s'), dec);
      add(t, tr);
    });
    add(body, t);
  }

  function drawProbe() {
    var j = S.probe, body = clear($('probe-body')), running = j && j.state === 'running';
    $('probe-abort').hidden = !running;
    $('probe-start').disabled = !!running;
    if (!j || j.state === 'idle') { add(body, el('p', 'muted', 'No probe has run. A probe replays a route\'s captured requests between forced-GC readings (needs the http memory source with gc_url).')); return; }
    add(body, runHead(j, 'probe of ' + j.route + ' (' + j.requests + ' requests' + (j.split ? ', split ' + j.split : '') + '),'));
    if (j.summary) add(body, el('p', 'summary', j.summary));
    if (j.live_requests_during_probe) add(body, el('div', 'muted', num(j.live_requests_during_probe) + ' live requests during the probe (' + num(j.live_requests_not_estimated) + ' not estimated)'));
    if (!j.groups || !j.groups.length) return;
    var t = el('table', 'mini'), hr = el('tr');
    ['value', 'captured', 'blocks', 'bytes/request', '95 % interval', 'verdict'].forEach(function (h) { add(hr, el('th', null, h)); });
    add(t, hr);
    j.groups.forEach(function (g) {
      var tr = el('tr', 'group');
      add(tr, el('td', 'val', g.value === '' || g.value == null ? '(all)' : g.value), el('td', 'num', g.captured),
        el('td', 'num', (g.blocks_bytes_per_request || []).length + (g.done ? '' : '…')),
        el('td', 'num', g.bytes_per_request == null ? '–' : bytes(g.bytes_per_request)),
        el('td', 'num', g.low == null ? '–' : bytes(g.low) + ' … ' + bytes(g.high)),
        add(el('td'), g.verdict ? badge(g.verdict, RANK[g.verdict] ? g.verdict : 'unknown') : el('span', 'muted', g.errors ? g.errors + ' errors' : 'running')));
      add(t, tr);
    });
    add(body, t);
  }

  function syncProbeRoutes() {
    var names = S.routes.filter(function (r) { return r.name !== '_other'; }).map(function (r) { return r.name; });
    var key = names.join('\n');
    if (key === S.probeRoutes) return;
    S.probeRoutes = key;
    var sel = $('probe-route'), keep = sel.value;
    clear(sel);
    names.forEach(function (n) { var o = el('option', null, n); o.value = n; sel.appendChild(o); });
    if (names.indexOf(keep) >= 0) sel.value = keep;
    else { var lk = S.routes.filter(function (r) { return r.verdict === 'leaking' || r.verdict === 'suspect'; })[0]; if (lk) sel.value = lk.name; }
  }

  function formError(id, e) { setText($(id), e ? (e.status ? e.status + ': ' : '') + e.message : ''); }

  $('bisect-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var rs = $('bisect-routes').value.trim(), secs = parseInt($('bisect-seconds').value, 10), metric = $('bisect-metric').value;
    var routes = !rs || rs === 'all' ? 'all' : rs.split(/[\s,]+/).filter(Boolean);
    var body = { routes: routes, round_seconds: secs, metric: metric };
    openConfirm('Start a bisection?', 'Groups of ' + (routes === 'all' ? 'all routes' : 'the routes ' + routes.join(', ')) +
      ' are switched to csr for ' + secs + ' s each while memory growth is compared; modes are restored when it ends or is aborted.',
      'Start bisection', function () {
        formError('bisect-msg', null);
        return api('POST', '/api/bisect', body).then(function (j) { S.bisect = j; drawBisect(); });
      });
  });
  $('bisect-abort').addEventListener('click', function () {
    api('DELETE', '/api/bisect').then(function (j) { S.bisect = j; drawBisect(); formError('bisect-msg', null); },
      function (e) { formError('bisect-msg', e); });
  });
  $('probe-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = { route: $('probe-route').value, requests: parseInt($('probe-requests').value, 10),
      concurrency: parseInt($('probe-concurrency').value, 10) };
    var split = $('probe-split').value.trim();
    if (split) body.split = split;
    formError('probe-msg', null);
    api('POST', '/api/probe', body).then(function (j) { S.probe = j; drawProbe(); }, function (e) { formError('probe-msg', e); });
  });
  $('probe-abort').addEventListener('click', function () {
    api('DELETE', '/api/probe').then(function (j) { S.probe = j; drawProbe(); formError('probe-msg', null); },
      function (e) { formError('probe-msg', e); });
  });

  buildHead();
  poll();
})();
