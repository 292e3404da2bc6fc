# targets.sh -- sourced by build.sh and regress.sh: each fuzz target and the
# src/ files it links (only what it needs; see fuzz_<target>.c).
FUZZ_TARGETS="fuzz_http1_request fuzz_http1_response fuzz_chunked fuzz_config fuzz_route fuzz_memparse"

fuzz_srcs() {
  case "$1" in
    fuzz_http1_request|fuzz_http1_response|fuzz_chunked) echo "src/http1.c" ;;
    fuzz_config|fuzz_route) echo "src/config.c src/route.c src/log.c src/http1.c" ;;   # route.c needs config_err_set(), config.c http1_header_kind()
    fuzz_memparse) echo "src/memparse.c src/utf8.c" ;;
    *) echo "unknown fuzz target $1" >&2; return 1 ;;
  esac
}

# Every src/*.c but main.c: the fallback when a module grew a dependency.
fuzz_all_srcs() {
  ls src/*.c | grep -v '^src/main\.c$' | tr '\n' ' '
}
