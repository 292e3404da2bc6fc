#!/usr/bin/env bash
# bench/soak.sh -- leakproxy under steady load for a long time.
#
# Starts the Vue demo app (node --expose-gc, leaks off unless --leaks), leakproxy
# in front of it with everything on: the http memory source with forced GC and
# quiescing (the staging settings of demo/run.sh), the attribution engine, and
# a poller reading /api/routes, /api/memory, /api/report, /api/status and
# /metrics once a second (bench/soak_poll.mjs, the dashboard's load). It drives
# demo/load.mjs at a steady rate for the whole duration, records leakproxy's
# RSS (and fds, requests, the app's RSS) every --interval seconds into
# bench/results/soak-<UTC date>.tsv, and at the end prints:
#   - RSS drift after warm-up, under load: the last sample taken while the
#     load ran minus the first one after warm-up, the peak after warm-up and a
#     least-squares slope (KB/hour) over those samples (the sample taken after
#     the load stopped is recorded as "end" but not judged);
#   - requests, and errors: load-driver errors, non-2xx answers, leakproxy's
#     upstream error counters, poller failures, warn/error lines in its log;
#   - sanitizer reports (ASan/UBSan/LSan in leakproxy's stderr; valgrind's
#     error summary) and leakproxy's exit status after SIGTERM.
# Exit 0 only if drift <= --limit-kb, no errors and no sanitizer report.
#
# --hostile mixes in, for the whole duration and without stopping the main
# load, the red team's hostile inputs (docs/hardening.md, "Second round"):
#   - hostile clients (bench/soak_hostile.mjs): one probe a second in rotation
#     (dot segments, reserved paths, HEAD, bodiless POST, Connection: host,
#     malformed framing, oversized heads, slowloris, clients closing mid-body
#     or mid-response, pipelined bursts, admin requests with hostile Host
#     headers or %00 in route names); an answer outside a probe's expected
#     set fails the run;
#   - a hostile memory source (bench/soak_memfake.mjs): leakproxy's memory.url
#     and gc_url point at a loopback endpoint that forwards to the app's
#     /__mem, except every --hostile-period seconds (60; duration / 8 when
#     shorter) for 5 s, when it misbehaves in rotation (endless header lines,
#     endless body, a gc_url that never answers, figures near 2^63, an error
#     cut inside a UTF-8 character, "gc_ms" of an hour, invalid JSON).
# leakproxy then writes an access log (bench/soak_accesslog.mjs splits it):
# memory-source warnings are counted by kind instead of failing the run, and
# the judgement of the main load uses its own requests only: no error and no
# 5xx from leakproxy, and no request held at the admission gate longer than
# the gate's design allows, whatever the memory source does (a hung gc_url
# included): rows.hold_ms (500, a designed row holding other routes' requests)
# + 2 x quiesce_ms (the quiesce around a forced-GC read, which may follow)
# + HELD_SLACK_MS (20, timers of a busy event loop), unless the time
# leakproxy spent waiting for a CPU meanwhile explains the excess (the
# kernel's run-queue delay from /proc/PID/schedstat, sampled every 0.25 s:
# on a shared machine a niced process's timers fire late). The holds of
# requests started during a hang_gc window (and the 12 s after it) are
# reported beside the others. Everything else is judged as above.
#
#   bench/soak.sh [--duration S] [--rate R] [--concurrency C] [--interval S]
#                 [--warmup S] [--asan | --valgrind | --bin PATH] [--leaks]
#                 [--limit-kb KB] [--out FILE] [--hostile [--hostile-period S]]
#   bench/soak.sh --distinct [REQS] [--asan | --bin PATH]
#                                      # REQS (1M) requests over as many distinct
#                                      # paths: bench/rss.sh's distinct-paths run
#
#   --duration   seconds of load (3600)
#   --rate       requests per second, steady (200; the Vue app renders every page)
#   --concurrency load-driver connections (16)
#   --interval   seconds between RSS samples (60)
#   --warmup     seconds before the drift baseline (min(900, duration / 3)):
#                leakproxy's fixed rings fill during the first ~15 minutes
#                (4096 attribution rows at ~5 forced-GC floors a second)
#   --asan       run ./leakproxy-san (make SANITIZER=address,undefined CC=clang
#                leakproxy-san); ASan's quarantine is capped at ASAN_QUARANTINE_MB
#                (16) so that it fills during warm-up instead of reading as drift
#   --valgrind   run ./leakproxy under valgrind --leak-check=full (use a lower
#                --rate, e.g. 50, and a shorter --duration)
#   --bin PATH   the binary to run (default ./leakproxy)
#   --leaks      keep the demo app's leaks on (it then grows by design; the
#                default LEAKS=off keeps an hour-long run within memory)
#   --limit-kb   allowed drift (1024)
#   --hostile    hostile clients and memory source mixed in (above)
# Everything runs niced (NICE, default 10) on loopback in a temporary directory
# (kept on failure), and every process started here is stopped on exit.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DURATION=3600 RATE=200 CONC=16 INTERVAL=60 WARMUP= MODE=plain BIN= LEAKS=off LIMIT_KB=1024 OUT= DISTINCT=
HOSTILE=0 HPERIOD= QUIESCE_MS=50 ROWS_HOLD_MS=500 HELD_SLACK_MS=${HELD_SLACK_MS:-20}   # rows.hold_ms: its default
NICE=${NICE:-10}
ASAN_QUARANTINE_MB=${ASAN_QUARANTINE_MB:-16}
while [ $# -gt 0 ]; do
    case $1 in
        --duration) DURATION=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --concurrency) CONC=$2; shift ;;
        --interval) INTERVAL=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --asan) MODE=asan ;;
        --valgrind) MODE=valgrind ;;
        --bin) BIN=$2; shift ;;
        --leaks) LEAKS=on ;;
        --limit-kb) LIMIT_KB=$2; shift ;;
        --out) OUT=$2; shift ;;
        --hostile) HOSTILE=1 ;;
        --hostile-period) HPERIOD=$2; shift ;;
        --distinct)
            DISTINCT=${REQS:-1000000}
            case ${2:-} in [0-9]*) DISTINCT=$2; shift ;; esac ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "soak.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$WARMUP" ] || WARMUP=$(( DURATION / 3 < 900 ? DURATION / 3 : 900 ))
[ -n "$HPERIOD" ] || HPERIOD=$(( DURATION / 8 < 60 ? (DURATION / 8 > 10 ? DURATION / 8 : 10) : 60 ))
if [ -z "$BIN" ]; then
    BIN=$ROOT/leakproxy
    [ "$MODE" = asan ] && BIN=$ROOT/leakproxy-san
fi
die() { echo "soak.sh: $*" >&2; exit 1; }
# an ASan build given with --bin is run as --asan (its quarantine would read as drift)
[ "$MODE" = plain ] && [ -f "$BIN" ] && grep -qa __asan_init "$BIN" && MODE=asan
if [ -n "$DISTINCT" ]; then
    # 1M requests over 1M distinct paths: bench/rss.sh's distinct-paths run
    # (wrk + nginx), with this binary; ASan without its quarantine
    lp_env=
    [ "$MODE" = asan ] && lp_env="ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    LEAKPROXY=$BIN REQS=$DISTINCT RUNS=distinct-paths LP_ENV=$lp_env exec "$ROOT/bench/rss.sh"
fi
note() { echo "# $*" >&2; }
[ -x "$BIN" ] || die "$BIN is not built (make; for --asan: make SANITIZER=address,undefined CC=clang leakproxy-san)"
[ -d demo/vue/node_modules ] || die "demo/vue/node_modules missing (cd demo/vue && npm ci)"
for t in node curl jq; do command -v "$t" >/dev/null || die "$t not found"; done
[ "$MODE" = valgrind ] && { command -v valgrind >/dev/null || die "valgrind not found"; }

# the work directory, the binary's copy, the app and the load driver have
# neutral names in every command line: someone else's broad `pkill -f
# server.js`, `pkill -f load.mjs` or `pkill -f leakproxy` on a shared machine
# must not end this run (a first try of --hostile lost its app that way)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/soakrun.XXXXXX")
KEEP=${KEEP_WORK:-0}    # KEEP_WORK=1: keep the work directory (logs, access log) after a passing run too
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'KEEP=1; exit 130' INT TERM
set -m    # background jobs get their own process group: cleanup kills whole groups

. "$ROOT/demo/lib/wait_line.sh"   # wait_line, wait_app, wait_leakproxy
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# a private copy: others rebuild the binary while this runs
cp "$BIN" "$WORK/proxy.bin" || die "cannot copy $BIN"
LP_BIN=$WORK/proxy.bin
ln -s "$ROOT/demo/vue/server.js" "$WORK/app-vue.js"     # Node resolves the real path for its imports
ln -s "$ROOT/demo/load.mjs" "$WORK/driver.mjs"          # run with --preserve-symlinks-main (load.mjs
cp demo/vue/routes.json "$WORK/mix-vue.json"            # runs main() only when argv[1] is itself)
SHA=$(sha256sum "$LP_BIN" | cut -c1-12)
HEAD=$(git rev-parse --short HEAD 2>/dev/null || echo '?')

note "starting the Vue demo app (LEAKS=$LEAKS)"
leak_env=()
[ "$LEAKS" = off ] && leak_env=(LEAKS=off)
(cd demo/vue && exec env PORT=0 "${leak_env[@]}" nice -n "$NICE" node --expose-gc "$WORK/app-vue.js") \
    >"$WORK/app.out" 2>"$WORK/app.err" &
APP_PID=$!
PIDS+=("$APP_PID")
UP=$(wait_app "$WORK/app.out" "$WORK/app.err" 20) || die "the app did not start"
APP_NODE=$(sed -n 's/^vue: pid \([0-9]*\),.*/\1/p' "$WORK/app.out" | head -1)
MEM=$UP
if [ "$HOSTILE" = 1 ]; then
    note "starting the hostile memory source (a ${HPERIOD}s period) in front of http://$UP/__mem"
    nice -n "$NICE" node bench/soak_memfake.mjs --app "$UP" --period "$HPERIOD" --window 5 \
        --first $(( HPERIOD / 2 )) --json "$WORK/memfake.json" >"$WORK/memfake.out" 2>"$WORK/memfake.err" &
    PIDS+=("$!")
    MEMFAKE_PID=$!
    for _ in $(seq 100); do grep -q '^memfake: listening' "$WORK/memfake.out" && break; sleep 0.1; done
    MEM=$(sed -n 's/^memfake: listening \([0-9.:]*\).*/\1/p' "$WORK/memfake.out" | head -1)
    [ -n "$MEM" ] || die "the hostile memory source did not start ($(cat "$WORK/memfake.err"))"
fi

ACCESS_LOG=
[ "$HOSTILE" = 1 ] && ACCESS_LOG=$WORK/access.log
node -e '
const fs = require("fs"); const [src, dst, up, mem, alog, q] = process.argv.slice(1);
const c = JSON.parse(fs.readFileSync(src, "utf8"));
c.upstream = "http://" + up; c.listen = "127.0.0.1:0"; c.admin = "127.0.0.1:0"; c.access_log = alog || null;
c.memory = { source: "http", url: "http://" + mem + "/__mem", gc_url: "http://" + mem + "/__mem?gc=1",
             interval_ms: 200, gc_interval_ms: 200, max_gc_duty: 0.1, quiesce_ms: +q };
c.attribution = Object.assign({ interval_ms: 1000 }, c.attribution || {});
// where the hard descriptor limit cannot hold the default 10000 connections,
// a limit that fits (otherwise leakproxy warns at start and the run fails)
const nofile = +process.argv[7];
if (nofile > 0 && nofile < 2 * 10000 + 64) c.limits = Object.assign({ max_connections: Math.floor((nofile - 64) / 2) }, c.limits || {});
fs.writeFileSync(dst, JSON.stringify(c, null, 2) + "\n");' demo/vue/leakproxy.json "$WORK/leakproxy.json" "$UP" "$MEM" "$ACCESS_LOG" "$QUIESCE_MS" \
    "$(ulimit -Hn | sed 's/unlimited/0/')"

lp_cmd=("$LP_BIN" -c "$WORK/leakproxy.json")
case $MODE in
    asan) export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:quarantine_size_mb=$ASAN_QUARANTINE_MB${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
          export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" ;;
    valgrind) lp_cmd=(valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
                      --error-exitcode=99 --log-file="$WORK/valgrind.log" "${lp_cmd[@]}") ;;
esac
note "starting leakproxy ($MODE, $BIN, sha256 $SHA)"
nice -n "$NICE" "${lp_cmd[@]}" 2>"$WORK/leakproxy.log" &
LP_PID=$!
PIDS+=("$LP_PID")
wait_leakproxy "$WORK/leakproxy.log" 60 || die "leakproxy did not start (no proxy or admin listener)"
# leakproxy's time waiting for a CPU (run-queue delay, /proc/PID/schedstat):
# "EPOCH_US CPU_NS WAIT_NS" every 0.25 s, what explains late timers
( while read -r cpu wait _ <"/proc/$LP_PID/schedstat"; do echo "${EPOCHREALTIME/./} $cpu $wait"; sleep 0.25; done ) \
    >"$WORK/sched.txt" 2>/dev/null &
PIDS+=("$!")
# under valgrind the pid to watch is valgrind's (it is the process)
note "app http://$UP (pid $APP_NODE), proxy http://$PROXY, admin http://$ADMIN, work $WORK"

mkdir -p bench/results
STAMP=$(date -u '+%Y-%m-%dT%H%MZ')
[ -n "$OUT" ] || OUT=bench/results/soak-$STAMP.tsv
{
    echo "# soak.sh $(date -u '+%Y-%m-%d %H:%M UTC'): mode $MODE, binary sha256 $SHA (HEAD $HEAD), rate $RATE/s, concurrency $CONC, duration ${DURATION}s, warm-up ${WARMUP}s, app leaks $LEAKS$([ "$HOSTILE" = 1 ] && echo ", hostile clients and memory source (period ${HPERIOD}s)")"
    printf 't_s\tphase\trss_kb\tfds\trequests\tapp_rss_kb\n'
} >"$OUT"

nice -n "$NICE" node bench/soak_poll.mjs "$ADMIN" 1000 >"$WORK/poll.json" 2>"$WORK/poll.err" &
POLL_PID=$!
PIDS+=("$POLL_PID")

note "load: ${DURATION}s at $RATE req/s, concurrency $CONC; RSS every ${INTERVAL}s into $OUT"
nice -n "$NICE" node --preserve-symlinks-main "$WORK/driver.mjs" --mix "$WORK/mix-vue.json" --target "http://$PROXY" --duration "$DURATION" --rate "$RATE" \
    --concurrency "$CONC" --seed 1 --quiet --timeout-ms 30000 --json "$WORK/load.json" >"$WORK/load.txt" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
if [ "$HOSTILE" = 1 ]; then
    nice -n "$NICE" node bench/soak_hostile.mjs "$PROXY" "$ADMIN" --interval-ms 1000 --json "$WORK/hostile.json" \
        >"$WORK/hostile.out" 2>"$WORK/hostile.err" &
    HOSTILE_PID=$!
    PIDS+=("$HOSTILE_PID")
fi

requests_now() {
    curl -s --max-time 10 "http://$ADMIN/api/routes" | jq '[.routes[].requests] | add' 2>/dev/null || echo '?'
}
T0=$(date +%s)
next=0
while kill -0 "$LOAD_PID" 2>/dev/null; do
    now=$(( $(date +%s) - T0 ))
    if [ "$now" -ge "$next" ]; then
        kill -0 "$LP_PID" 2>/dev/null || break
        phase=run; [ "$now" -lt "$WARMUP" ] && phase=warmup
        printf '%d\t%s\t%s\t%s\t%s\t%s\n' "$now" "$phase" "$(rss_kb "$LP_PID")" "$(fds "$LP_PID")" \
            "$(requests_now)" "$(rss_kb "${APP_NODE:-$APP_PID}")" >>"$OUT"
        note "$(tail -n1 "$OUT" | tr '\t' ' ')"
        next=$(( next + INTERVAL ))
    fi
    sleep 1
done
wait "$LOAD_PID"; load_rc=$?
if [ "$HOSTILE" = 1 ]; then
    kill -TERM "$HOSTILE_PID" 2>/dev/null; wait "$HOSTILE_PID" 2>/dev/null
fi
sleep 2
now=$(( $(date +%s) - T0 ))
printf '%d\t%s\t%s\t%s\t%s\t%s\n' "$now" end "$(rss_kb "$LP_PID")" "$(fds "$LP_PID")" "$(requests_now)" \
    "$(rss_kb "${APP_NODE:-$APP_PID}")" >>"$OUT"

ROUTES=$(curl -s --max-time 10 "http://$ADMIN/api/routes")
kill -TERM "$POLL_PID" 2>/dev/null; wait "$POLL_PID" 2>/dev/null
alive=1; kill -0 "$LP_PID" 2>/dev/null || alive=0
kill -TERM "$LP_PID" 2>/dev/null
for _ in $(seq 600); do kill -0 "$LP_PID" 2>/dev/null || break; sleep 0.1; done
wait "$LP_PID"; lp_rc=$?
if [ "$HOSTILE" = 1 ]; then
    kill -TERM "$MEMFAKE_PID" 2>/dev/null; wait "$MEMFAKE_PID" 2>/dev/null
fi

# ---- the verdict -----------------------------------------------------------
FAIL=0
drift=$(awk -F'\t' -v w="$WARMUP" '
    /^#/ || $1 == "t_s" || $2 == "end" { next }
    { t = $1; r = $3 }
    r == "" { next }
    $2 != "warmup" && !have { base = r; bt = t; have = 1 }
    have { if (r > peak) peak = r; last = r; n++; sx += t; sy += r; sxx += t * t; sxy += t * r }
    END {
        if (!have) { print "nan nan nan nan 0"; exit }
        slope = (n > 1 && n * sxx - sx * sx > 0) ? (n * sxy - sx * sy) / (n * sxx - sx * sx) * 3600 : 0
        printf "%d %d %d %.0f %d\n", base, last - base, peak - base, slope, n
    }' "$OUT")
read -r base_kb drift_kb peak_kb slope_kb nsamp <<<"$drift"
[ "$nsamp" -ge 2 ] 2>/dev/null || { echo "FAIL: fewer than 2 samples after warm-up" >&2; FAIL=1; }
[ "${drift_kb#-}" -le "$LIMIT_KB" ] 2>/dev/null || { echo "FAIL: RSS drift ${drift_kb} KB after warm-up (limit $LIMIT_KB)" >&2; FAIL=1; }

reqs=$(jq '[.routes[].requests] | add' <<<"$ROUTES" 2>/dev/null)
s5=$(jq '[.routes[].status["5xx"]] | add' <<<"$ROUTES" 2>/dev/null)
s4=$(jq '[.routes[].status["4xx"]] | add' <<<"$ROUTES" 2>/dev/null)
uperr=$(jq '[.routes[].upstream_errors] | add' <<<"$ROUTES" 2>/dev/null)
errkinds=$(jq -c '[.routes[].errors | to_entries[]] | group_by(.key) | map({(.[0].key): (map(.value) | add)}) | add' <<<"$ROUTES" 2>/dev/null)
load_done=$(jq '.requests' "$WORK/load.json" 2>/dev/null || echo '?')
load_err=$(jq '.errors' "$WORK/load.json" 2>/dev/null || echo '?')
load_non2xx=$(jq '[.routes[].status | to_entries[] | select(.key != "2xx" and .key != "err") | .value] | add // 0' "$WORK/load.json" 2>/dev/null || echo '?')
polls=$(jq '.polls' "$WORK/poll.json" 2>/dev/null || echo '?')
poll_fail=$(jq '.failures' "$WORK/poll.json" 2>/dev/null || echo '?')
# a memory reading the app answered late (the machine was busy) is reported,
# not failed: the sampler retries; any other warn/error line fails the run
memslow=$(grep -cE '^[0-9TZ:.-]+ warn memory source .*no answer within' "$WORK/leakproxy.log")
LOGOK=' warn memory source .*no answer within'
# hostile: the memory source's warnings are expected (counted by kind, not failed)
[ "$HOSTILE" = 1 ] && LOGOK=' warn memory source '
logbad=$(grep -E '^[0-9TZ:.-]+ (warn|error) ' "$WORK/leakproxy.log" | grep -vcE "$LOGOK")
memerr=$(grep -cE '^[0-9TZ:.-]+ warn memory source ' "$WORK/leakproxy.log")
memkinds=
if [ "$HOSTILE" = 1 ]; then
    # "kind" = the message with numbers, quoted text and URLs blanked
    memkinds=$(grep -E '^[0-9TZ:.-]+ warn memory source ' "$WORK/leakproxy.log" | sed -E 's/^[^ ]+ warn memory source http: //;
        s/ \(retrying every.*//; s#http://[^ :]*:[0-9]+[^ :]*#URL#g; s/"[^"]*"/"…"/g; s/'"'"'[^'"'"']*'"'"'/'"'"'…'"'"'/g;
        /no answer within/!s/[0-9]+/N/g' | cut -c1-110 | sort | uniq -c | sort -rn | awk '{ n = $1; $1 = ""; printf "%s%d ×%s", (NR > 1 ? "; " : ""), n, $0 }')
    HELD_LIMIT=$(( ROWS_HOLD_MS + 2 * QUIESCE_MS + HELD_SLACK_MS ))
    ACC=$(node bench/soak_accesslog.mjs "$ACCESS_LOG" "$HELD_LIMIT" "$WORK/memfake.out" "$WORK/sched.txt" 2>&1)
    HJ=$(cat "$WORK/hostile.json" 2>/dev/null || echo '{}')
    MJ=$(cat "$WORK/memfake.json" 2>/dev/null || echo '{}')
    n5=$(jq '.normal.status["5xx"] // 0' <<<"$ACC" 2>/dev/null || echo '?')
    nerr=$(jq '[.normal.errors[]] | add // 0' <<<"$ACC" 2>/dev/null || echo '?')
    nheld=$(jq '.normal.held_over_unexplained' <<<"$ACC" 2>/dev/null || echo '?')
    hunexp=$(jq '.unexpected // "?"' <<<"$HJ" 2>/dev/null || echo '?')
    hprobes=$(jq '.probes // 0' <<<"$HJ" 2>/dev/null || echo '?')
fi
san=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' "$WORK/leakproxy.log")
vg=
if [ "$MODE" = valgrind ]; then
    vg=$(grep -E 'ERROR SUMMARY|definitely lost|indirectly lost' "$WORK/valgrind.log" | sed 's/^==[0-9]*== *//' | tr '\n' ';')
    grep -q 'ERROR SUMMARY: 0 errors' "$WORK/valgrind.log" || san=$((san + 1))
fi
checks=("load_err:$load_err" "load_non2xx:$load_non2xx" "s5:$s5" "uperr:$uperr" "poll_fail:$poll_fail" "san:$san" "logbad:$logbad")
# hostile: leakproxy's per-route counters include the hostile clients' refusals
# and aborts; the main load is judged on its own access-log lines instead
[ "$HOSTILE" = 1 ] && checks=("load_err:$load_err" "load_non2xx:$load_non2xx" "normal_5xx:$n5" "normal_errors:$nerr"
    "normal_held_over_${HELD_LIMIT}ms_unexplained:$nheld" "hostile_unexpected:$hunexp" "poll_fail:$poll_fail" "san:$san" "logbad:$logbad")
[ "$HOSTILE" = 1 ] && [ "${hprobes:-0}" -gt 0 ] 2>/dev/null || { [ "$HOSTILE" = 1 ] && { echo "FAIL: no hostile probe ran" >&2; FAIL=1; }; }
for v in "${checks[@]}"; do
    [ "${v#*:}" = 0 ] || { echo "FAIL: ${v%%:*} = ${v#*:}" >&2; FAIL=1; }
done
[ "$alive" = 1 ] || { echo "FAIL: leakproxy died during the run" >&2; FAIL=1; }
[ "$lp_rc" = 0 ] || { echo "FAIL: leakproxy exited $lp_rc after SIGTERM" >&2; FAIL=1; }
[ "$load_rc" = 0 ] || { echo "FAIL: the load driver exited $load_rc" >&2; FAIL=1; }

kb2mb() { awk -v k="$1" 'BEGIN { printf "%+.2f MB", k / 1024 }'; }
echo "## soak.sh: $MODE, ${DURATION}s at $RATE req/s ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- binary: $BIN (sha256 $SHA, HEAD $HEAD)$([ "$MODE" = asan ] && echo ", ASAN_OPTIONS=$ASAN_OPTIONS")"
echo "- samples: $OUT (every ${INTERVAL}s; warm-up ${WARMUP}s)"
echo "- RSS: start $(awk -F'\t' '$1 ~ /^[0-9]+$/ { print $3; exit }' "$OUT") KB, after warm-up $base_kb KB; end − warm-up $(kb2mb "$drift_kb"), peak − warm-up $(kb2mb "$peak_kb"), slope $(kb2mb "$slope_kb")/hour over $nsamp samples (limit $LIMIT_KB KB)"
echo "- requests: $reqs counted by leakproxy, $load_done completed by the load driver"
echo "- errors: load driver $load_err, non-2xx at the client $load_non2xx, leakproxy 4xx $s4 / 5xx $s5, upstream errors $uperr $errkinds, poller $poll_fail of $polls polls failed, warn/error log lines $logbad (and $memslow late memory readings)"
if [ "$HOSTILE" = 1 ]; then
    echo "- main load in leakproxy's access log: $(jq -c '.normal | {requests, status, errors, held, held_max_ms, held_over_limit, held_over_explained, held_over_unexplained}' <<<"$ACC") (held limit ${HELD_LIMIT} ms = rows.hold_ms $ROWS_HOLD_MS + 2 × quiesce_ms $QUIESCE_MS + $HELD_SLACK_MS)"
    echo "- main load's holds by start time: during hang_gc windows (+12 s) $(jq -c '.hang_gc' <<<"$ACC"), other times $(jq -c '.other' <<<"$ACC")"
    echo "- main load per minute (not judged): $(jq -c '.minutes' <<<"$ACC")"
    echo "- leakproxy's run-queue wait (waiting for a CPU): $(jq -c '.sched' <<<"$ACC")"
    echo "- hostile requests in the access log: $(jq -c '.hostile | {requests, status, errors, held, held_max_ms}' <<<"$ACC")"
    echo "- hostile probes: $hprobes, unexpected answers $hunexp; by probe: $(jq -c '.by_probe' <<<"$HJ")"
    echo "- hostile memory source: windows $(jq -c '.windows' <<<"$MJ"), hostile answers $(jq -c '.hostile_answers' <<<"$MJ"), forwarded $(jq '.forwarded' <<<"$MJ"), forward errors $(jq '.forward_errors' <<<"$MJ")"
    echo "- memory-source warnings: $memerr ($memkinds)"
fi
echo "- forced GC (from the poller, not judged): $(jq -c '{rows, longest_without_new_row_s, longest_without_new_row_at, gc_last_ms_max}' "$WORK/poll.json" 2>/dev/null)"
echo "- sanitizer reports: $san${vg:+ (valgrind: $vg)}; leakproxy exit status after SIGTERM: $lp_rc"
echo "- after the load stopped (2 s): RSS $(tail -n1 "$OUT" | cut -f3) KB (not judged: idle under ASan, its allocator's caches grow, bounded by the quarantine; a release build stays flat)"
echo "- fds at start / end: $(awk -F'\t' '$1 ~ /^[0-9]+$/ { print $4; exit }' "$OUT") / $(tail -n1 "$OUT" | cut -f4)"
echo
echo "Status: $([ "$FAIL" = 0 ] && echo OK || echo FAILED)"
if [ "$FAIL" != 0 ]; then
    KEEP=1
    [ "$logbad" = 0 ] || { echo "--- warn/error lines (first 10):"; grep -E '^[0-9TZ:.-]+ (warn|error) ' "$WORK/leakproxy.log" | grep -vE "$LOGOK" | head -10; }
    if [ "$HOSTILE" = 1 ]; then
        jq -r '.unexpected_samples[]?' <<<"$HJ"
        jq -r '.normal.s5_samples[]?, .normal.held_over_samples[]?' <<<"$ACC" | head -10
    fi
    [ "$san" = 0 ] || { echo "--- sanitizer:"; grep -m1 -A30 -E 'ERROR: |runtime error:' "$WORK/leakproxy.log"; }
    [ "$poll_fail" = 0 ] || jq -r '.last_failure' "$WORK/poll.json" 2>/dev/null
    exit 1
fi
