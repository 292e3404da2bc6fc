#!/usr/bin/env bash
# bench/rss.sh -- leakproxy's resident memory across 1M requests.
#
# Run A: REQS (1,000,000) keep-alive requests for one path (/page/1, 20 KB)
#        through leakproxy to the nginx upstream.
# Run B: REQS requests over REQS distinct paths, half "/page/<n>" (matched by
#        the route /page/:id) and half "/x/<n>/y" (unmatched: _other), from a
#        wrk Lua script; paths must never become routes or grow memory.
# Each run uses a fresh leakproxy. wrk runs in CHUNK-second pieces until REQS
# responses have arrived; the first piece is the warm-up. VmRSS of leakproxy
# is sampled every second. Target: RSS flat within 2 MB after warm-up.
#
# Pinning as in proxy.sh: leakproxy on CPU 0, wrk and the upstream on CPU 1.
# Env: REQS (1000000), CONNS (256), CHUNK (5), LIMIT_KB (2048),
#      RAW_OUT (prefix for the per-second RSS samples), LEAKPROXY,
#      RUNS ("same-path distinct-paths"; bench/soak.sh --distinct runs only
#      distinct-paths), LP_ENV (environment for leakproxy, e.g. ASAN_OPTIONS).
# Output: markdown on stdout. Exit 1 on errors, non-2xx, a dead proxy, or
# growth beyond LIMIT_KB.
set -u
source "$(dirname "$0")/lib.sh"

REQS=${REQS:-1000000}
CONNS=${CONNS:-256}
CHUNK=${CHUNK:-5}
LIMIT_KB=${LIMIT_KB:-2048}

bench_init rss
make_pages
start_upstream

cat >"$WORK/distinct.lua" <<'EOF'
-- every request a new path: /page/<n> (route "page") or /x/<n>/y (_other)
local counter = 0
function init(args) counter = tonumber(args[1]) or 0 end
function request()
  counter = counter + 1
  if counter % 2 == 0 then
    return wrk.format("GET", "/page/" .. counter)
  end
  return wrk.format("GET", "/x/" .. counter .. "/y")
end
EOF

FAIL=0
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

start_sampler() {   # samples "seconds rss_kb phase" every second into $1
    local out=$1
    echo start >"$WORK/phase"
    ( t0=$(date +%s.%N)
      while kill -0 "$LP_PID" 2>/dev/null; do
          r=$(rss_kb "$LP_PID")
          [ -n "$r" ] && echo "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') $r $(cat "$WORK/phase")"
          sleep 1
      done ) >"$out" &
    SAMPLER=$!
    PIDS+=("$SAMPLER")
}

# one_run NAME PATH [LUA] -> appends a markdown row to $WORK/rows
one_run() {
    local name=$1 lua=${3:-} total=0 chunk=0 start warm end maxall maxafter out url
    start_leakproxy
    url="http://127.0.0.1:$LP_PORT$2"
    check_get "http://127.0.0.1:$LP_PORT/page/1" "$PAGE_BYTES"
    check_get "http://127.0.0.1:$LP_PORT/x/1/y" "$PAGE_BYTES"
    local samples=$WORK/rss.$name.log
    start_sampler "$samples"
    sleep 1
    start=$(rss_kb "$LP_PID")
    note "$name: leakproxy pid $LP_PID, start RSS ${start} kB"
    local t_begin; t_begin=$(date +%s)
    while [ "$total" -lt "$REQS" ]; do
        out=$WORK/wrk.$name.$chunk.txt
        if [ -n "$lua" ]; then
            taskset -c "$CPU_LOAD" wrk -t1 -c"$CONNS" -d"${CHUNK}s" -s "$lua" "$url" -- $((chunk * 10000000)) >"$out" 2>&1
        else
            taskset -c "$CPU_LOAD" wrk -t1 -c"$CONNS" -d"${CHUNK}s" "$url" >"$out" 2>&1
        fi
        kill -0 "$LP_PID" 2>/dev/null || { echo "FAIL: leakproxy died during $name chunk $chunk" >&2;
            tail -20 "$LP_LOG" >&2; KEEP_WORK=1; exit 1; }
        read -r req _ rps _ _ _ err non <<<"$(parse_wrk "$out")"
        if [ "$req" -eq 0 ] || [ "$err" -ne 0 ] || [ "$non" -ne 0 ]; then
            echo "FAIL: $name chunk $chunk: requests=$req socket-errors=$err non-2xx=$non" >&2
            grep -E 'Socket errors|Non-2xx' "$out" >&2
            FAIL=1
        fi
        total=$((total + req))
        if [ "$chunk" -eq 0 ]; then
            warm=$(rss_kb "$LP_PID")
            echo run >"$WORK/phase"
            note "$name: warm-up $req requests, RSS ${warm} kB"
        fi
        note "$name: chunk $chunk $req requests ($rps req/s), total $total, RSS $(rss_kb "$LP_PID") kB"
        chunk=$((chunk + 1))
    done
    sleep 2
    end=$(rss_kb "$LP_PID")
    echo end >"$WORK/phase"
    sleep 1.5
    local secs=$(( $(date +%s) - t_begin ))
    maxall=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$samples")
    maxafter=$(awk 'BEGIN { m = 0 } $3 != "start" && $2 > m { m = $2 } END { print m }' "$samples")
    local json routes other bad
    json=$(curl -sS "http://127.0.0.1:$LP_ADMIN/api/routes")
    routes=$(jq '.routes | length' <<<"$json")
    other=$(jq '.routes[] | select(.name == "_other") | .requests' <<<"$json")
    bad=$(jq '[.routes[] | .status["4xx"] + .status["5xx"]] | add' <<<"$json")
    [ "$routes" = 3 ] || { echo "FAIL: $name: /api/routes lists $routes routes, want 3" >&2; FAIL=1; }
    [ "$bad" = 0 ] || { echo "FAIL: $name: leakproxy counted $bad 4xx/5xx" >&2; FAIL=1; }
    local growth=$((end - warm)) peak=$((maxafter - warm)) verdict=ok
    { [ "$growth" -le "$LIMIT_KB" ] && [ "$peak" -le "$LIMIT_KB" ]; } || { verdict="GREW"; FAIL=1; }
    [ -n "${RAW_OUT:-}" ] && cp "$samples" "$RAW_OUT.$name.log"
    echo "| $name | $total | $secs | $(mb "$start") | $(mb "$warm") | $(mb "$end") | $(mb "$maxall") | $(signed_mb "$growth") | $(signed_mb "$peak") | $routes routes, _other $other | $verdict |" >>"$WORK/rows"
    kill -TERM "$LP_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$LP_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$LP_PID" 2>/dev/null
    local rc=$?
    [ "$rc" = 0 ] || { echo "FAIL: $name: leakproxy exited $rc on SIGTERM" >&2; FAIL=1; }
    kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
signed_mb() { awk -v k="$1" 'BEGIN { printf "%+.2f", k / 1024 }'; }

: >"$WORK/rows"
for run in ${RUNS:-same-path distinct-paths}; do
    case $run in
        same-path) one_run same-path /page/1 ;;
        distinct-paths) one_run distinct-paths / "$WORK/distinct.lua" ;;
        *) die "RUNS: unknown run $run (same-path, distinct-paths)" ;;
    esac
done

echo "## rss.sh: leakproxy RSS across $REQS requests"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r); $("$LP_BIN" --version 2>&1 | head -1) (sha256 $LP_SHA, HEAD $LP_HEAD)."
echo "wrk -t1 -c$CONNS keep-alive in ${CHUNK}-s pieces until $REQS responses; the first piece is the warm-up;"
echo "20 KB page from the nginx upstream; leakproxy on CPU $CPU_PROXY, wrk + upstream on CPU $CPU_LOAD; VmRSS sampled every second."
echo
echo "| run | requests | seconds | start MB | after warm-up MB | end MB | max MB | end − warm-up | max − warm-up | routes after | ≤ $((LIMIT_KB / 1024)) MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
cat "$WORK/rows"
echo
echo "Status: $([ $FAIL = 0 ] && echo OK || echo FAILED)."
[ "$FAIL" = 0 ] || { KEEP_WORK=1; exit 1; }
