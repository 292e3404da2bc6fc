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
. "$(dirname "${BASH_SOURCE[0]}")/driver.sh"
driver_needs vue react
driver_run "${PROBE_NICE:-5}" probe.mjs "$@"
