#!/usr/bin/env bash
# tests/run.sh BUILD_DIR BINARY -- what `make test` runs: every cmocka unit
# test binary, then the integration suite against the real binary, then the
# demo apps through the proxy when their npm dependencies are installed.
# Prints one summary line per stage and a total; exits non-zero on failure.
set -u
build=${1:-build/rel}
bin=${2:-./leakproxy}
cd "$(dirname "$0")/.."
fail=0
summary=()

units_ok=0 units_bad=0
for t in "$build"/tests/test_*; do
  case "$t" in *.d) continue ;; esac
  [ -x "$t" ] || continue
  if out=$("$t" 2>&1); then
    units_ok=$((units_ok + 1))
  else
    units_bad=$((units_bad + 1))
    printf '%s\n' "$out"
  fi
  printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED)  \]' | sed "s|^|$(basename "$t"): |"
done
summary+=("unit: $units_ok binaries passed, $units_bad failed")
[ "$units_bad" -eq 0 ] || fail=1

if [ -x tests/fuzz/regress.sh ]; then
  if out=$(tests/fuzz/regress.sh 2>&1); then
    summary+=("$(printf '%s\n' "$out" | grep -E 'fuzz corpus regression' | tail -n1)")
  else
    printf '%s\n' "$out" | tail -n 20
    summary+=("fuzz corpus regression: FAILED")
    fail=1
  fi
fi

if command -v node >/dev/null 2>&1; then
  itlog=$(mktemp)
  LEAKPROXY_BIN="$bin" node tests/integration/run.mjs | tee "$itlog"
  if [ "${PIPESTATUS[0]}" -eq 0 ]; then
    summary+=("$(grep -E '^integration:' "$itlog" | tail -n1)")
  else
    summary+=("$(grep -E '^integration:' "$itlog" | tail -n1 || true) FAILED")
    fail=1
  fi
  rm -f "$itlog"
else
  summary+=("integration: FAILED (node not installed)")
  fail=1
fi

if [ -x contrib/node/test.sh ] && command -v node >/dev/null 2>&1; then
  if out=$(contrib/node/test.sh 2>&1); then
    summary+=("$(printf '%s\n' "$out" | grep -E '^contrib/node:' | tail -n1)")
  else
    printf '%s\n' "$out" | tail -n 30
    summary+=("contrib/node: FAILED")
    fail=1
  fi
fi

if [ -f contrib/check.sh ]; then
  if out=$(LEAKPROXY_BIN="$bin" bash contrib/check.sh 2>&1); then
    summary+=("$(printf '%s\n' "$out" | grep -E '^contrib:' | tail -n1)")
  else
    printf '%s\n' "$out" | tail -n 30
    summary+=("contrib checks: FAILED")
    fail=1
  fi
fi

if [ -x tests/install.sh ]; then
  if out=$(tests/install.sh 2>&1); then
    summary+=("$(printf '%s\n' "$out" | grep -E '^install:' | tail -n1)")
  else
    printf '%s\n' "$out" | tail -n 30
    summary+=("install: FAILED")
    fail=1
  fi
fi

if [ -f tests/browser/run.mjs ] && command -v node >/dev/null 2>&1; then
  if out=$(LEAKPROXY_BIN="$bin" node tests/browser/run.mjs 2>&1); then
    printf '%s\n' "$out" | tail -n 15
    summary+=("$(printf '%s\n' "$out" | grep -E '^browser:' | tail -n1)")
  else
    printf '%s\n' "$out" | tail -n 40
    summary+=("browser: FAILED")
    fail=1
  fi
fi

if [ -x demo/test-through-proxy.sh ]; then
  if [ -d demo/vue/node_modules ] && [ -d demo/react/node_modules ]; then
    if LEAKPROXY_BIN="$bin" demo/test-through-proxy.sh; then
      summary+=("demo apps through the proxy: passed")
    else
      summary+=("demo apps through the proxy: FAILED")
      fail=1
    fi
  else
    if [ -n "${LEAKPROXY_ALLOW_SKIP:-}" ]; then
      summary+=("demo apps through the proxy: SKIPPED (make deps runs npm ci in demo/vue and demo/react)")
    else
      summary+=("demo apps through the proxy: FAILED (no node_modules: make deps runs npm ci in demo/vue and demo/react)")
      fail=1
    fi
  fi
fi

echo
echo "==== test summary ===="
for s in "${summary[@]}"; do echo "$s"; done
if [ "$fail" -eq 0 ]; then echo "ALL TESTS PASSED"; else echo "SOME TESTS FAILED"; fi
exit "$fail"
