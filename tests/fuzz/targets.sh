# targets.sh -- sourced by build.sh and regress.sh: each fuzz target and the
# src/ files it links (only what it needs; see fuzz_<target>.c).
FUZZ_TARGETS="fuzz_http1_request fuzz_http1_response fuzz_http1_pooled fuzz_chunked fuzz_config fuzz_route fuzz_memparse"

# fuzz_llhttp_diff also compiles llhttp's C sources (the parser of Node's http
# server), which are not in the tree: Debian's node-llhttp package ships them.
# LLHTTP_SRC names the directory with llhttp.c, api.c, http.c; LLHTTP_INC the
# one with llhttp.h. The target is built only when both exist and clang is
# installed; otherwise FUZZ_SKIPPED says why.
LLHTTP_SRC=${LLHTTP_SRC:-/usr/share/llhttp}
LLHTTP_INC=${LLHTTP_INC:-/usr/share/include/llhttp}
FUZZ_SKIPPED=""
if ! command -v clang >/dev/null 2>&1; then
  FUZZ_SKIPPED="fuzz_llhttp_diff: skipped (needs clang)"
elif [ ! -f "$LLHTTP_SRC/llhttp.c" ] || [ ! -f "$LLHTTP_INC/llhttp.h" ]; then
  FUZZ_SKIPPED="fuzz_llhttp_diff: skipped (no llhttp C sources: install node-llhttp or set LLHTTP_SRC, LLHTTP_INC)"
else
  FUZZ_TARGETS="$FUZZ_TARGETS fuzz_llhttp_diff"
fi

fuzz_srcs() {
  case "$1" in
    fuzz_http1_request|fuzz_http1_response|fuzz_chunked) echo "src/http1.c" ;;
    fuzz_config|fuzz_route) echo "src/config.c src/config_err.c src/fallback.c src/route.c src/log.c src/http1.c" ;;   # route.c needs config_err_set(), config.c http1_header_kind() and fallback_blob_read()
    fuzz_memparse) echo "src/memparse.c src/utf8.c" ;;
    fuzz_http1_pooled) echo "src/http1.c" ;;
    fuzz_llhttp_diff) echo "src/http1.c $LLHTTP_SRC/llhttp.c $LLHTTP_SRC/api.c $LLHTTP_SRC/http.c" ;;
    *) echo "unknown fuzz target $1" >&2; return 1 ;;
  esac
}

# Extra compiler flags of a target.
fuzz_cflags() {
  case "$1" in
    fuzz_llhttp_diff) echo "-I$LLHTTP_INC" ;;
    *) echo "" ;;
  esac
}

# Every src/*.c but main.c: the fallback when a module grew a dependency.
fuzz_all_srcs() {
  ls src/*.c | grep -v '^src/main\.c$' | tr '\n' ' '
  [ "${1:-}" != fuzz_llhttp_diff ] || echo "$LLHTTP_SRC/llhttp.c $LLHTTP_SRC/api.c $LLHTTP_SRC/http.c"
}
