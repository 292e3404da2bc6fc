#!/usr/bin/env bash
# bench/proxy.sh -- requests/s and latency: direct vs leakproxy vs nginx.
#
# One upstream (nginx, 1 process, keep-alive, access_log off) serves a fixed
# ~20 KB page (/page/1) and a ~1 KB page (/small). wrk (keep-alive, 1 thread)
# loads it (a) directly, (b) through leakproxy, (c) through nginx as a
# keep-alive reverse proxy (1 process, upstream keepalive 1024). Rounds
# alternate direct, leakproxy, nginx, direct, ...; every figure is the median
# over rounds, ratios are medians of per-round ratios.
#
# Pinning (identical for leakproxy and nginx): the proxy alone on CPU 0; wrk
# and the upstream nginx share CPU 1. "direct" therefore runs wrk and the
# upstream on one core while CPU 0 idles: it is a reference, not a ceiling.
#
# Env: ROUNDS (5), DURATION (seconds per run, 10), CONNS ("32 256"),
#      PAGES ("page small"), WARMUP (seconds, 3), RAW_OUT (file for the raw
#      per-run TSV), CPU_PROXY (0), CPU_LOAD (1), LEAKPROXY (./leakproxy).
# Output: a markdown report on stdout, progress on stderr. Exit 1 if any run
# had socket errors, non-2xx responses, wrong body sizes or a dead proxy.
set -u
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"32 256"}
PAGES=${PAGES:-"page small"}
WARMUP=${WARMUP:-3}
TARGETS="direct leakproxy nginx"

bench_init proxy
make_pages
start_upstream
start_leakproxy
start_nginx_proxy
note "upstream :$UP_PORT  leakproxy :$LP_PORT (admin :$LP_ADMIN)  nginx :$NX_PORT  work $WORK"
note "pinning: proxy on CPU $CPU_PROXY, wrk -t1 + upstream nginx on CPU $CPU_LOAD"

port_of() { case $1 in direct) echo "$UP_PORT";; leakproxy) echo "$LP_PORT";; nginx) echo "$NX_PORT";; esac; }
pid_of()  { case $1 in direct) echo "";; leakproxy) echo "$LP_PID";; nginx) echo "$NX_PID";; esac; }
path_of() { case $1 in page) echo /page/1;; small) echo /small;; esac; }

# Expected bytes per response (head + body) per target and page, from curl.
declare -A EXPECT
for t in $TARGETS; do
    for pg in $PAGES; do
        url="http://127.0.0.1:$(port_of "$t")$(path_of "$pg")"
        want=$([ "$pg" = page ] && echo "$PAGE_BYTES" || echo "$SMALL_BYTES")
        check_get "$url" "$want"
        EXPECT[$t.$pg]=$(curl -sS -o /dev/null -w '%{size_header} %{size_download}' "$url" | awk '{ print $1 + $2 }')
    done
done

FAIL=0
RAW=$WORK/raw.tsv
printf 'round\tpage\tconns\ttarget\trps\tp50_ms\tp99_ms\trequests\tsecs\tproxy_cpu_s\tupstream_cpu_s\twrk_cpu_s\tothers_cpu_proxy_pct\tothers_cpu_load_pct\n' >"$RAW"

# run TARGET PAGE CONNS SECS ROUND -- one wrk run; appends to $RAW unless ROUND=warm
run() {
    local t=$1 pg=$2 c=$3 secs=$4 round=$5 pid out p0 p1 u0 u1
    pid=$(pid_of "$t")
    out=$WORK/wrk.$round.$pg.$c.$t.txt
    local b0 b1 l0 l1 w0 w1
    p0=0 p1=0
    [ -n "$pid" ] && p0=$(cpu_ticks "$pid")
    u0=$(cpu_ticks "$UP_PID")
    b0=$(cpu_busy "$CPU_PROXY"); l0=$(cpu_busy "$CPU_LOAD"); children_ticks w0
    taskset -c "$CPU_LOAD" wrk -t1 -c"$c" -d"${secs}s" --latency \
        "http://127.0.0.1:$(port_of "$t")$(path_of "$pg")" >"$out" 2>&1
    children_ticks w1; b1=$(cpu_busy "$CPU_PROXY"); l1=$(cpu_busy "$CPU_LOAD")
    u1=$(cpu_ticks "$UP_PID")
    [ -n "$pid" ] && p1=$(cpu_ticks "$pid")
    # CPU used on each pinned core by processes that are not ours (other
    # tenants of this shared machine), in % of that core.
    local oth_p oth_l
    oth_p=$(awk -v b="$b0 $b1" -v mine=$((p1 - p0)) 'BEGIN { split(b, x, " ");
        t = x[4] - x[2]; o = (x[3] - x[1]) - mine; printf "%.0f", (t > 0 ? 100 * (o < 0 ? 0 : o) / t : 0) }')
    oth_l=$(awk -v b="$l0 $l1" -v mine=$((u1 - u0 + w1 - w0)) 'BEGIN { split(b, x, " ");
        t = x[4] - x[2]; o = (x[3] - x[1]) - mine; printf "%.0f", (t > 0 ? 100 * (o < 0 ? 0 : o) / t : 0) }')
    for p in "$UP_PID" "$LP_PID" "$NX_PID"; do
        if ! kill -0 "$p" 2>/dev/null; then
            echo "FAIL: process $p died during $t/$pg/c$c round $round" >&2
            tail -20 "$LP_LOG" >&2
            KEEP_WORK=1; exit 1
        fi
    done
    read -r req secs_r rps p50 p99 bytes err non <<<"$(parse_wrk "$out")"
    local bad=""
    [ "$req" -gt 0 ] || bad="$bad no-requests"
    [ "$err" -eq 0 ] || bad="$bad socket-errors=$err"
    [ "$non" -eq 0 ] || bad="$bad non-2xx=$non"
    if [ "$req" -gt 0 ]; then
        awk -v b="$bytes" -v n="$req" -v e="${EXPECT[$t.$pg]}" \
            'BEGIN { d = b / n / e - 1; exit (d < -0.03 || d > 0.03) }' ||
            bad="$bad bytes/req=$((bytes / req))(want ${EXPECT[$t.$pg]})"
    fi
    if [ -n "$bad" ]; then
        echo "FAIL: $t $pg c=$c round $round:$bad" >&2
        grep -E 'Socket errors|Non-2xx' "$out" >&2
        FAIL=1
    fi
    [ "$round" = warm ] && return
    local pcpu=""
    [ -n "$pid" ] && pcpu=$(awk -v d=$((p1 - p0)) -v k="$CLK_TCK" 'BEGIN { printf "%.2f", d / k }')
    local ucpu
    ucpu=$(awk -v d=$((u1 - u0)) -v k="$CLK_TCK" 'BEGIN { printf "%.2f", d / k }')
    local wcpu
    wcpu=$(awk -v d=$((w1 - w0)) -v k="$CLK_TCK" 'BEGIN { printf "%.2f", d / k }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$pg" "$c" "$t" \
        "$rps" "$p50" "$p99" "$req" "$secs_r" "$pcpu" "$ucpu" "$wcpu" "$oth_p" "$oth_l" >>"$RAW"
    note "round $round $pg c=$c $t: $rps req/s p50 ${p50}ms p99 ${p99}ms proxy_cpu ${pcpu:--}s others cpu$CPU_PROXY ${oth_p}% cpu$CPU_LOAD ${oth_l}%"
}

maxc=0
for c in $CONNS; do [ "$c" -gt "$maxc" ] && maxc=$c; done
for t in $TARGETS; do
    for pg in $PAGES; do run "$t" "$pg" "$maxc" "$WARMUP" warm; done
done

for r in $(seq "$ROUNDS"); do
    for c in $CONNS; do
        for pg in $PAGES; do
            for t in $TARGETS; do
                run "$t" "$pg" "$c" "$DURATION" "$r"
                sleep 1
            done
        done
    done
done

# leakproxy's own books must agree: no 4xx/5xx, nothing unmatched.
ROUTES_JSON=$(curl -sS "http://127.0.0.1:$LP_ADMIN/api/routes")
LP_BAD=$(jq '[.routes[] | .status["4xx"] + .status["5xx"]] | add' <<<"$ROUTES_JSON")
LP_2XX=$(jq '[.routes[] | .status["2xx"]] | add' <<<"$ROUTES_JSON")
[ "$LP_BAD" = 0 ] || { echo "FAIL: leakproxy counted $LP_BAD 4xx/5xx responses" >&2; FAIL=1; }

[ -n "${RAW_OUT:-}" ] && cp "$RAW" "$RAW_OUT"

# ---- report ----------------------------------------------------------------
col() { # col PAGE CONNS TARGET FIELD -> values, one per round
    awk -F'\t' -v pg="$1" -v c="$2" -v t="$3" -v f="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
        $2 == pg && $3 == c && $4 == t { print $idx[f] }' "$RAW"
}
ratio() { # ratio PAGE CONNS FIELD TARGET_A TARGET_B -> median over rounds of A/B
    awk -F'\t' -v pg="$1" -v c="$2" -v f="$3" -v a="$4" -v b="$5" '
        NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
        $2 == pg && $3 == c && $4 == a { A[$1] = $idx[f] }
        $2 == pg && $3 == c && $4 == b { B[$1] = $idx[f] }
        END { for (r in A) if ((r in B) && B[r] > 0) print A[r] / B[r] }' "$RAW" | median
}
cpu_per_req() { # µs per request, per round
    awk -F'\t' -v pg="$1" -v c="$2" -v t="$3" '
        NR > 1 && $2 == pg && $3 == c && $4 == t && $10 != "" { print $10 / $8 * 1e6 }' "$RAW"
}
cpu_pct() {
    awk -F'\t' -v pg="$1" -v c="$2" -v t="$3" '
        NR > 1 && $2 == pg && $3 == c && $4 == t && $10 != "" { print 100 * $10 / $9 }' "$RAW"
}
cpu_ratio() {
    awk -F'\t' -v pg="$1" -v c="$2" '
        NR > 1 && $2 == pg && $3 == c && $4 == "leakproxy" { A[$1] = $10 / $8 }
        NR > 1 && $2 == pg && $3 == c && $4 == "nginx" { B[$1] = $10 / $8 }
        END { for (r in A) if ((r in B) && B[r] > 0) print A[r] / B[r] }' "$RAW" | median
}
fmt() { awk -v v="$1" -v p="$2" 'BEGIN { if (v == "nan" || v == "") print "-"; else printf "%." p "f", v }'; }

label() { case $1 in page) echo "20 KB";; small) echo "1 KB";; esac; }

echo "## proxy.sh: direct vs leakproxy vs nginx"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r)."
echo "ROUNDS=$ROUNDS DURATION=${DURATION}s CONNS=\"$CONNS\" PAGES=\"$PAGES\"; wrk -t1 keep-alive."
echo "Pinning: proxy (leakproxy or nginx) on CPU $CPU_PROXY; wrk and the upstream nginx on CPU $CPU_LOAD."
echo "$(nginx -v 2>&1), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $("$LP_BIN" --version 2>&1 | head -1) (binary sha256 $LP_SHA, built $LP_BUILT, HEAD $LP_HEAD)."
echo
echo "| page | conns | target | req/s (median) | req/s min–max | p50 ms | p99 ms | proxy CPU µs/req | proxy CPU % of a core | upstream CPU µs/req | others' CPU % on CPU $CPU_PROXY / $CPU_LOAD |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for pg in $PAGES; do
    for c in $CONNS; do
        for t in $TARGETS; do
            rps=$(col "$pg" "$c" "$t" rps | median)
            lo=$(col "$pg" "$c" "$t" rps | sort -g | head -1)
            hi=$(col "$pg" "$c" "$t" rps | sort -g | tail -1)
            p50=$(col "$pg" "$c" "$t" p50_ms | median)
            p99=$(col "$pg" "$c" "$t" p99_ms | median)
            cpr=$(cpu_per_req "$pg" "$c" "$t" | median)
            pct=$(cpu_pct "$pg" "$c" "$t" | median)
            ucpr=$(awk -F'\t' -v pg="$pg" -v c="$c" -v t="$t" \
                'NR > 1 && $2 == pg && $3 == c && $4 == t { print $11 / $8 * 1e6 }' "$RAW" | median)
            op=$(col "$pg" "$c" "$t" others_cpu_proxy_pct | median)
            ol=$(col "$pg" "$c" "$t" others_cpu_load_pct | median)
            echo "| $(label "$pg") | $c | $t | $(fmt "$rps" 0) | $(fmt "$lo" 0)–$(fmt "$hi" 0) | $(fmt "$p50" 2) | $(fmt "$p99" 2) | $(fmt "$cpr" 1) | $(fmt "$pct" 0) | $(fmt "$ucpr" 1) | $(fmt "$op" 0) / $(fmt "$ol" 0) |"
        done
    done
done
echo
echo "Ratios (median of per-round ratios). Target: req/s leakproxy/nginx ≥ 1.0 and p99 leakproxy/nginx ≤ 1.2."
echo
echo "| page | conns | req/s leakproxy/nginx | req/s leakproxy/direct | p50 leakproxy/nginx | p99 leakproxy/nginx | CPU/req leakproxy/nginx | target met |"
echo "|---|---|---|---|---|---|---|---|"
for pg in $PAGES; do
    for c in $CONNS; do
        rn=$(ratio "$pg" "$c" rps leakproxy nginx)
        rd=$(ratio "$pg" "$c" rps leakproxy direct)
        p5=$(ratio "$pg" "$c" p50_ms leakproxy nginx)
        p9=$(ratio "$pg" "$c" p99_ms leakproxy nginx)
        cr=$(cpu_ratio "$pg" "$c")
        met=$(awk -v a="$rn" -v b="$p9" 'BEGIN { print ((a >= 1.0 && b <= 1.2) ? "yes" : "no") }')
        echo "| $(label "$pg") | $c | $(fmt "$rn" 2)× | $(fmt "$rd" 2)× | $(fmt "$p5" 2)× | $(fmt "$p9" 2)× | $(fmt "$cr" 2)× | $met |"
    done
done
echo
echo "Checks: every run 0 socket errors, 0 non-2xx, bytes/response within 3 % of the expected head+body;"
echo "leakproxy /api/routes after the runs: $LP_2XX 2xx, $LP_BAD 4xx+5xx. Status: $([ $FAIL = 0 ] && echo OK || echo FAILED)."
[ "$FAIL" = 0 ] || { KEEP_WORK=1; exit 1; }
