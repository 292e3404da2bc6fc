#!/usr/bin/env bash
# bench/ttfb.sh -- runs bench/ttfb.mjs (Node built-ins only); see there.
# Env: N (50), DELAY_MS (200), LEAKPROXY.
set -eu
command -v node >/dev/null || { echo "FATAL: node not found" >&2; exit 1; }
exec timeout 600 node "$(dirname "$0")/ttfb.mjs"
