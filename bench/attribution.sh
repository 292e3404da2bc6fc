#!/usr/bin/env bash
# bench/attribution.sh [--quick] [options of bench/attribution.mjs]
#
# Accuracy of the attribution engine on the real demo apps: for each
# memory-source configuration, each app (vue, react) and several seeds, a fresh app and a fresh
# ./leakproxy in front of it, the deterministic mixed load (demo/load.mjs --rate 150 -c 4), and
# every route's estimate and verdict compared with demo/<app>/truth.json.
#
#   bench/attribution.sh                 # full: ~21 min on 2 cores (10 seeds of the primary config)
#   bench/attribution.sh --quick         # 2 seeds of the primary config, 1 of the others: ~6 min
#   bench/attribution.sh --configs gcq --apps vue --seeds 3
#   bench/attribution.sh --md out.md --json out.json
#
# Configurations: gcq (forced GC + quiescing), gc (forced GC), env (no forced GC, lower envelope),
# cluster (WORKERS=2, forced GC through /__mem/all), header (WORKERS=2, header source, the app's
# LEAKPROXY_HEADER=1 switch); gcqt (gcq with memory timeout_ms 2000) and gcqnobus (gcq on the Vue app
# with the news leak off, 20,000 requests: the smaller leaks after the big one is switched off) only
# when asked for.
# Re-render a report from a previous run's polls: node bench/attribution.mjs --from TRACES.json
# Loopback only; at most two apps at once; every process started is killed on exit (the Node
# driver starts each child in its own process group and kills the groups; this script kills
# the driver). Needs ./leakproxy (make) and demo/{vue,react}/node_modules (npm ci, done here).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/driver.sh"
driver_needs vue react
driver_run "0" attribution.mjs "$@"
