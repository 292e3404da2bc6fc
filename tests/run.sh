#!/usr/bin/env bash
# tests/run.sh BUILD_DIR BINARY -- what `make test` runs: every cmocka unit
# test binary; then, at the same time, the integration suite's light lane
# (files that mostly wait on sockets and timers, 3 at a time) and the other
# stages (fuzz corpora, contrib/node, contrib checks, install, the dashboard
# in headless Chromium, the demo apps through the proxy); then, alone, the
# integration files that drive a real app under load and judge memory
# readings against it (tests/integration/run.mjs says which). Nothing is
# skipped: a stage that cannot run fails with its reason
# (LEAKPROXY_ALLOW_SKIP=1 reports those as skipped). Prints one summary line
# per stage and a total; exits non-zero on failure.
set -u
build=${1:-build/rel}
bin=${2:-./leakproxy}
cd "$(dirname "$0")/.."
fail=0
summary=()
work=$(mktemp -d "${TMPDIR:-/tmp}/leakproxy-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)

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

if ! command -v node >/dev/null 2>&1; then
  echo "node is not installed: make deps installs it"
  exit 1
fi

# The stages beside the light lane. Each appends its summary line to
# $work/side.sum (a line starting with "FAIL " marks a failure) and its
# output to $work/side.log, printed once the lane is done.
side_stage() {   # NAME SUMMARY-REGEX FAIL-TAIL OK-TAIL COMMAND...  (the output's last lines shown)
  local name=$1 re=$2 tail=$3 oktail=$4 out
  shift 4
  if out=$("$@" 2>&1); then
    [ "$oktail" -gt 0 ] && printf '%s\n' "$out" | tail -n "$oktail"
    printf '%s\n' "$(printf '%s\n' "$out" | grep -E "$re" | tail -n1)" >>"$work/side.sum"
  else
    printf '%s\n' "$out" | tail -n "$tail"
    printf 'FAIL %s: FAILED\n' "$name" >>"$work/side.sum"
  fi
}
side_stages() {
  : >"$work/side.sum"
  side_stage "fuzz corpus regression" 'fuzz corpus regression' 20 0 tests/fuzz/regress.sh
  side_stage contrib/node '^contrib/node:' 30 0 contrib/node/test.sh
  side_stage "contrib checks" '^contrib:' 30 0 env LEAKPROXY_BIN="$bin" bash contrib/check.sh
  side_stage install '^install:' 30 0 tests/install.sh
  side_stage browser '^browser:' 40 15 env LEAKPROXY_BIN="$bin" node tests/browser/run.mjs
  if [ -d demo/vue/node_modules ] && [ -d demo/react/node_modules ]; then
    if LEAKPROXY_BIN="$bin" demo/test-through-proxy.sh; then
      echo "demo apps through the proxy: passed" >>"$work/side.sum"
    else
      echo "FAIL demo apps through the proxy: FAILED" >>"$work/side.sum"
    fi
  elif [ -n "${LEAKPROXY_ALLOW_SKIP:-}" ]; then
    echo "demo apps through the proxy: SKIPPED (make deps runs npm ci in demo/vue and demo/react)" >>"$work/side.sum"
  else
    echo "FAIL demo apps through the proxy: FAILED (no node_modules: make deps runs npm ci in demo/vue and demo/react)" >>"$work/side.sum"
  fi
}

# integration lane: prints its output, leaves its summary line in $work/it.LANE
it_lane() {
  LEAKPROXY_BIN="$bin" node tests/integration/run.mjs --lane "$1" | tee "$work/it.out"
  local rc=${PIPESTATUS[0]}
  grep -E '^integration:' "$work/it.out" | tail -n1 >"$work/it.$1"
  [ -s "$work/it.$1" ] || echo "integration: 0 passed, 1 failed (the $1 lane printed no summary)" >"$work/it.$1"
  return "$rc"
}

side_stages >"$work/side.log" 2>&1 &
side_pid=$!
it_lane light || fail=1
wait "$side_pid"
cat "$work/side.log"
it_lane serial || fail=1

# one integration line: the two lanes' counts added
summary+=("$(cat "$work/it.light" "$work/it.serial" | awk '
  { for (i = 2; i <= NF; i++) { n = $i + 0; w = $(i + 1); gsub(/[,()]/, "", w)
      if (w == "passed") p += n; else if (w == "failed") f += n; else if (w == "skipped") s += n; else if (w == "todo") t += n }
    if (match($0, /\(([0-9]+) s\)/)) secs += substr($0, RSTART + 1, RLENGTH - 4) }
  END { printf "integration: %d passed, %d failed", p, f; if (s) printf ", %d skipped", s; if (t) printf ", %d todo", t
        printf " (%d s)%s\n", secs, f ? " FAILED" : "" }')")
while IFS= read -r line; do
  case $line in
    "FAIL "*) summary+=("${line#FAIL }"); fail=1 ;;
    "") ;;
    *) summary+=("$line") ;;
  esac
done <"$work/side.sum"

echo
echo "==== test summary ===="
for s in "${summary[@]}"; do echo "$s"; done
echo "total: $(( $(date +%s) - t0 )) s"
if [ "$fail" -eq 0 ]; then echo "ALL TESTS PASSED"; else echo "SOME TESTS FAILED"; fi
exit "$fail"
