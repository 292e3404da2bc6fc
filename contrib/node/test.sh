#!/usr/bin/env bash
# contrib/node/test.sh -- the tests of the leakproxy-memory Node module (node:test, no npm
# dependencies). Prints the test output, then a one-line summary; exits non-zero on failure.
# Called by the repository's `make test`; also `npm test` in this directory.
set -u
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1; then
  echo "contrib/node: FAILED (node not installed)"
  exit 1
fi
SECONDS=0
out=$(node --test --test-reporter=tap test/*.test.js test/*.test.mjs 2>&1)
rc=$?
secs=$SECONDS
# show failures in full, passes as one line each
printf '%s\n' "$out" | awk '
  /^not ok/ { bad = 1 }
  /^(ok|not ok) [0-9]+ - / { print; next }
  /^# (tests|pass|fail|skipped|cancelled) / { next }
  bad && /^  / { print }
  /^ok / { bad = 0 }'
pass=$(printf '%s\n' "$out" | sed -n 's/^# pass \([0-9]*\)$/\1/p' | tail -1)
fail=$(printf '%s\n' "$out" | sed -n 's/^# fail \([0-9]*\)$/\1/p' | tail -1)
skip=$(printf '%s\n' "$out" | sed -n 's/^# skipped \([0-9]*\)$/\1/p' | tail -1)
echo "contrib/node: ${pass:-0} passed, ${fail:-?} failed, ${skip:-0} skipped (${secs}s)"
if [ "$rc" -eq 0 ] && [ "${fail:-1}" = "0" ]; then
  exit 0
fi
echo "contrib/node: FAILED (node --test exit $rc)"
exit 1
