# bench/lib.sh -- shared helpers for the bench scripts (sourced, not run).
#
# Everything runs on loopback, in a private temporary directory ($WORK), and
# every process started here is recorded in $PIDS and killed by cleanup()
# (installed as an EXIT/INT/TERM trap by bench_init).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LEAKPROXY=${LEAKPROXY:-$ROOT/leakproxy}
PIDS=()
KEEP_WORK=${KEEP_WORK:-0}

die() { echo "FATAL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    PIDS=()
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        if [ "$KEEP_WORK" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
    fi
}

bench_init() {
    local name=$1
    for t in wrk nginx taskset curl; do
        command -v "$t" >/dev/null || die "$t not found (apt-get install -y wrk nginx-light util-linux curl)"
    done
    [ -x "$LEAKPROXY" ] || die "$LEAKPROXY missing: run 'make -C $ROOT' first"
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    WORK=$(mktemp -d "/tmp/leakproxy-$name.XXXXXX")
    # Others rebuild ./leakproxy while we measure: run a private copy.
    LP_BIN=$WORK/leakproxy.bin
    cp "$LEAKPROXY" "$LP_BIN" || die "cannot copy $LEAKPROXY"
    LP_SHA=$(sha256sum "$LP_BIN" | cut -c1-12)
    LP_BUILT=$(date -u -r "$LEAKPROXY" '+%Y-%m-%d %H:%M UTC')
    LP_HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    NCPU=$(nproc)
    # Pinning (same for every target): the proxy under test alone on CPU
    # $CPU_PROXY; wrk (1 thread) and the upstream nginx share CPU $CPU_LOAD.
    CPU_PROXY=${CPU_PROXY:-0}
    CPU_LOAD=${CPU_LOAD:-$((NCPU > 1 ? 1 : 0))}
}

# A free loopback TCP port (bind to 0, read it back, release it).
free_port() {
    python3 - <<'EOF' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
EOF
}

wait_port() {   # wait_port PORT [PID] -- up to 10 s
    local port=$1 pid=${2:-}
    for _ in $(seq 100); do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# The fixed upstream content: a ~20 KB page (every path but /small) and a
# ~1 KB page (/small), deterministic bytes.
make_pages() {
    mkdir -p "$WORK/www"
    python3 - "$WORK/www" <<'EOF'
import sys, os
d = sys.argv[1]
def page(n, title):
    head = "<!doctype html><html><head><title>%s</title></head><body>\n" % title
    tail = "</body></html>\n"
    line = "<p>lorem ipsum dolor sit amet, consectetur adipiscing elit %05d</p>\n"
    out, i = head, 0
    while len(out) + len(tail) < n:
        out += line % i; i += 1
    out = out[: n - len(tail)] + tail
    return out
open(os.path.join(d, "page.html"), "w").write(page(20480, "page"))
open(os.path.join(d, "small.html"), "w").write(page(1024, "small"))
EOF
    PAGE_BYTES=$(stat -c %s "$WORK/www/page.html")
    SMALL_BYTES=$(stat -c %s "$WORK/www/small.html")
}

nginx_common() {   # nginx_common NAME -- main-context lines for a single-process nginx
    local name=$1
    mkdir -p "$WORK/$name"
    cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/$name/nginx.pid;
error_log $WORK/$name/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; multi_accept on; }
EOF
}

nginx_temp_paths() {
    local name=$1
    cat <<EOF
    client_body_temp_path $WORK/$name/client_body;
    proxy_temp_path $WORK/$name/proxy;
    fastcgi_temp_path $WORK/$name/fastcgi;
    uwsgi_temp_path $WORK/$name/uwsgi;
    scgi_temp_path $WORK/$name/scgi;
EOF
}

# start_upstream -> UP_PORT, UP_PID. nginx serving the fixed files,
# 1 process, keep-alive, access_log off, pinned to $CPU_LOAD.
start_upstream() {
    UP_PORT=$(free_port)
    { nginx_common upstream
      cat <<EOF
http {
    access_log off;
$(nginx_temp_paths upstream)
    default_type text/html;
    sendfile on;
    tcp_nodelay on;
    etag off;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$UP_PORT backlog=4096;
        root $WORK/www;
        location = /small { try_files /small.html =404; }
        location / { try_files /page.html =404; }
    }
}
EOF
    } >"$WORK/upstream.conf"
    taskset -c "$CPU_LOAD" nginx -p "$WORK/upstream" -c "$WORK/upstream.conf" \
        2>>"$WORK/upstream/stderr" &
    UP_PID=$!
    PIDS+=("$UP_PID")
    wait_port "$UP_PORT" "$UP_PID" || { cat "$WORK/upstream/error.log" "$WORK/upstream/stderr" >&2; die "upstream nginx did not start"; }
}

# start_leakproxy [extra routes JSON] -> LP_PORT, LP_ADMIN, LP_PID
start_leakproxy() {
    local routes=${1:-'{"name": "page", "match": "/page/:id"}, {"name": "small", "match": "/small"}'}
    mkdir -p "$WORK/leakproxy"
    cat >"$WORK/leakproxy/conf.json" <<EOF
{ "listen": "127.0.0.1:0", "upstream": "http://127.0.0.1:$UP_PORT", "admin": "127.0.0.1:0",
  "routes": [ $routes ],
  "limits": {"upstream_idle": 1024} }
EOF
    LP_STARTS=$(( ${LP_STARTS:-0} + 1 ))
    LP_LOG=$WORK/leakproxy/stderr.$LP_STARTS
    : >"$LP_LOG"
    env ${LP_ENV:-} taskset -c "$CPU_PROXY" "$LP_BIN" -c "$WORK/leakproxy/conf.json" 2>"$LP_LOG" &
    LP_PID=$!
    PIDS+=("$LP_PID")
    LP_PORT= LP_ADMIN=
    for _ in $(seq 100); do
        kill -0 "$LP_PID" 2>/dev/null || { cat "$LP_LOG" >&2; die "leakproxy exited at start"; }
        LP_PORT=$(sed -n 's/.*proxy listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LP_LOG" | head -1)
        LP_ADMIN=$(sed -n 's/.*admin listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LP_LOG" | head -1)
        [ -n "$LP_PORT" ] && [ -n "$LP_ADMIN" ] && break
        sleep 0.1
    done
    [ -n "$LP_PORT" ] && [ -n "$LP_ADMIN" ] || { cat "$LP_LOG" >&2; die "leakproxy did not report its ports"; }
    wait_port "$LP_PORT" "$LP_PID" || die "leakproxy port $LP_PORT not accepting"
}

# start_nginx_proxy -> NX_PORT, NX_PID. nginx as a keep-alive reverse proxy,
# 1 process, pinned like leakproxy. It adds the same X-Forwarded-* headers
# leakproxy adds, so both do the same work.
start_nginx_proxy() {
    NX_PORT=$(free_port)
    { nginx_common nxproxy
      cat <<EOF
http {
    access_log off;
$(nginx_temp_paths nxproxy)
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive 1024;
        keepalive_requests 100000000;
        keepalive_timeout 120s;
    }
    server {
        listen 127.0.0.1:$NX_PORT backlog=4096;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$http_host;
        }
    }
}
EOF
    } >"$WORK/nxproxy.conf"
    env ${NX_ENV:-} taskset -c "$CPU_PROXY" nginx -p "$WORK/nxproxy" -c "$WORK/nxproxy.conf" \
        2>>"$WORK/nxproxy/stderr" &
    NX_PID=$!
    PIDS+=("$NX_PID")
    wait_port "$NX_PORT" "$NX_PID" || { cat "$WORK/nxproxy/error.log" "$WORK/nxproxy/stderr" >&2; die "nginx proxy did not start"; }
}

# check_get URL EXPECTED_BYTES: one request must return 200 with that body size.
check_get() {
    local url=$1 want=$2 got
    got=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' "$url") || die "curl $url failed"
    [ "$got" = "200 $want" ] || die "GET $url: got '$got', want '200 $want'"
}

# cpu_ticks PID -> utime+stime in clock ticks (all threads)
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
CLK_TCK=$(getconf CLK_TCK)

# parse_wrk FILE -> "requests secs rps p50_ms p99_ms bytes errors non2xx"
parse_wrk() {
    awk '
    function ms(v) {
        if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
        if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
        if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
        if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
        return v + 0
    }
    function bytes(v) {
        if (v ~ /GB$/) return substr(v, 1, length(v) - 2) * 1073741824
        if (v ~ /MB$/) return substr(v, 1, length(v) - 2) * 1048576
        if (v ~ /KB$/) return substr(v, 1, length(v) - 2) * 1024
        if (v ~ /B$/)  return substr(v, 1, length(v) - 1) + 0
        return v + 0
    }
    BEGIN { req = 0; secs = 0; rps = 0; p50 = -1; p99 = -1; by = 0; err = 0; non = 0 }
    / requests in / { req = $1; s = $4; sub(/,$/, "", s); secs = ms(s) / 1000; by = bytes($5) }
    /^Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) err += $i + 0 }
    /Non-2xx or 3xx responses:/ { non = $NF }
    END { printf "%d %.3f %.2f %.3f %.3f %.0f %d %d\n", req, secs, rps, p50, p99, by, err, non }
    ' "$1"
}

# median of numbers on stdin (one per line)
median() {
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# cpu_busy N -> "busy total" jiffies of CPU N from /proc/stat
cpu_busy() {
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

# children_ticks VAR -> sets VAR to user+sys CPU (ticks) of this shell's
# reaped children (the builtin must run in this shell, not a subshell).
children_ticks() {
    times >"$WORK/.times"
    printf -v "$1" '%s' "$(awk -v k="$CLK_TCK" 'END { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%d\n", s * k + 0.5 }' "$WORK/.times")"
}
