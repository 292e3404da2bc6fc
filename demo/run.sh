#!/usr/bin/env bash
# run.sh -- the body of `make demo` (the Makefile builds ./leakproxy first).
#
# Installs the demo app if needed (npm ci), starts it with --expose-gc on a free port,
# starts ./leakproxy in front of it, drives seeded load through the proxy with a progress
# line, then prints what leakproxy found per route (GET /api/routes) beside the app's
# measured ground truth, and the admin URL. Kills everything it started, also on Ctrl-C.
#
# Environment: DEMO_APP=vue|react (vue), DEMO_SECONDS (75), DEMO_CONCURRENCY (8),
# DEMO_RATE req/s (150; 0 = unlimited), DEMO_SEED (1), DEMO_HOLD=1 keeps everything
# running after the report until Ctrl-C, LEAKPROXY=path (./leakproxy). The app's own
# variables (LEAKS=off, LEAK_BUS=0, WORKERS=2, ...) pass through.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=$ROOT/demo
APP=${DEMO_APP:-vue}
SECS=${DEMO_SECONDS:-75}
CONC=${DEMO_CONCURRENCY:-8}
RATE=${DEMO_RATE:-150}
SEED=${DEMO_SEED:-1}
BIN=${LEAKPROXY:-$ROOT/leakproxy}

die() { echo "demo: $*" >&2; exit 1; }
[ -d "$DEMO/$APP" ] || die "no app demo/$APP (DEMO_APP is vue or react)"
[ -x "$BIN" ] || die "$BIN is not built: run make first"
command -v node >/dev/null || die "node is not installed (Node >= 18; see README.md)"
command -v curl >/dev/null || die "curl is not installed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/leakproxy-demo.XXXXXX")
PIDS=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ]; then
        echo "demo: failed; logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$ROOT/demo/lib/wait_line.sh"   # wait_line, wait_app, wait_leakproxy

if [ ! -d "$DEMO/$APP/node_modules" ]; then
    echo "== installing demo/$APP (npm ci)"
    (cd "$DEMO/$APP" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in demo/$APP"
fi

echo "== starting the $APP SSR app (node --expose-gc, free port)"
(cd "$DEMO/$APP" && PORT=0 exec node --expose-gc server.js) >"$WORK/app.out" 2>"$WORK/app.err" &
PIDS+=($!)
UP=$(wait_app "$WORK/app.out" "$WORK/app.err" 15) || die "the app did not start"
echo "   app on http://$UP  ($(sed -n 2p "$WORK/app.out" | cut -c1-150))"

node -e '
const fs = require("fs"); const [src, dst, up] = process.argv.slice(1);
const c = JSON.parse(fs.readFileSync(src, "utf8"));
c.upstream = "http://" + up; c.listen = "127.0.0.1:0"; c.admin = "127.0.0.1:0";
// the memory source: the app'"'"'s own endpoint, with forced GC (staging settings)
c.memory = { source: "http", url: "http://" + up + "/__mem", gc_url: "http://" + up + "/__mem?gc=1",
             interval_ms: 200, gc_interval_ms: 200, max_gc_duty: 0.1, quiesce_ms: 50 };
c.attribution = Object.assign({ interval_ms: 1000 }, c.attribution || {});
fs.writeFileSync(dst, JSON.stringify(c, null, 2) + "\n");' "$DEMO/$APP/leakproxy.json" "$WORK/leakproxy.json" "$UP"

echo "== starting leakproxy -c $WORK/leakproxy.json"
"$BIN" -c "$WORK/leakproxy.json" 2>"$WORK/leakproxy.log" &
PIDS+=($!)
wait_leakproxy "$WORK/leakproxy.log" 10 || die "leakproxy did not start (no proxy or admin listener)"
echo "   proxy on http://$PROXY, admin on http://$ADMIN"

mem() { curl -s --max-time 10 "http://$UP/__mem?gc=1" || echo '{}'; }
BEFORE=$(mem)

echo "== driving load through the proxy: ${SECS}s, concurrency $CONC, rate ${RATE:-0}/s, seed $SEED (Ctrl-C stops)"
rate_arg=()
[ "${RATE:-0}" != 0 ] && rate_arg=(--rate "$RATE")
# in the background + wait, so that a signal to this script is handled at once
node "$DEMO/load.mjs" --app "$APP" --target "http://$PROXY" --duration "$SECS" --concurrency "$CONC" \
    --seed "$SEED" "${rate_arg[@]}" >"$WORK/load.txt" &
PIDS+=($!)
rc=0
wait "${PIDS[2]}" || rc=$?
[ "$rc" -eq 130 ] && { echo "demo: interrupted" >&2; exit 130; }
[ "$rc" -eq 0 ] || die "load driver failed: $(tail -3 "$WORK/load.txt")"
tail -n1 "$WORK/load.txt"

AFTER=$(mem)
echo
echo "== what leakproxy found (GET http://$ADMIN/api/routes)"
curl -s --max-time 10 "http://$ADMIN/api/routes" | node "$DEMO/lib/show-routes.mjs" "$DEMO/$APP/truth.json" \
    || echo "(could not read the admin API; leakproxy log: $WORK/leakproxy.log)"
echo
node -e '
const [a, b] = process.argv.slice(1).map((s) => { try { return JSON.parse(s); } catch { return {}; } });
const mb = (x) => x == null ? "?" : (x / 1048576).toFixed(1);
console.log(`upstream memory after forced GC: heapUsed ${mb(a.heapUsed)} -> ${mb(b.heapUsed)} MB, ` +
  `RSS ${mb(a.vmrss)} -> ${mb(b.vmrss)} MB, external ${mb(a.external)} -> ${mb(b.external)} MB (pid ${b.pid})`);' "$BEFORE" "$AFTER"
echo "app's own count of what it retained: $(curl -s --max-time 5 "http://$UP/__config" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const c=JSON.parse(s);console.log(JSON.stringify({retained:c.retained,cache:c.cache}))}catch{console.log("?")}})')"
echo "ground truth per route: demo/$APP/README.md (node demo/truth.mjs $APP)"
echo
echo "== leakproxy's report (GET http://$ADMIN/api/report?format=text)"
curl -s --max-time 10 "http://$ADMIN/api/report?format=text" || echo "(no report)"
echo
echo "admin: http://$ADMIN/  (API: http://$ADMIN/api/routes, http://$ADMIN/metrics)"
if [ "${DEMO_HOLD:-0}" = 1 ]; then
    echo "DEMO_HOLD=1: proxy http://$PROXY and admin stay up; Ctrl-C to stop"
    while kill -0 "${PIDS[1]}" 2>/dev/null; do sleep 1; done
fi
