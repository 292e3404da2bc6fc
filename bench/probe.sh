#!/usr/bin/env bash
# bench/probe.sh [options of bench/probe.mjs]
#
# The probe's accuracy (POST /api/probe) on the demo apps (vue: news, live split by id, about,
# home; react: item, beacon, home, detail) under live traffic at full speed (closed loop,
# concurrency 8, no rate limit) and at 150 requests/s, with the attribution engine blind
# (confirm_requests out of reach). Target: a leaking route within ±10 % of its truth
# (demo/*/truth.json), a healthy route below 4 KB/request. A fresh app and proxy per probe, one
# probe at a time, everything under `nice -n 5` (the machine is shared). About 8 s per probe:
# the default matrix (2 apps x 2 regimes x 4 routes x 5 seeds) takes about 11 minutes on a loaded
# 2-core machine, --seeds 10 about 21 (bench/RESULTS.md).
#
#   bench/probe.sh                                          # everything, 5 seeds
#   bench/probe.sh --apps vue --regimes full --seeds 1 --routes news    # a quick check
#   bench/probe.sh --seeds 10 --md out.md --json out.json
#   LEAKPROXY=/path/to/leakproxy bench/probe.sh ...         # a private copy of the binary
#   node bench/probe.mjs --from /tmp/probebench-*/probe-partial.json --md out.md   # re-render
#
# Loopback only, free ports; every process started is killed on exit, Ctrl-C included (the Node
# driver starts each child in its own process group and kills the groups; this script kills the
# driver). Needs ./leakproxy (make), node, and demo/*/node_modules (npm ci, done here if missing).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v node >/dev/null || { echo "FATAL: node not found" >&2; exit 1; }
[ -x "${LEAKPROXY:-$ROOT/leakproxy}" ] || { echo "FATAL: ${LEAKPROXY:-$ROOT/leakproxy} missing: run 'make -C $ROOT' first" >&2; exit 1; }
for app in vue react; do
    if [ ! -d "$ROOT/demo/$app/node_modules" ]; then
        (cd "$ROOT/demo/$app" && npm ci --no-audit --no-fund >&2) || { echo "FATAL: npm ci in demo/$app failed" >&2; exit 1; }
    fi
done

DRIVER=
cleanup() {
    if [ -n "$DRIVER" ] && kill -0 "$DRIVER" 2>/dev/null; then
        kill -TERM "$DRIVER" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$DRIVER" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DRIVER" 2>/dev/null
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nice -n "${PROBE_NICE:-5}" node "$ROOT/bench/probe.mjs" "$@" &
DRIVER=$!
wait "$DRIVER"
rc=$?
DRIVER=
exit $rc
