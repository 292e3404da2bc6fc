#!/usr/bin/env bash
# contrib/check.sh -- checks the files in contrib/ and docs/deploy.md against
# the real binary:
#   - the Prometheus rules: promtool check rules, promtool test rules;
#   - the Grafana dashboard: JSON, its structure, every query parses as PromQL;
#   - every metric name, label name and label value the dashboard, the rules,
#     their tests and the docs use exists in the real /metrics of a running
#     leakproxy (started here on free loopback ports, in front of a small
#     synthetic upstream, until every conditional series has appeared), or in
#     the explicit list of guard metrics below;
#   - every ```json block of docs/deploy.md and contrib/docker/README.md, the
#     image's default config and the Kubernetes ConfigMap pass
#     `leakproxy --check-config`;
#   - the Kubernetes YAML parses and agrees with its config (ports, loopback);
#   - the systemd unit passes systemd-analyze verify without a warning;
#   - the Docker health check against the running leakproxy; the image's
#     runtime packages against the libraries the binary links; the build
#     context against make's dependency files.
#   - the repository explains itself: no tracked file cites notes kept
#     outside it (the team's design, field and style notes, a sibling
#     directory named shared) or the numbers of the team's issue tracker.
# Exits non-zero if a check fails; the last line is "contrib: N checks passed".
# A missing tool (promtool, systemd-analyze, python3 with yaml) fails its
# checks with the reason (LEAKPROXY_ALLOW_SKIP=1: skips them). Needs bash, curl and node (as the test suite does).
#
#   contrib/check.sh                       # from anywhere
#   LEAKPROXY_BIN=./leakproxy-san contrib/check.sh
set -u
cd "$(dirname "$0")/.." || exit 1
root=$PWD
bin=${LEAKPROXY_BIN:-./leakproxy}
case $bin in /*) ;; *) bin=$root/${bin#./} ;; esac

# guard metrics, added with the guard: known here even when the binary does
# not print them yet. One per line: the name, then its labels; a label with
# =a|b takes only those values.
guard_metrics='
leakproxy_guard_switches_total route action=csr|ssr
leakproxy_guard_trips_total
leakproxy_guard_tripped
leakproxy_guard_refusals_total reason=hold|cap|nothing_to_switch
leakproxy_route_csr route
leakproxy_events_total type
leakproxy_webhook_deliveries_total result=ok|failed
'

# files whose metric names, labels and label values are checked
ref_files=(contrib/grafana/leakproxy.json contrib/prometheus/alerts.yml
           contrib/prometheus/alerts_test.yml docs/deploy.md)
# files whose ```json blocks are leakproxy configs (or top-level fragments)
snippet_files=(docs/deploy.md contrib/docker/README.md)

passed=0 failed=0 skipped=0
ok()   { passed=$((passed + 1)); echo "ok    $*"; }
bad()  { failed=$((failed + 1)); echo "FAIL  $*"; }
# a check that cannot run here fails with its reason (make test skips
# nothing; make deps installs the tools); LEAKPROXY_ALLOW_SKIP=1 skips it
skip() {
  if [ -n "${LEAKPROXY_ALLOW_SKIP:-}" ]; then skipped=$((skipped + 1)); echo "skip  $*"
  else failed=$((failed + 1)); echo "FAIL  cannot run here: $* (make deps installs it; LEAKPROXY_ALLOW_SKIP=1 skips)"; fi
}
# results printed by the helpers below: "PASS text" / "FAIL text" lines
collect() {
  local line
  while IFS= read -r line; do
    case $line in
      "PASS "*) ok "${line#PASS }" ;;
      "FAIL "*) bad "${line#FAIL }" ;;
      "SKIP "*) skip "${line#SKIP }" ;;
      *) echo "      $line" ;;
    esac
  done
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/leakproxy-contrib.XXXXXX") || exit 1
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

have() { command -v "$1" >/dev/null 2>&1; }
for t in node curl; do
  if ! have "$t"; then
    echo "contrib/check.sh: $t is required" >&2
    exit 2
  fi
done
if [ ! -x "$bin" ]; then
  echo "contrib/check.sh: $bin: no binary (make, or set LEAKPROXY_BIN)" >&2
  exit 2
fi

# ---- helpers in node ------------------------------------------------------
cat > "$tmp/check.js" <<'JS'
'use strict';
const fs = require('fs');
const [cmd, ...args] = process.argv.slice(2);
const pass = (s) => console.log('PASS ' + s);
process.on('uncaughtException', (e) => { console.log(`FAIL check.js ${cmd}: ${e.message}`); process.exit(1); });
const fail = (s) => console.log('FAIL ' + s);

// every string in a JSON value, with its key
function strings(v, key, out) {
  if (typeof v === 'string') out.push([key, v]);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, key, out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) strings(v[k], k, out);
  return out;
}

// Grafana variables -> values that keep the PromQL valid
function devar(e) {
  return e.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m')
          .replace(/\$\{?[A-Za-z_]\w*\}?/g, '.*');
}

if (cmd === 'dashboard') {
  // dashboard FILE RULES_OUT: structure; writes the queries as recording rules
  const [file, rulesOut] = args;
  let d;
  try { d = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) { fail(`${file}: not JSON: ${e.message}`); process.exit(0); }
  pass(`${file}: valid JSON`);
  const errs = [];
  if (typeof d.schemaVersion !== 'number' || d.schemaVersion < 36) errs.push('schemaVersion missing or < 36');
  if (!d.uid || !d.title) errs.push('uid and title needed');
  const vars = (d.templating && d.templating.list) || [];
  const vnames = vars.map((v) => v.name);
  const dsVar = vars.find((v) => v.type === 'datasource' && v.query === 'prometheus');
  const dsInput = (d.__inputs || []).find((i) => i.type === 'datasource' && i.pluginId === 'prometheus');
  if (!dsVar && !dsInput) errs.push('no Prometheus datasource variable or __inputs entry');
  const dsRef = dsVar ? '${' + dsVar.name + '}' : '${' + (dsInput && dsInput.name) + '}';
  if (!vnames.includes('instance')) errs.push('no "instance" variable');
  const panels = [];
  (function walk(ps) { for (const p of ps || []) { panels.push(p); walk(p.panels); } })(d.panels);
  const ids = new Set();
  const exprs = [];
  for (const p of panels) {
    const where = `panel ${p.id} "${p.title}"`;
    if (typeof p.id !== 'number' || ids.has(p.id)) errs.push(`${where}: id missing or not unique`);
    ids.add(p.id);
    const g = p.gridPos || {};
    if (!(g.w > 0 && g.h > 0 && g.x >= 0 && g.y >= 0 && g.x + g.w <= 24)) errs.push(`${where}: bad gridPos`);
    if (p.type === 'row') continue;
    if (!p.datasource || p.datasource.uid !== dsRef) errs.push(`${where}: datasource is not ${dsRef}`);
    if (!Array.isArray(p.targets) || p.targets.length === 0) errs.push(`${where}: no targets`);
    const refs = new Set();
    for (const t of p.targets || []) {
      if (!t.expr) errs.push(`${where}: target ${t.refId} without expr`);
      if (refs.has(t.refId)) errs.push(`${where}: refId ${t.refId} twice`);
      refs.add(t.refId);
      if (t.datasource && t.datasource.uid !== dsRef) errs.push(`${where}: target datasource is not ${dsRef}`);
      if (t.expr) exprs.push([where, t.expr]);
    }
  }
  for (const a of (d.annotations && d.annotations.list) || [])
    if (a.expr) exprs.push([`annotation "${a.name}"`, a.expr]);
  for (const v of vars) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query && v.query.query;
    const m = /^label_values\((.*),\s*([A-Za-z_]\w*)\)$/.exec(q || '');
    if (!m) errs.push(`variable ${v.name}: expected label_values(selector, label)`);
    else exprs.push([`variable ${v.name}`, m[1]]);
    for (const u of (q || '').match(/\$\w+/g) || [])
      if (!vnames.includes(u.slice(1))) errs.push(`variable ${v.name}: unknown variable ${u}`);
  }
  for (const [where, e] of exprs)
    for (const u of e.match(/\$\{?\w+/g) || []) {
      const n = u.replace(/^\$\{?/, '');
      if (!n.startsWith('__') && !vnames.includes(n)) errs.push(`${where}: unknown variable $${n}`);
    }
  if (errs.length) fail(`${file}: dashboard structure:\n` + errs.join('\n'));
  else pass(`${file}: dashboard structure (${panels.length} panels, variables ${vnames.join(', ')}, datasource ${dsRef})`);
  // promtool parses these (rule names are the panel titles' positions)
  const rules = exprs.map(([where, e], i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(devar(e))}\n`);
  fs.writeFileSync(rulesOut, 'groups:\n  - name: dashboard\n    rules:\n' + rules.join(''));
  fs.writeFileSync(rulesOut + '.where', exprs.map(([w], i) => `dashboard:query_${i} ${w}`).join('\n') + '\n');
} else if (cmd === 'refs') {
  // refs METRICS_FILE... -- FILE...: names, labels and label values used in FILEs exist
  const sep = args.indexOf('--');
  const scrapes = args.slice(0, sep), files = args.slice(sep + 1);
  const known = new Map();   // name -> {labels: Map(label -> Set(values) | null), source}
  const add = (name, src) => { if (!known.has(name)) known.set(name, { labels: new Map(), src }); return known.get(name); };
  const types = new Map();
  for (const f of scrapes) {
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
      let m;
      if ((m = /^# (HELP|TYPE) (\w+) ?(\w*)/.exec(line))) {
        add(m[2], 'live');
        if (m[1] === 'TYPE') types.set(m[2], m[3]);
      } else if ((m = /^(\w+)(?:\{(.*)\})? \S+$/.exec(line))) {
        const k = add(m[1], 'live');
        for (const lm of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
          if (!k.labels.has(lm[1])) k.labels.set(lm[1], new Set());
          k.labels.get(lm[1]).add(lm[2]);
        }
      }
    }
  }
  for (const [n, t] of types)
    if (t === 'histogram')
      for (const s of ['_bucket', '_sum', '_count']) {
        const k = add(n + s, 'live');
        if (s === '_bucket' && !k.labels.has('le')) k.labels.set('le', null);
      }
  const live = new Set(known.keys());
  for (const line of fs.readFileSync(process.env.GUARD_FILE, 'utf8').split('\n')) {
    const [name, ...labels] = line.trim().split(/\s+/);
    if (!name) continue;
    const k = add(name, 'guard');
    for (const l of labels) {
      const [ln, vals] = l.split('=');
      k.labels.set(ln, vals ? new Set(vals.split('|')) : null);
    }
  }
  // labels that are not leakproxy's: Prometheus' target labels
  const target = new Set(['instance', 'job', 'namespace', 'pod', 'container', '__name__']);
  const free = new Set(['route', 'pid', 'worker', 'version', 'revision', 'le', 'type']);   // any value
  const allLabels = new Set([...target]);
  for (const k of known.values()) for (const l of k.labels.keys()) allLabels.add(l);
  const seenFromLiveOnly = [...live].filter((n) => /^leakproxy_/.test(n));
  console.log(`${seenFromLiveOnly.length} leakproxy_* names in the live /metrics; guard list: ${[...known.values()].filter((k) => k.src === 'guard').length} more`);
  for (const f of files) {
    if (!fs.existsSync(f)) { fail(`${f}: missing`); continue; }
    const raw = fs.readFileSync(f, 'utf8');
    let text = raw, legends = [], customs = [];
    if (f.endsWith('.json')) {
      const d = JSON.parse(raw);
      const ss = strings(d, '', []);
      text = ss.map(([, s]) => s).join('\n');
      legends = ss.filter(([k]) => /^(legendFormat|titleFormat|textFormat)$/.test(k)).map(([, s]) => s);
      customs = ((d.templating && d.templating.list) || []).filter((v) => v.type === 'custom');
    }
    const errs = [];
    const used = new Set();
    const names = text.match(/\bleakproxy_[a-z0-9_]+\b/g) || [];
    for (const n of names) {
      used.add(n);
      if (!known.has(n)) errs.push(`unknown metric ${n}`);
    }
    for (const m of text.matchAll(/\b(leakproxy_[a-z0-9_]+)\s*\{([^{}]*)\}/g)) {
      const k = known.get(m[1]);
      if (!k) continue;
      for (const mm of m[2].matchAll(/([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*\\?"((?:[^"\\]|\\[^"])*)\\?"/g)) {
        const [, label, op, value] = mm;
        if (target.has(label)) continue;
        if (!k.labels.has(label)) {
          // a series without samples in the scrape (only # HELP) has no known labels
          if (k.labels.size === 0 && allLabels.has(label)) continue;
          errs.push(`${m[1]} has no label "${label}" (it has: ${[...k.labels.keys()].join(', ') || 'none'})`);
          continue;
        }
        const vals = k.labels.get(label);
        if (!vals || free.has(label) || value.includes('$') || value === '') continue;
        const wanted = op === '=' || op === '!=' ? [value] : /^[\w|]+$/.test(value) ? value.split('|') : [];
        for (const v of wanted)
          if (!vals.has(v)) errs.push(`${m[1]}{${label}="${v}"}: no such value (seen: ${[...vals].join(', ')})`);
        // a custom Grafana variable used as this label's value
        const cv = /^\$\{?(\w+)\}?$/.exec(value);
        if (cv) for (const c of customs.filter((x) => x.name === cv[1]))
          for (const v of String(c.query).split(','))
            if (!vals.has(v.trim())) errs.push(`variable ${c.name}: ${m[1]} has no ${label}="${v.trim()}"`);
      }
      for (const mm of m[2].matchAll(/([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*\\?"\$\{?(\w+)\}?\\?"/g)) {
        const vals = k.labels.get(mm[1]);
        if (!vals || free.has(mm[1])) continue;
        for (const c of customs.filter((x) => x.name === mm[3]))
          for (const v of String(c.query).split(','))
            if (!vals.has(v.trim())) errs.push(`variable ${c.name}: ${m[1]} has no ${mm[1]}="${v.trim()}"`);
      }
    }
    // in Markdown, PromQL clauses and template references only in code
    const code = f.endsWith('.md')
      ? [...raw.matchAll(/```[^\n]*\n([\s\S]*?)```/g)].map((m) => m[1]).concat([...raw.matchAll(/`([^`\n]+)`/g)].map((m) => m[1])).join('\n')
      : text;
    const lists = [...code.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)/g)]
      .flatMap((m) => m[1].split(',').map((s) => s.trim()).filter(Boolean));
    const refs = [...code.matchAll(/\$labels\.([A-Za-z_]\w*)/g)].map((m) => m[1])
      .concat(legends.flatMap((s) => [...s.matchAll(/\{\{\s*([A-Za-z_]\w*)\s*\}\}/g)].map((m) => m[1])));
    for (const l of lists.concat(refs))
      if (!allLabels.has(l)) errs.push(`label "${l}" is not a label of any leakproxy metric`);
    for (const m of text.matchAll(/label_values\(\s*(leakproxy_\w+)[^,]*,\s*(\w+)\s*\)/g)) {
      const k = known.get(m[1]);
      if (k && !k.labels.has(m[2]) && !target.has(m[2])) errs.push(`label_values: ${m[1]} has no label "${m[2]}"`);
    }
    const uniq = [...new Set(errs)];
    if (uniq.length) fail(`${f}: metrics, labels and values:\n` + uniq.join('\n'));
    else pass(`${f}: ${used.size} metric names, their labels and values exist` +
              ` (${[...used].filter((n) => known.get(n).src === 'guard').length} from the guard list)`);
  }
} else if (cmd === 'snippets') {
  // snippets OUTDIR FALLBACK_FILE FILE...: writes every ```json block as a config file
  const [outdir, fallbackFile, ...files] = args;
  let n = 0;
  for (const f of files) {
    if (!fs.existsSync(f)) { console.log(`BAD ${f}: missing`); continue; }
    const lines = fs.readFileSync(f, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() !== '```json') continue;
      const start = i + 1;
      let body = [];
      for (i++; i < lines.length && lines[i].trim() !== '```'; i++) body.push(lines[i]);
      const text = body.join('\n');
      let cfg;
      for (const t of [text, '{' + text + '}']) {
        try { cfg = JSON.parse(t); break; } catch (e) { /* next */ }
      }
      const where = `${f}:${start}`;
      if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) { console.log(`BAD ${where} not a JSON object or fragment of one`); continue; }
      if (!('listen' in cfg)) cfg = { listen: '127.0.0.1:8080', ...cfg };
      if (!('upstream' in cfg)) cfg = { upstream: 'http://127.0.0.1:3000', ...cfg };
      // fallback files are read by --check-config: point them at a file that exists
      const fix = (fb) => { if (fb && typeof fb === 'object' && 'file' in fb) fb.file = fallbackFile; };
      fix(cfg.fallback);
      for (const r of Array.isArray(cfg.routes) ? cfg.routes : []) fix(r && r.fallback);
      const out = `${outdir}/snippet-${n++}.json`;
      fs.writeFileSync(out, JSON.stringify(cfg, null, 2) + '\n');
      console.log(`CFG ${out} ${where}`);
    }
  }
} else if (cmd === 'strip-guard') {
  const [file] = args;
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete cfg.guard;
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2) + '\n');
} else {
  console.error('check.js: unknown command ' + cmd);
  process.exit(2);
}
JS
printf '%s\n' "$guard_metrics" > "$tmp/guard.txt"
export GUARD_FILE=$tmp/guard.txt

# ---- Prometheus rules ------------------------------------------------------
if have promtool; then
  if out=$(promtool check rules contrib/prometheus/alerts.yml 2>&1); then
    ok "promtool check rules contrib/prometheus/alerts.yml ($(printf '%s\n' "$out" | grep -o '[0-9]* rules found'))"
  else
    bad "promtool check rules contrib/prometheus/alerts.yml"; printf '%s\n' "$out"
  fi
  if out=$(cd contrib/prometheus && promtool test rules alerts_test.yml 2>&1); then
    ok "promtool test rules contrib/prometheus/alerts_test.yml"
  else
    bad "promtool test rules contrib/prometheus/alerts_test.yml"; printf '%s\n' "$out"
  fi
else
  skip "promtool check/test rules: promtool not installed (Debian: apt-get install prometheus)"
fi

# ---- Grafana dashboard -----------------------------------------------------
collect < <(node "$tmp/check.js" dashboard contrib/grafana/leakproxy.json "$tmp/dashboard-rules.yml")
if [ -s "$tmp/dashboard-rules.yml" ]; then
  if have promtool; then
    if out=$(promtool check rules "$tmp/dashboard-rules.yml" 2>&1); then
      ok "contrib/grafana/leakproxy.json: every query parses as PromQL ($(grep -c . "$tmp/dashboard-rules.yml.where") queries)"
    else
      bad "contrib/grafana/leakproxy.json: a query does not parse as PromQL"
      printf '%s\n' "$out"; cat "$tmp/dashboard-rules.yml.where"
    fi
  else
    skip "dashboard queries: promtool not installed"
  fi
fi

# ---- a running leakproxy: its /metrics ------------------------------------
echo '<!doctype html><div id="app"></div>' > "$tmp/index.html"
# does this binary have the guard? (it rejects unknown keys)
guard_known=1
printf '{"listen": "127.0.0.1:8080", "upstream": "http://127.0.0.1:3000", "guard": {}}\n' > "$tmp/guard-probe.json"
if "$bin" --check-config -c "$tmp/guard-probe.json" 2>&1 | grep -q 'guard: unknown key'; then
  guard_known=0
fi
# with the guard: one that never trips (its metrics are printed all the same)
guard_cfg=
if [ "$guard_known" = 1 ]; then
  guard_cfg=", \"fallback\": {\"file\": \"$tmp/index.html\"},
  \"guard\": {\"high_bytes\": 1000000000000000, \"webhook\": \"http://127.0.0.1:9/leakproxy-check\"}"
fi
# The upstream answers every request and serves a memory endpoint whose
# heap grows by 50 KB per request: within seconds leakproxy has readings,
# floors, estimates, a projection and a forced-GC duty, so every series that
# depends on a feature is printed.
cat > "$tmp/upstream.js" <<'JS'
'use strict';
const http = require('http');
const MB = 1 << 20;
let n = 0;
const s = http.createServer((req, res) => {
  if (req.url.startsWith('/__mem')) {
    const heap = 30 * MB + n * 50000;
    const m = { pid: process.pid, rss: 90 * MB + n * 60000, heapUsed: heap, heapTotal: heap + 8 * MB,
                external: 2 * MB + n * 1000, arrayBuffers: MB, heapFloor: heap, gcSeq: n, heapLimit: 4096 * MB };
    if (req.url.includes('gc=1')) Object.assign(m, { gc: true, gc_ms: 1 });
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(m));
    return;
  }
  n++;
  res.setHeader('Content-Type', 'text/html');
  res.end('<!doctype html><p>ok</p>');
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
process.on('SIGTERM', () => process.exit(0));
JS
node "$tmp/upstream.js" > "$tmp/upstream.port" 2>"$tmp/upstream.err" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/upstream.port" ] && break; sleep 0.1; done
up=$(cat "$tmp/upstream.port" 2>/dev/null)
cat > "$tmp/live.json" <<EOF
{ "listen": "127.0.0.1:0", "upstream": "http://127.0.0.1:${up:-9}", "admin": "127.0.0.1:0",
  "routes": [ {"name": "home", "match": "/"}, {"name": "detail", "match": "/detail/:id"} ],
  "memory": { "source": "http", "url": "http://127.0.0.1:${up:-9}/__mem",
              "gc_url": "http://127.0.0.1:${up:-9}/__mem?gc=1", "interval_ms": 100,
              "gc_interval_ms": 100, "max_gc_duty": 1 },
  "attribution": { "interval_ms": 100, "min_requests": 1, "window_rows": 16 }$guard_cfg }
EOF
"$bin" -c "$tmp/live.json" 2>"$tmp/live.err" &
lp=$!
pids+=($lp)
port= admin=
for _ in $(seq 50); do
  port=$(sed -n 's/.*proxy listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/live.err")
  admin=$(sed -n 's/.*admin listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/live.err")
  [ -n "$port" ] && [ -n "$admin" ] && break
  kill -0 "$lp" 2>/dev/null || break
  sleep 0.1
done
scraped=0
if [ -z "$up" ] || [ -z "$port" ] || [ -z "$admin" ]; then
  bad "start $bin on loopback in front of a test upstream"
  cat "$tmp/upstream.err" "$tmp/live.err"
else
  # requests until every conditional series is there (at most 30 s)
  want=('^leakproxy_upstream_minutes_to_memory_limit ' '^leakproxy_route_retained_bytes_per_request\{'
        '^leakproxy_route_retained_bytes_per_request_low\{' '^leakproxy_memory_gc_duty_ratio '
        '^leakproxy_upstream_heap_floor_bytes\{' '^leakproxy_route_verdict\{')
  all_there() {
    local w
    for w in "${want[@]}"; do grep -Eq "$w" "$tmp/metrics.txt" 2>/dev/null || return 1; done
  }
  complete=0
  t0=$SECONDS
  for i in $(seq 150); do
    # two routes in changing proportions, so that the engine can tell them apart
    if [ $((i % 3)) = 0 ]; then
      curl -s --max-time 2 "http://127.0.0.1:$port/detail/[1-3]" >/dev/null
    else
      curl -s --max-time 2 "http://127.0.0.1:$port/" >/dev/null
    fi
    curl -s --max-time 2 -o "$tmp/metrics.txt" "http://127.0.0.1:$admin/metrics"
    if all_there; then complete=1; break; fi
    sleep 0.2
  done
  if [ "$complete" = 1 ]; then
    ok "leakproxy /metrics with memory readings, floors, estimates, verdicts, projection and GC duty ($(grep -c '^# TYPE' "$tmp/metrics.txt") metrics, $((SECONDS - t0)) s)"
    scraped=1
  else
    bad "leakproxy /metrics: not every conditional series appeared within 30 s"
    grep -E '^# TYPE' "$tmp/metrics.txt" 2>/dev/null
    tail -5 "$tmp/live.err"
  fi
  # the Docker image's health check, against this leakproxy
  hc=contrib/docker/healthcheck.sh
  if LEAKPROXY_ADMIN=127.0.0.1:$admin bash "$hc" && LEAKPROXY_ADMIN=127.0.0.1:$admin bash "$hc" --ready &&
     ! LEAKPROXY_ADMIN=127.0.0.1:1 bash "$hc" 2>/dev/null; then
    ok "$hc: healthy on the admin address, unhealthy where nothing listens"
  else
    bad "$hc against 127.0.0.1:$admin"
  fi
fi

if [ "$scraped" = 1 ]; then
  collect < <(node "$tmp/check.js" refs "$tmp/metrics.txt" -- "${ref_files[@]}")
  # README.md's metrics table documents every metric: each name the binary
  # exposes (with a memory source, gc_url, attribution, a guard and its
  # webhook, so every conditional one) is a row, and every row is exposed
  documented=$(awk '/^### Metrics/ {on = 1; next} on && /^#/ {on = 0} on' README.md |
               sed -n 's/^| `\([a-z_:]*\)` |.*/\1/p' | sort -u)
  exposed=$(sed -n 's/^# TYPE \([a-zA-Z_:]*\) .*/\1/p' "$tmp/metrics.txt" | sort -u)
  undocumented=$(comm -23 <(printf '%s\n' "$exposed") <(printf '%s\n' "$documented") | xargs)
  unexposed=$(comm -13 <(printf '%s\n' "$exposed") <(printf '%s\n' "$documented") | xargs)
  if [ -z "$documented" ]; then
    bad "README.md: no metrics table under \"### Metrics\""
  elif [ -z "$undocumented" ] && [ -z "$unexposed" ]; then
    ok "README.md: the metrics table documents every metric /metrics exposes ($(printf '%s\n' "$exposed" | grep -c .) names)"
  else
    bad "README.md metrics table: exposed but not documented: ${undocumented:-none}; documented but not exposed: ${unexposed:-none}"
  fi
  # once the binary has the guard, the list above must match what it prints
  if [ "$guard_known" = 1 ]; then
    notlive=
    for g in $(printf '%s\n' "$guard_metrics" | awk 'NF {print $1}'); do
      grep -q "^# TYPE $g " "$tmp/metrics.txt" || notlive="$notlive $g"
    done
    if [ -z "$notlive" ]; then
      ok "guard metrics: every name in the list is in this binary's /metrics"
    else
      bad "guard metrics listed in contrib/check.sh but not printed by this binary:$notlive"
    fi
  else
    skip "guard metrics: this binary has no guard; checked against the list in contrib/check.sh only"
  fi
fi
kill "$lp" 2>/dev/null

# ---- configs: docs snippets, the image's default, the ConfigMap ----------
check_configs() {   # LABEL FILE:WHERE...
  local label=$1 n=0 errs=0 stripped=0 f where out
  shift
  for fw in "$@"; do
    f=${fw%% *} where=${fw#* }
    if [ "$guard_known" = 0 ] && grep -q '"guard"' "$f"; then
      node "$tmp/check.js" strip-guard "$f"
      stripped=$((stripped + 1))
    fi
    if ! out=$("$bin" --check-config -c "$f" 2>&1); then
      echo "      $where: $out"
      sed 's/^/        /' "$f"
      errs=$((errs + 1))
    fi
    n=$((n + 1))
  done
  local note=""
  [ "$stripped" -gt 0 ] && note=" (\"guard\" left out of $stripped: this binary has no guard)"
  if [ "$n" -eq 0 ]; then
    bad "$label: no config found"
  elif [ "$errs" -eq 0 ]; then
    ok "$label: $n configs pass --check-config$note"
  else
    bad "$label: $errs of $n configs fail --check-config"
  fi
}
mkdir -p "$tmp/snippets"
snips=()
while IFS= read -r line; do
  case $line in
    "CFG "*) line=${line#CFG }; snips+=("$line") ;;
    "BAD "*) snips+=("/dev/null ${line#BAD }") ;;
  esac
done < <(node "$tmp/check.js" snippets "$tmp/snippets" "$tmp/index.html" "${snippet_files[@]}")
check_configs "${snippet_files[*]}: \`\`\`json blocks" "${snips[@]}"
cp contrib/docker/leakproxy.json "$tmp/image.json"
check_configs "contrib/docker/leakproxy.json" "$tmp/image.json contrib/docker/leakproxy.json"

# ---- Kubernetes -------------------------------------------------------------
if have python3 && python3 -c 'import yaml' 2>/dev/null; then
  cat > "$tmp/k8s.py" <<'PY'
import json, sys, yaml
path, out = sys.argv[1], sys.argv[2]
try:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
except yaml.YAMLError as e:
    print(f"FAIL {path}: not YAML: {e}")
    sys.exit(0)
print(f"PASS {path}: YAML parses ({', '.join(d['kind'] for d in docs)})")
errs = []
by = {}
for d in docs:
    by.setdefault(d["kind"], []).append(d)
def port(addr):
    return int(addr.rsplit(":", 1)[1])
try:
    cm = by["ConfigMap"][0]
    cfg = json.loads(cm["data"]["leakproxy.json"])
    open(out, "w").write(json.dumps(cfg, indent=2) + "\n")
    dep = by["Deployment"][0]
    tpl = dep["spec"]["template"]
    spec = tpl["spec"]
    if not dep["spec"]["selector"]["matchLabels"].items() <= tpl["metadata"]["labels"].items():
        errs.append("Deployment selector does not match the pod labels")
    lp = next(c for c in spec["containers"] if c["name"] == "leakproxy")
    ports = {p["name"]: p["containerPort"] for p in lp["ports"]}
    if ports.get("http") != port(cfg["listen"]):
        errs.append(f"containerPort http {ports.get('http')} != listen {cfg['listen']}")
    if ports.get("admin") != port(cfg["admin"]):
        errs.append(f"containerPort admin {ports.get('admin')} != admin {cfg['admin']}")
    ann = tpl["metadata"].get("annotations", {})
    if ann.get("prometheus.io/port") != str(port(cfg["admin"])) or ann.get("prometheus.io/path") != "/metrics":
        errs.append("prometheus.io/port and path must name the admin port and /metrics")
    if ann.get("prometheus.io/scrape") != "true":
        errs.append('prometheus.io/scrape must be "true"')
    for probe in ("readinessProbe", "livenessProbe"):
        cmd = " ".join(lp.get(probe, {}).get("exec", {}).get("command", []))
        path_ = lp.get(probe, {}).get("httpGet", {}).get("path", "")
        if "leakproxy-healthcheck" not in cmd and path_ != "/healthz":
            errs.append(f"leakproxy {probe} does not check /healthz")
    if not cfg["upstream"].startswith("http://127.0.0.1:"):
        errs.append("upstream must be the app on 127.0.0.1")
    mem = cfg.get("memory", {})
    if "url" in mem and not mem["url"].startswith("http://127.0.0.1:"):
        errs.append("memory url must be on 127.0.0.1")
    if (mem.get("source") == "proc") != bool(spec.get("shareProcessNamespace")):
        errs.append("shareProcessNamespace must be set exactly when the proc source is used")
    svc = by["Service"][0]
    if not svc["spec"]["selector"].items() <= tpl["metadata"]["labels"].items():
        errs.append("Service selector does not match the pod labels")
    for p in svc["spec"]["ports"]:
        if p["targetPort"] not in ("http", port(cfg["listen"])):
            errs.append(f"Service targetPort {p['targetPort']} is not leakproxy's listen port")
    env = {e["name"] for e in lp.get("env", [])}
    if cfg.get("admin_token") and "LEAKPROXY_TOKEN" not in env:
        errs.append("admin_token set but LEAKPROXY_TOKEN (probes, ctl) is not in the environment")
except (KeyError, IndexError, StopIteration, ValueError) as e:
    errs.append(f"missing or malformed: {e!r}")
if errs:
    print(f"FAIL {path}: " + "; ".join(errs))
else:
    print(f"PASS {path}: ports, probes, scrape annotations, Service and loopback addresses agree with the ConfigMap")
PY
  collect < <(python3 "$tmp/k8s.py" contrib/k8s/sidecar.yaml "$tmp/k8s.json")
  if [ -s "$tmp/k8s.json" ]; then
    check_configs "contrib/k8s/sidecar.yaml: the ConfigMap's leakproxy.json" "$tmp/k8s.json contrib/k8s/sidecar.yaml"
  fi
else
  skip "contrib/k8s/sidecar.yaml: python3 with yaml not installed (Debian: apt-get install python3-yaml)"
fi

# ---- systemd ----------------------------------------------------------------
unit=contrib/systemd/leakproxy.service
if have systemd-analyze; then
  # verify wants the executables to exist: point the unit at this binary
  mkdir -p "$tmp/systemd"
  sed "s|/usr/local/bin/leakproxy|$bin|g" "$unit" > "$tmp/systemd/leakproxy.service"
  if out=$(systemd-analyze verify "$tmp/systemd/leakproxy.service" 2>&1) && [ -z "$out" ]; then
    ok "$unit: systemd-analyze verify, no warnings"
  else
    bad "$unit: systemd-analyze verify"; printf '%s\n' "$out"
  fi
else
  skip "$unit: systemd-analyze not installed"
fi
if grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit" && grep -q '^KillSignal=SIGTERM$' "$unit" &&
   grep -q '^ExecStart=/usr/local/bin/leakproxy -c /etc/leakproxy/leakproxy.json$' "$unit"; then
  ok "$unit: reload is SIGHUP, stop is SIGTERM, config /etc/leakproxy/leakproxy.json"
else
  bad "$unit: ExecStart/ExecReload/KillSignal"
fi

# ---- Docker (the image is not built here) ------------------------------------
df=contrib/docker/Dockerfile
# every file make read to build the binary is in the build context
deps=$(cat build/*/*.d 2>/dev/null | tr ' \\' '\n\n' | sed 's/:$//' | grep -v '^$' | grep -v '^/' | sort -u)
if [ -n "$deps" ]; then
  outside=$(printf '%s\n' "$deps" | grep -Ev '^(src|include|build)/' || true)
  if [ -z "$outside" ] && grep -q '^COPY include/ include/$' "$df" && grep -q '^COPY src/ src/$' "$df" &&
     grep -qx '!include/' contrib/docker/Dockerfile.dockerignore && grep -qx '!src/' contrib/docker/Dockerfile.dockerignore; then
    ok "$df: the build context has every file make used ($(printf '%s\n' "$deps" | grep -c .) files, from build/*/*.d)"
  else
    bad "$df: files the build needs outside the build context: $outside"
  fi
else
  skip "$df: build context: no build/*/*.d (run make first)"
fi
if grep -q '^HEALTHCHECK .*leakproxy-healthcheck' "$df" && grep -Eq '^USER [1-9][0-9]*:[1-9][0-9]*$' "$df" &&
   grep -q '^EXPOSE 8080 9091$' "$df" && grep -q '"listen": "0.0.0.0:8080"' contrib/docker/leakproxy.json &&
   grep -q '"admin": "127.0.0.1:9091"' contrib/docker/leakproxy.json; then
  ok "$df: non-root numeric USER, HEALTHCHECK, EXPOSE matches the default config"
else
  bad "$df: USER / HEALTHCHECK / EXPOSE"
fi
# the runtime stage's packages provide the libraries the binary links from
# the Makefile's pkg-config packages (libevent, jansson)
if have dpkg && have ldd && grep -q '^VERSION_ID="12"' /etc/os-release 2>/dev/null; then
  rt=$(awk '/^FROM /{stage++} stage==2 && /apt-get install/' "$df" | grep -o 'lib[a-z0-9.-]*' | sort -u | xargs)
  missing= found=0
  for lib in $(ldd "$bin" | awk '$1 ~ /^lib(event|jansson)/ && $3 ~ /^\// {print $3}'); do
    found=$((found + 1))
    pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n1 | cut -d: -f1)
    case " $rt " in *" ${pkg:-?} "*) ;; *) missing="$missing ${pkg:-?}($lib)" ;; esac
  done
  if [ "$found" -lt 2 ]; then
    bad "$df: runtime packages: ldd $bin does not show libevent and libjansson"
  elif [ -z "$missing" ]; then
    ok "$df: the runtime packages ($rt) provide the binary's libevent and jansson"
  else
    bad "$df: the runtime stage lacks:$missing"
  fi
else
  skip "$df: runtime packages: not a Debian 12 host"
fi

# ---- the repository explains itself -------------------------------------------
# A comment or a doc states the fact it relies on instead of pointing at notes
# outside the repository or at the tracker: no tracked file names those notes'
# files, a sibling directory named shared or an issue number. Raw benchmark data
# (bench/results/) and npm lock files are not prose and are left out.
# ([/] keeps a wider search for that directory's path from finding this line)
refs_re='FIELD\.md|DESIGN\.md|STYLE\.md|\.\./shared[/]|[Ii]ssue [0-9]+'
refs_spec=(. ':(exclude)*node_modules/*' ':(exclude)bench/results/*' ':(exclude)*package-lock.json')
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  nrefs=$(git -C "$root" ls-files -- "${refs_spec[@]}" | grep -c .)
  hits=$(git -C "$root" grep -nIE "$refs_re" -- "${refs_spec[@]}")
  case $? in
    1) ok "tracked files: none cites notes outside the repository or a tracker issue number ($nrefs files)" ;;
    0) bad "tracked files cite notes outside the repository or a tracker issue number ($(printf '%s\n' "$hits" | grep -c .) lines): state the fact instead"
       printf '%s\n' "$hits" | head -n 20 | cut -c1-200 | sed 's/^/      /' ;;
    *) bad "git grep over the tracked files failed" ;;
  esac
else
  skip "references outside the repository: $root is not a git work tree"
fi

# ---- summary ------------------------------------------------------------------
echo
summary="contrib: $passed checks passed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
[ "$failed" -gt 0 ] && summary="$summary, $failed FAILED"
echo "$summary"
[ "$failed" -eq 0 ]
