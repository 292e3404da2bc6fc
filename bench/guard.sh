#!/usr/bin/env bash
# bench/guard.sh [options of bench/guard.mjs] -- the guard's acceptance run, recorded.
#
# On the Vue demo with a small V8 heap (--max-old-space-size=128 by default) and the leaking
# route news in a steady seeded mix (home/about/news), through ./leakproxy:
#   1. no guard: when the app dies (exit, "heap out of memory"), the heap floor, client errors;
#   2. the guard (heap floor, high_fraction 0.6 of the V8 heap limit, action "leaking") for at
#      least 2x run 1's crash time: the switch (time, routes, reason), the floor slope before and
#      after, uptime, home/about still rendered, news answered from the fallback, client errors;
#   3. no leak (LEAKS=off), thresholds inside the memory's own noise band, action "all", restore
#      "on_recovery", short hold: trips, switches, restores (flapping);
#   4. run 2 in dry run: no mode changes, events with dry_run true.
# Prints a summary table; raw data in bench/results/guard-DATE.json. About 10-12 minutes.
#
#   nice -n 5 bench/guard.sh                      # everything, defaults
#   bench/guard.sh --heap-mb 96 --rate 20 --runs crash,guard
#   bench/guard.sh --help                         # every option
#
# Loopback only, free ports; every process started is killed on exit (the Node driver starts
# each child in its own process group and kills the groups; this script kills the driver).
# Needs ./leakproxy (make) and demo/vue/node_modules (npm ci, done here if missing).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/driver.sh"
driver_needs vue
driver_run "0" guard.mjs "$@"
