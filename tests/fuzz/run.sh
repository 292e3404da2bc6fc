#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [TARGET...] -- runs each libFuzzer target for
# SECONDS (default 30) over a copy of its seed corpus and prints how many
# inputs each executed (libFuzzer's stat::number_of_executed_units).
# JOBS=2 runs two targets at a time (default 1). Crashing inputs are saved
# as tests/fuzz/crashers/<target>-crash-<sha1> (and leak-, timeout-, oom-);
# the exit status is non-zero if any target found one. Build first with
# tests/fuzz/build.sh. Logs: build/fuzz/logs/<target>.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/fuzz/targets.sh

secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$FUZZ_TARGETS"
jobs=${JOBS:-1}
logs=build/fuzz/logs
work=build/fuzz/work
mkdir -p "$logs" "$work" tests/fuzz/crashers

run_one() {
  local t=$1 bin=build/fuzz/$1
  [ -x "$bin" ] || { echo "$t: not built (tests/fuzz/build.sh)" >"$logs/$t.log"; return 1; }
  rm -rf "${work:?}/$t" && mkdir -p "$work/$t"
  cp tests/fuzz/corpus/"$t"/* "$work/$t"/
  local dict=()
  [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
  "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -artifact_prefix="tests/fuzz/crashers/$t-" "${dict[@]}" \
    "$work/$t" >"$logs/$t.log" 2>&1
}

pids=() names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!) names+=("$t")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
done
wait

fail=0
printf '%-22s %14s %8s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  log=$logs/$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(awk -v e="${execs:-0}" -v s="$secs" 'BEGIN { printf "%d", e / s }')
  if grep -qE '^(==[0-9]+==ERROR|SUMMARY: |.*invariant broken|.*runtime error:)|deadly signal|ERROR: libFuzzer' "$log"; then
    art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    printf '%-22s %14s %8s  %s\n' "$t" "${execs:-?}" "$rate" "CRASH ${art:-(see $log)}"
    fail=1
  elif [ -z "$execs" ]; then
    printf '%-22s %14s %8s  %s\n' "$t" "?" "-" "no stats (see $log)"
    fail=1
  else
    printf '%-22s %14s %8s  %s\n' "$t" "$execs" "$rate" "clean"
  fi
done
exit "$fail"
