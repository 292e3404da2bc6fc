#!/usr/bin/env bash
# bench/route_bench.sh -- compiles bench/route_bench.c against the release
# objects (make first) and runs it pinned to one CPU.
# Usage: bench/route_bench.sh [ITERS] [REPS]     Env: CPU (0), CC (gcc)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OBJ=$ROOT/build/rel
for o in route config_err; do
    [ -f "$OBJ/$o.o" ] || { echo "FATAL: $OBJ/$o.o missing: run 'make -C $ROOT' first" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/leakproxy-route.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# private copies: others rebuild build/rel while we link
cp "$OBJ/route.o" "$OBJ/config_err.o" "$WORK/"
${CC:-gcc} -O2 -g -std=gnu11 -Wall -Wextra -Werror -I"$ROOT/include" \
    -o "$WORK/route_bench" "$ROOT/bench/route_bench.c" \
    "$WORK/route.o" "$WORK/config_err.o" $(pkg-config --libs jansson) -lm
echo "## route_bench: route_match() cost, 10 vs 10,000 routes"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), pinned to CPU ${CPU:-0}; ${CC:-gcc} -O2; objects from $OBJ (HEAD $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))."
echo
taskset -c "${CPU:-0}" "$WORK/route_bench" "$@"
