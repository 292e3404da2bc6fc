#!/usr/bin/env bash
# tests/fuzz/regress.sh [TARGET...] -- the seed corpora as regression tests
# (no libFuzzer needed): links each target's LLVMFuzzerTestOneInput with
# regress.c into build/fuzz-regress/, with ASan+UBSan when the compiler has
# them (clang or gcc), and runs it once over tests/fuzz/corpus/<target>/.
# Prints one line per target and "fuzz corpus regression: N files, OK";
# exits non-zero on a build failure, a crash or a sanitizer report.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/fuzz/targets.sh

OUT=build/fuzz-regress
mkdir -p "$OUT"
CC=${FUZZ_REGRESS_CC:-$(command -v clang || command -v cc)}
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
echo 'int main(void){return 0;}' >"$OUT/probe.c"
"$CC" "${SAN[@]}" -o "$OUT/probe" "$OUT/probe.c" 2>/dev/null && "$OUT/probe" || SAN=()
read -r -a PKGCFLAGS <<<"$(pkg-config --cflags libevent jansson)"
read -r -a PKGLIBS <<<"$(pkg-config --libs libevent jansson)"
CFLAGS=(-g -O1 -std=gnu11 -Iinclude -Itests/fuzz "${SAN[@]}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$FUZZ_TARGETS"
total=0 fail=0
# a target that cannot be built here fails the stage, like every other part
# of make test that cannot run (LEAKPROXY_ALLOW_SKIP=1 reports it instead)
if [ $# -eq 0 ] && [ -n "$FUZZ_SKIPPED" ]; then
  echo "$FUZZ_SKIPPED"
  [ -n "${LEAKPROXY_ALLOW_SKIP:-}" ] || fail=1
fi
for t in "${targets[@]}"; do
  read -r -a srcs <<<"$(fuzz_srcs "$t")"
  read -r -a xflags <<<"$(fuzz_cflags "$t")"
  if ! "$CC" "${CFLAGS[@]}" ${xflags[@]+"${xflags[@]}"} "${PKGCFLAGS[@]}" -o "$OUT/$t" tests/fuzz/regress.c "tests/fuzz/$t.c" \
       "${srcs[@]}" "${PKGLIBS[@]}" -lm -ldl 2>"$OUT/$t.log"; then
    read -r -a srcs <<<"$(fuzz_all_srcs "$t")"
    if ! "$CC" "${CFLAGS[@]}" ${xflags[@]+"${xflags[@]}"} "${PKGCFLAGS[@]}" -o "$OUT/$t" tests/fuzz/regress.c "tests/fuzz/$t.c" \
         "${srcs[@]}" "${PKGLIBS[@]}" -lm -ldl 2>>"$OUT/$t.log"; then
      cat "$OUT/$t.log" >&2
      echo "$t: BUILD FAILED" >&2
      fail=1
      continue
    fi
  fi
  if out=$("$OUT/$t" "tests/fuzz/corpus/$t" 2>"$OUT/$t.err"); then
    n=$(sed -n 's/^fuzz corpus regression: \([0-9]*\) files, OK$/\1/p' <<<"$out")
    echo "$t: ${n:-?} files OK${SAN:+ (ASan+UBSan)}"
    total=$((total + ${n:-0}))
  else
    cat "$OUT/$t.err" >&2
    echo "$t: FAILED (see above; input named on the FAILED line)" >&2
    fail=1
  fi
done
if [ "$fail" -ne 0 ]; then
  echo "fuzz corpus regression: FAILED"
  exit 1
fi
echo "fuzz corpus regression: $total files, OK"
