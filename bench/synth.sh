#!/usr/bin/env bash
# bench/synth.sh [options of bench/synth.mjs]
#
# Attribution accuracy on synthetic SSR-like apps (bench/synth/app.mjs, scenarios in
# bench/synth/scenarios.json) at full speed (closed loop, concurrency 8, no rate limit) and at
# 150 requests/s, plus the upstream's throughput with and without the memory source. One app at a
# time, everything under `nice -n 5` (the machine is shared).
#
#   bench/synth.sh                                   # 4 scenarios x (10 seeds full speed + 3 at 150/s) + 3 plain runs each
#   bench/synth.sh --scenarios S1 --seeds 1 --rate-seeds 1 --plain-seeds 1     # a quick check
#   bench/synth.sh --md out.md --json out.json
#   node bench/synth.mjs --from /tmp/synthbench-*/synth-traces.json --md out.md   # re-render
#
# Loopback only; every process started is killed on exit (the Node driver starts each child in
# its own process group and kills the groups; this script kills the driver). Needs ./leakproxy
# (make) and node; no npm packages (the app uses contrib/node's module from the repository).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/driver.sh"
driver_needs
driver_run "${SYNTH_NICE:-5}" synth.mjs "$@"
