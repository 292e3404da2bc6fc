#!/usr/bin/env bash
# bench/bisect.sh [ROUND_SECONDS] -- the bisection's acceptance run on the Vue demo.
#
#   nice -n 5 bench/bisect.sh 60          # the default round length; ~10 min (8 rounds + warm-up)
#   nice -n 5 bench/bisect.sh 30
#   METRIC=rss bench/bisect.sh 60         # bisect on RSS instead of heap_used
#   LEAK_BUS=0 TAG=nobus bench/bisect.sh 60   # a control run: the app's switches pass through
#   ROUTES=news,about,products,user bench/bisect.sh 30   # only these candidates
#   RATE=0 CONC=8 WARMUP=15 TAG=fullspeed nice -n 5 bench/bisect.sh 10   # full speed: closed loop, no rate limit
#   bench/bisect.sh --report bench/results/bisect-vue-60-2026-11-23.json   # re-print a saved run
#
# What it does, all on free loopback ports, everything it starts killed on exit (trap):
#  1. starts the Vue demo like demo/run.sh: `node --expose-gc server.js`, PORT=0;
#  2. starts a private copy of ./leakproxy with demo/vue/leakproxy.json's routes, the `http`
#     memory source with forced GC and quiescing exactly as demo/run.sh configures it
#     (interval 200 ms, gc_interval 200 ms, max_gc_duty 0.1, quiesce_ms 50), attribution every
#     1000 ms, the file fallback demo/vue/dist/index.html, and `static` never_csr (it serves
#     client.js and app.css: answering them with the HTML shell would break every page, and the
#     app never server-renders them);
#  3. drives the seeded mixed load of demo/load.mjs (`--app vue`: every route of the demo, with
#     the weights of demo/vue/routes.json) through leakproxy at RATE req/s (100), concurrency 4;
#  4. waits WARMUP seconds (60): 6,000 requests, so the 30 MB one-time index of `search` is built
#     (first search request, within a second), the 200-entry product cache is full (~210 product
#     requests, ~13 s) and only churns, and every route is past its first ~100 requests (JIT and
#     inline caches: the "early" window of demo/vue/truth.json; the rarest route, about, gets ~240);
#  5. `leakproxy ctl bisect all --round-seconds R --wait`, watching GET /api/bisect, /api/routes and
#     /api/memory meanwhile (bench/bisect.mjs watch: rounds as they end, floors, GC pauses, rendered
#     counts), gives up after MAX_MINUTES (120) with DELETE /api/bisect;
#  6. saves GET /api/bisect to bench/results/bisect-vue[-METRIC][-TAG]-R-DATE.json, what was watched to
#     ...-DATE.run.json, and prints the report (bench/bisect.mjs report): routes found vs
#     demo/vue/truth.json, every round, rounds and minutes, rounds vs log2(candidates), and
#     whether every mode is back to what it was before (GET /api/routes before and after).
#
# Environment: RATE (100; 0 = full speed, closed-loop clients without a rate limit), CONC (4), SEED (1), WARMUP (60), METRIC (heap_used), ROUTES (all),
# MAX_MINUTES (120), TAG (added to the file name), OUT_DIR (bench/results), LEAKPROXY (./leakproxy),
# KEEP_WORK=1 keeps the temp dir (logs). The app's own variables (LEAKS, LEAK_BUS, LEAK_LIVE,
# LEAK_NATIVE, LEAK_*_KB, CACHE_*, WARMUP_MB) pass through to it and are recorded in the run file.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER=$ROOT/bench/bisect.mjs
if [ "${1:-}" = "--report" ]; then
    shift
    exec node "$HELPER" report "$@"
fi

R=${1:-60}
RATE=${RATE:-100}
CONC=${CONC:-4}
SEED=${SEED:-1}
WARMUP=${WARMUP:-60}
METRIC=${METRIC:-heap_used}
ROUTES=${ROUTES:-all}
TAG=${TAG:-}
MAX_MINUTES=${MAX_MINUTES:-120}
OUT_DIR=${OUT_DIR:-$ROOT/bench/results}
BIN=${LEAKPROXY:-$ROOT/leakproxy}
APPDIR=$ROOT/demo/vue
KEEP_WORK=${KEEP_WORK:-0}

die() { echo "bisect.sh: $*" >&2; exit 1; }
if ! [[ "$R" =~ ^[0-9]+$ ]] || [ "$R" -lt 2 ]; then die "ROUND_SECONDS must be an integer >= 2"; fi
[ -x "$BIN" ] || die "$BIN is not built: run make first"
command -v node >/dev/null || die "node is not installed"
command -v curl >/dev/null || die "curl is not installed"
[ -d "$APPDIR/node_modules" ] || die "demo/vue/node_modules missing: (cd demo/vue && npm ci)"
[ -f "$APPDIR/dist/index.html" ] || die "demo/vue/dist/index.html missing: (cd demo/vue && npm run shell)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/leakproxy-bisect.XXXXXX")
PIDS=()
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ "$KEEP_WORK" = 1 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ]; }; then
        echo "bisect.sh: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

. "$ROOT/demo/lib/wait_line.sh"   # wait_line, wait_app, wait_leakproxy
stamp() { date -u '+%H:%M:%S'; }

# a private copy: others may rebuild ./leakproxy during the run
cp "$BIN" "$WORK/leakproxy" || die "cannot copy $BIN"
LP_SHA=$(sha256sum "$WORK/leakproxy" | cut -c1-12)
HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
DIRTY=
if git -C "$ROOT" status --porcelain --untracked-files=no -- src include 2>/dev/null | grep -q .; then DIRTY=+dirty; fi

echo "== $(stamp) Vue demo app (node --expose-gc, free port)"
(cd "$APPDIR" && PORT=0 exec node --expose-gc server.js) >"$WORK/app.out" 2>"$WORK/app.err" &
PIDS+=($!)
UP=$(wait_app "$WORK/app.out" "$WORK/app.err" 15) || die "the app did not start"
echo "   app on http://$UP ($(sed -n 2p "$WORK/app.out" | cut -c1-160))"

node -e '
const fs = require("fs"); const [src, dst, up, shell] = process.argv.slice(1);
const c = JSON.parse(fs.readFileSync(src, "utf8"));
c.upstream = "http://" + up; c.listen = "127.0.0.1:0"; c.admin = "127.0.0.1:0";
// the memory source exactly as demo/run.sh configures it (forced GC, quiescing)
c.memory = { source: "http", url: "http://" + up + "/__mem", gc_url: "http://" + up + "/__mem?gc=1",
             interval_ms: 200, gc_interval_ms: 200, max_gc_duty: 0.1, quiesce_ms: 50 };
c.attribution = Object.assign({ interval_ms: 1000 }, c.attribution || {});
c.fallback = { file: shell };
for (const r of c.routes) if (r.name === "static") r.never_csr = true;
fs.writeFileSync(dst, JSON.stringify(c, null, 2) + "\n");' \
    "$APPDIR/leakproxy.json" "$WORK/leakproxy.json" "$UP" "$APPDIR/dist/index.html" || die "cannot write the config"

echo "== $(stamp) leakproxy (sha256 $LP_SHA, HEAD $HEAD$DIRTY)"
"$WORK/leakproxy" -c "$WORK/leakproxy.json" 2>"$WORK/leakproxy.log" &
PIDS+=($!)
wait_leakproxy "$WORK/leakproxy.log" 10 || die "leakproxy did not start (no proxy or admin listener)"
echo "   proxy http://$PROXY, admin http://$ADMIN"
ctl() { "$WORK/leakproxy" ctl --admin "$ADMIN" "$@"; }

echo "== $(stamp) load: demo/load.mjs --app vue --rate $RATE -c $CONC --seed $SEED (until the end)"
node "$ROOT/demo/load.mjs" --app vue --target "http://$PROXY" --rate "$RATE" --concurrency "$CONC" \
    --seed "$SEED" --duration 86400 --quiet --json "$WORK/load.json" >"$WORK/load.txt" 2>"$WORK/load.err" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")

echo "== $(stamp) warm-up ${WARMUP}s"
sleep "$WARMUP"
kill -0 "$LOAD_PID" 2>/dev/null || { cat "$WORK/load.err" "$WORK/load.txt" >&2; die "the load driver exited during the warm-up"; }
curl -sf --max-time 10 "http://$ADMIN/api/routes" >"$WORK/routes-before.json" || die "GET /api/routes failed"
curl -sf --max-time 10 "http://$UP/__mem?gc=1" >"$WORK/mem-before.json" || echo '{}' >"$WORK/mem-before.json"

echo "== $(stamp) leakproxy ctl bisect ${ROUTES//,/ } --round-seconds $R --metric $METRIC --wait"
T0=$(date +%s)
# shellcheck disable=SC2086  # ROUTES: one word per route
ctl bisect ${ROUTES//,/ } --round-seconds "$R" --metric "$METRIC" --wait >"$WORK/ctl.txt" 2>&1 &
CTL_PID=$!
PIDS+=("$CTL_PID")
# prints each round as it ends; records floors, GC pauses and rendered counts; exits when the
# bisection is no longer running (or aborts it after MAX_MINUTES)
node "$HELPER" watch --admin "$ADMIN" --out "$WORK/watch.json" --max-minutes "$MAX_MINUTES" &
WATCH_PID=$!
PIDS+=("$WATCH_PID")
wait "$WATCH_PID"; wrc=$?
for _ in $(seq 100); do kill -0 "$CTL_PID" 2>/dev/null || break; sleep 0.1; done
wait "$CTL_PID"; crc=$?
T1=$(date +%s)
[ "$wrc" -eq 0 ] || echo "bisect.sh: the watcher exited with $wrc" >&2
echo "== $(stamp) bisection over after $(( (T1 - T0) / 60 )) min $(( (T1 - T0) % 60 )) s (ctl exit $crc):"
sed 's/^/   /' "$WORK/ctl.txt"

# GET /api/bisect and /api/routes once the bisection has ended, before the load stops
curl -sf --max-time 10 "http://$ADMIN/api/bisect" >"$WORK/bisect.json" || die "GET /api/bisect failed"
curl -sf --max-time 10 "http://$ADMIN/api/routes" >"$WORK/routes-after.json" || die "GET /api/routes failed"
curl -sf --max-time 10 "http://$ADMIN/api/events?limit=256" >"$WORK/events.json" || echo '{}' >"$WORK/events.json"
kill -TERM "$LOAD_PID" 2>/dev/null
wait "$LOAD_PID" 2>/dev/null
curl -sf --max-time 30 "http://$UP/__mem?gc=1" >"$WORK/mem-after.json" || echo '{}' >"$WORK/mem-after.json"
curl -sf --max-time 10 "http://$UP/__config" >"$WORK/app-config.json" || echo '{}' >"$WORK/app-config.json"

DATE=$(date -u +%F)
mkdir -p "$OUT_DIR"
tag=vue; [ "$METRIC" = heap_used ] || tag=$tag-$METRIC
[ -z "$TAG" ] || tag=$tag-$TAG
APP_ENV=$(node -e 'const o = {}; for (const [k, v] of Object.entries(process.env)) if (/^(LEAKS|LEAK_\w+|CACHE_\w+|WARMUP_MB|WORKERS)$/.test(k)) o[k] = v; console.log(JSON.stringify(o));')
OUT=$OUT_DIR/bisect-$tag-$R-$DATE.json
n=1
while [ -e "$OUT" ]; do n=$((n + 1)); OUT=$OUT_DIR/bisect-$tag-$R-$DATE.$n.json; done
node -e 'const fs = require("fs"); fs.writeFileSync(process.argv[2], JSON.stringify(JSON.parse(fs.readFileSync(process.argv[1], "utf8")), null, 1) + "\n");' \
    "$WORK/bisect.json" "$OUT" || die "cannot write $OUT"
RUN=${OUT%.json}.run.json
node "$HELPER" runfile --out "$RUN" --watch "$WORK/watch.json" --before "$WORK/routes-before.json" \
    --after "$WORK/routes-after.json" --mem-before "$WORK/mem-before.json" --mem-after "$WORK/mem-after.json" \
    --load "$WORK/load.json" --app-config "$WORK/app-config.json" --events "$WORK/events.json" \
    --meta "$(printf '{"command":"%sbench/bisect.sh %s","date":"%s","rate":%s,"concurrency":%s,"seed":%s,"warmup_s":%s,"metric":"%s","routes":"%s","round_seconds":%s,"app_env":%s,"leakproxy_sha256":"%s","head":"%s%s","node":"%s","nproc":%s,"loadavg_end":"%s","wall_s":%s,"ctl_exit":%s}' \
        "$(node -e 'const e = JSON.parse(process.argv[1]); const x = Object.entries(e).map(([k, v]) => `${k}=${v} `).join(""); process.stdout.write(x);' "$APP_ENV")$([ "$METRIC" = heap_used ] || echo "METRIC=$METRIC ")$([ "$ROUTES" = all ] || echo "ROUTES=$ROUTES ")" \
        "$R" "$(date -u '+%F %H:%M UTC')" "$RATE" "$CONC" "$SEED" "$WARMUP" "$METRIC" "$ROUTES" "$R" "$APP_ENV" "$LP_SHA" "$HEAD" "$DIRTY" \
        "$(node --version)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$((T1 - T0))" "$crc")" \
    || die "cannot write $RUN"
echo "== saved ${OUT#"$ROOT"/} and ${RUN#"$ROOT"/}"
echo
node "$HELPER" report "$OUT"
