#!/usr/bin/env bash
# bench/profile.sh -- where a proxied request's CPU goes: leakproxy vs nginx.
#
# Same setup and pinning as proxy.sh (proxy on CPU 0, wrk -t1 + upstream
# nginx on CPU 1). For each proxy, page and connection count, one wrk run of
# DURATION seconds with, attached to the proxy process for the whole run:
#   perf stat   task-clock, context switches, page faults and every
#               syscalls:sys_enter_* tracepoint -> syscalls per request;
#   malloc_count.so (LD_PRELOAD) -> malloc/calloc/realloc/free per request.
# Then one perf record (cpu-clock, DWARF call graphs, PERF_FREQ Hz) per proxy
# at 256 connections on the 1 KB page -> top functions (self time).
# Requests = wrk's count for the run (exact for leakproxy: /api/routes).
#
# Env: DURATION (8), CONNS ("32 256"), PAGES ("small page"), PERF_SECS (6),
#      PERF_FREQ (999), TOP (25), LEAKPROXY. Needs root (or perf_event_paranoid
#      <= 0) and a perf matching the kernel.
# Output: markdown on stdout.
set -u
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-8}
CONNS=${CONNS:-"32 256"}
PAGES=${PAGES:-"small page"}
PERF_SECS=${PERF_SECS:-6}
PERF_FREQ=${PERF_FREQ:-999}
TOP=${TOP:-25}
command -v perf >/dev/null || die "perf not found (apt-get install -y linux-perf)"
command -v gcc >/dev/null || die "gcc not found"

bench_init profile
gcc -O2 -shared -fPIC -o "$WORK/malloc_count.so" "$BENCH_DIR/malloc_count.c" || die "cannot build malloc_count.so"
make_pages
start_upstream
LP_ENV="LD_PRELOAD=$WORK/malloc_count.so MALLOC_COUNT_FILE=$WORK/mc.leakproxy"
NX_ENV="LD_PRELOAD=$WORK/malloc_count.so MALLOC_COUNT_FILE=$WORK/mc.nginx"
start_leakproxy
start_nginx_proxy
check_get "http://127.0.0.1:$LP_PORT/small" "$SMALL_BYTES"
check_get "http://127.0.0.1:$NX_PORT/small" "$SMALL_BYTES"
[ -s "$WORK/mc.leakproxy" ] && [ -s "$WORK/mc.nginx" ] || die "malloc_count.so did not load"
note "upstream :$UP_PORT leakproxy :$LP_PORT nginx :$NX_PORT work $WORK"

port_of() { case $1 in leakproxy) echo "$LP_PORT";; nginx) echo "$NX_PORT";; esac; }
pid_of()  { case $1 in leakproxy) echo "$LP_PID";; nginx) echo "$NX_PID";; esac; }
path_of() { case $1 in page) echo /page/1;; small) echo /small;; esac; }
mc() { od -An -t u8 -N 32 "$WORK/mc.$1" | tr -s ' \n' ' '; }   # "malloc calloc realloc free"

# warm both (fills the upstream pools)
for t in leakproxy nginx; do
    taskset -c "$CPU_LOAD" wrk -t1 -c256 -d2s "http://127.0.0.1:$(port_of $t)/small" >/dev/null 2>&1
done

FAIL=0
SUMMARY=$WORK/summary.tsv
: >"$SUMMARY"
for pg in $PAGES; do
  for c in $CONNS; do
    for t in leakproxy nginx; do
        pid=$(pid_of "$t")
        st=$WORK/stat.$t.$pg.$c.txt
        m0=$(mc "$t")
        perf stat -x, -o "$st" -p "$pid" \
            -e task-clock,context-switches,page-faults,'syscalls:sys_enter_*' 2>/dev/null &
        perf_pid=$!
        sleep 0.5
        taskset -c "$CPU_LOAD" wrk -t1 -c"$c" -d"${DURATION}s" \
            "http://127.0.0.1:$(port_of "$t")$(path_of "$pg")" >"$WORK/wrk.$t.$pg.$c.txt" 2>&1
        kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null
        m1=$(mc "$t")
        read -r req _ rps _ _ _ err non <<<"$(parse_wrk "$WORK/wrk.$t.$pg.$c.txt")"
        if [ "$req" -eq 0 ] || [ "$err" -ne 0 ] || [ "$non" -ne 0 ]; then
            echo "FAIL: $t $pg c=$c: requests=$req errors=$err non-2xx=$non" >&2; FAIL=1
        fi
        kill -0 "$pid" 2>/dev/null || { echo "FAIL: $t died" >&2; KEEP_WORK=1; exit 1; }
        # per-request figures
        awk -F, -v n="$req" -v t="$t" -v pg="$pg" -v c="$c" -v rps="$rps" -v m0="$m0" -v m1="$m1" '
            $3 == "task-clock" { tc = $1 }              # msec
            $3 == "context-switches" { cs = $1 }
            $3 == "page-faults" { pf = $1 }
            $3 ~ /^syscalls:sys_enter_/ && $1 + 0 > 0 { s = $3; sub(/^syscalls:sys_enter_/, "", s); sc[s] = $1; tot += $1 }
            END {
                split(m0, a, " "); split(m1, b, " ")
                printf "%s\t%s\t%s\t%d\t%.0f\t%.2f\t%.3f\t%.3f\t%.2f", t, pg, c, n, rps, tc * 1000 / n, cs / n, pf / n, tot / n
                for (i = 1; i <= 4; i++) printf "\t%.2f", (b[i] - a[i]) / n
                printf "\t"
                for (s in sc) printf "%s=%.3f ", s, sc[s] / n
                printf "\n"
            }' "$st" >>"$SUMMARY"
        note "$t $pg c=$c: $req requests, $rps req/s"
        sleep 1
    done
  done
done

label() { case $1 in page) echo "20 KB";; small) echo "1 KB";; esac; }
echo "## profile.sh: leakproxy vs nginx, per request"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), $(perf --version); $("$LP_BIN" --version | head -1) (sha256 $LP_SHA, HEAD $LP_HEAD), $(nginx -v 2>&1 | sed 's/.*: //')."
echo "wrk -t1 keep-alive for ${DURATION}s per line; perf stat attached to the proxy process for the whole run;"
echo "proxy on CPU $CPU_PROXY, wrk + upstream nginx on CPU $CPU_LOAD; the machine is shared (see req/s)."
echo
echo "| proxy | page | conns | requests | req/s | CPU µs/req (task-clock) | ctx switches/req | syscalls/req | malloc/req | calloc/req | realloc/req | free/req |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' -v OFS=' | ' '{ lbl = ($2 == "page") ? "20 KB" : "1 KB"
    print "| " $1, lbl, $3, $4, $5, $6, $7, $9, $10, $11, $12, $13 " |" }' "$SUMMARY"
echo
echo "Syscalls per request (calls of each syscall / wrk requests; ≥ 0.01 shown):"
echo
for pg in $PAGES; do
  for c in $CONNS; do
    echo "- $(label "$pg"), $c conns:"
    for t in leakproxy nginx; do
        line=$(awk -F'\t' -v t="$t" -v pg="$pg" -v c="$c" '$1 == t && $2 == pg && $3 == c { print $14 }' "$SUMMARY" |
            tr ' ' '\n' | awk -F= 'NF == 2 && $2 >= 0.01 { printf "%s %s\n", $2, $1 }' | sort -gr |
            awk '{ printf "%s%s %.2f", (NR > 1 ? ", " : ""), $2, $1 }')
        echo "  - $t: $line"
    done
  done
done

# perf record: top functions, 1 KB page at 256 connections
for t in leakproxy nginx; do
    pid=$(pid_of "$t")
    taskset -c "$CPU_LOAD" wrk -t1 -c256 -d"$((PERF_SECS + 2))s" "http://127.0.0.1:$(port_of "$t")/small" >"$WORK/wrk.rec.$t.txt" 2>&1 &
    wrk_pid=$!
    sleep 1
    perf record -q -F "$PERF_FREQ" --call-graph dwarf,16384 -p "$pid" -o "$WORK/perf.$t.data" -- sleep "$PERF_SECS" >/dev/null 2>&1
    wait "$wrk_pid"
    echo
    echo "### perf record, $t, 1 KB page, 256 conns"
    echo
    echo "By object (self time):"
    echo
    echo '```'
    perf report -i "$WORK/perf.$t.data" --no-children --sort dso --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | sed 's/[ -]*$//'
    echo '```'
    echo
    echo "Top $TOP functions by self time:"
    echo
    echo '```'
    perf report -i "$WORK/perf.$t.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | sed 's/[ -]*$//' | head -"$TOP"
    echo '```'
    echo
    echo "User-space functions by inclusive time (children: includes the kernel time of the syscalls"
    echo "they make; DWARF call graphs), top $TOP:"
    echo
    echo '```'
    perf report -i "$WORK/perf.$t.data" --children --sort dso,symbol --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | grep -F '[.]' | grep -v -E '\] (0x0|_start|main|__libc_start|ngx_single_process_cycle|ngx_master_process_cycle)' |
        sed 's/[ -]*$//' | head -"$TOP"
    echo '```'
done
echo
echo "Status: $([ $FAIL = 0 ] && echo OK || echo FAILED)."
[ "$FAIL" = 0 ] || { KEEP_WORK=1; exit 1; }
