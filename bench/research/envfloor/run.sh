#!/bin/bash
# run.sh SEED OUTPREFIX [driver args...]   -- starts the Vue demo app (PORT=0), runs driver.mjs, stops the app
set -u
seed=$1; out=$2; shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$out")"
case $out in /*) ;; *) out=$PWD/$out;; esac
cd "$HERE/../../../demo/vue"
NODEFLAGS=""
case " $* " in *" --gc-every "*) NODEFLAGS="--expose-gc";; esac
env ${APPENV:-} PORT=0 node $NODEFLAGS server.js > "$out.app.log" 2>&1 &
APP=$!
for i in $(seq 1 100); do
  port=$(grep -oE 'listening on [0-9.]+:[0-9]+' "$out.app.log" | grep -oE '[0-9]+$')
  [ -n "$port" ] && break; sleep 0.1
done
echo "app pid $APP port $port"
node "$HERE/driver.mjs" $port $seed $out "$@"
kill $APP; wait $APP 2>/dev/null
echo "app stopped"
