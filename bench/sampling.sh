#!/usr/bin/env bash
# bench/sampling.sh -- does the memory sampler slow the proxy? The same binary
# with and without a 100 ms "http" memory source, alternating rounds of wrk
# against a ~27 KB page from nginx (which also serves a fixed /__mem JSON).
# Pinning: leakproxy on CPU 0, nginx and wrk on CPU 1. Env: ROUNDS (5),
# DURATION (5), CONNS (64). Prints per-round req/s and the median ratio.
set -euo pipefail
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5} CONNS=${CONNS:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/leakproxy-sampling.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap '[ -f "$W/ng.pid" ] && kill "$(cat "$W/ng.pid")" 2>/dev/null; kill $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
head -c 20000 /dev/urandom | base64 > "$W/page.html"
cat > "$W/ng.conf" <<NG
worker_processes 1; daemon off; pid $W/ng.pid; error_log $W/ng.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$PORT; root $W;
    location = /__mem { default_type application/json;
      return 200 '{"pid":4242,"rss":100000000,"heapUsed":50000000,"heapTotal":80000000,"external":1000000}'; } } }
NG
taskset -c 1 nginx -c "$W/ng.conf" & sleep 0.5
for mode in none mem; do
  mem=''
  [ $mode = mem ] && mem=", \"memory\": {\"source\": \"http\", \"url\": \"http://127.0.0.1:$PORT/__mem\", \"interval_ms\": 100}"
  echo "{\"listen\": \"127.0.0.1:0\", \"upstream\": \"http://127.0.0.1:$PORT\", \"admin\": \"127.0.0.1:0\",
         \"routes\": [{\"name\": \"page\", \"match\": \"/page.html\"}]$mem}" > "$W/$mode.json"
done
for r in $(seq "$ROUNDS"); do
  for mode in none mem; do
    taskset -c 0 "$ROOT/leakproxy" -c "$W/$mode.json" 2>"$W/$mode.log" & lp=$!
    for _ in $(seq 50); do grep -q 'proxy listening' "$W/$mode.log" && break; sleep 0.1; done
    p=$(grep -o 'proxy listening on [^,]*' "$W/$mode.log" | awk '{print $4}')
    rps=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://$p/page.html" | awk '/Requests\/sec/{print $2}')
    echo "$r $mode $rps"
    kill $lp; wait $lp 2>/dev/null || true
  done
done | tee "$W/res.txt"
python3 - "$W/res.txt" <<'PY'
import statistics, sys
by = {}
for r, m, v in (l.split() for l in open(sys.argv[1])):
    by.setdefault(r, {})[m] = float(v)
rat = [by[r]['mem'] / by[r]['none'] for r in by]
print('with/without sampling per round:', ', '.join('%.2f' % x for x in rat), '; median %.2f' % statistics.median(rat))
PY
