#!/usr/bin/env bash
# test-through-proxy.sh -- integration test of leakproxy in front of the real Vue and React
# demo apps (byte-identical pages, streaming passes through). Called by `make test` when
# demo/*/node_modules exist. Needs ./leakproxy built at the repo root (LEAKPROXY=... overrides).
# The work is in test-through-proxy.mjs (node built-ins only); it kills what it starts.
set -euo pipefail
cd "$(dirname "$0")"
exec node test-through-proxy.mjs "$@"
