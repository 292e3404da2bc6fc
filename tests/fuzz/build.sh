#!/usr/bin/env bash
# tests/fuzz/build.sh [TARGET...] -- builds the libFuzzer targets into
# build/fuzz/ with clang -fsanitize=fuzzer,address,undefined (UB aborts, so
# libFuzzer keeps the input). Each target links only the src/ files it needs
# (targets.sh); if that stops linking because a module grew a dependency, it
# retries with every src/*.c but main.c and says so.
# Needs clang with its runtime (Debian: clang-14 + libclang-rt-14-dev),
# pkg-config, libevent-dev, libjansson-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/fuzz/targets.sh

CC=${FUZZ_CC:-clang}
OUT=build/fuzz
CFLAGS=(-g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -fno-omit-frame-pointer -Iinclude -Itests/fuzz)
read -r -a PKGCFLAGS <<<"$(pkg-config --cflags libevent jansson)"
read -r -a PKGLIBS <<<"$(pkg-config --libs libevent jansson)"
mkdir -p "$OUT"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$FUZZ_TARGETS"
for t in "${targets[@]}"; do
  read -r -a srcs <<<"$(fuzz_srcs "$t")"
  read -r -a xflags <<<"$(fuzz_cflags "$t")"
  if ! "$CC" "${CFLAGS[@]}" ${xflags[@]+"${xflags[@]}"} "${PKGCFLAGS[@]}" -o "$OUT/$t" "tests/fuzz/$t.c" "${srcs[@]}" \
       "${PKGLIBS[@]}" -lm -ldl 2>"$OUT/$t.log"; then
    echo "build.sh: $t: linking ${srcs[*]} failed (see $OUT/$t.log); retrying with all of src/" >&2
    read -r -a srcs <<<"$(fuzz_all_srcs "$t")"
    "$CC" "${CFLAGS[@]}" ${xflags[@]+"${xflags[@]}"} "${PKGCFLAGS[@]}" -o "$OUT/$t" "tests/fuzz/$t.c" "${srcs[@]}" \
      "${PKGLIBS[@]}" -lm -ldl
  fi
  echo "built $OUT/$t"
done
