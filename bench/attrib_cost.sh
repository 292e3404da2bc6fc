#!/usr/bin/env bash
# attrib_cost.sh -- measure one attribution evaluation's CPU cost (10, 100, 500 routes).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s leakproxy
mkdir -p build/bench
objs=$(ls build/rel/*.o | grep -v '/main\.o$')
cc -O2 -Iinclude $(pkg-config --cflags libevent jansson) bench/attrib_cost.c $objs \
   -o build/bench/attrib_cost $(pkg-config --libs libevent jansson) -lm
build/bench/attrib_cost
