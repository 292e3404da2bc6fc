# bench/driver.sh -- sourced by the wrappers of the Node benchmark drivers
# (attribution.sh, synth.sh, probe.sh, guard.sh): the checks they share and
# the one way they run a driver.
#
#   driver_needs [APP...]        node, ./leakproxy (or $LEAKPROXY), and npm ci in demo/APP
#                                when its node_modules is missing
#   driver_run NICE SCRIPT ARGS  runs node bench/SCRIPT under nice -n NICE in the background
#                                and waits; on exit, Ctrl-C or TERM the driver gets SIGTERM,
#                                then SIGKILL after 5 s (it kills its own children's process
#                                groups, bench/procs.mjs). Exits with the driver's status.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

driver_needs() {
    command -v node >/dev/null || { echo "FATAL: node not found" >&2; exit 1; }
    [ -x "${LEAKPROXY:-$ROOT/leakproxy}" ] ||
        { echo "FATAL: ${LEAKPROXY:-$ROOT/leakproxy} missing: run 'make -C $ROOT' first" >&2; exit 1; }
    local app
    for app in "$@"; do
        [ -d "$ROOT/demo/$app/node_modules" ] && continue
        (cd "$ROOT/demo/$app" && npm ci --no-audit --no-fund >&2) || { echo "FATAL: npm ci in demo/$app failed" >&2; exit 1; }
    done
}

DRIVER=
driver_stop() {
    if [ -n "$DRIVER" ] && kill -0 "$DRIVER" 2>/dev/null; then
        kill -TERM "$DRIVER" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$DRIVER" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DRIVER" 2>/dev/null
    fi
}

driver_run() {
    local niceness=$1 script=$2 rc
    shift 2
    trap driver_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    nice -n "$niceness" node "$ROOT/bench/$script" "$@" &
    DRIVER=$!
    wait "$DRIVER"
    rc=$?
    DRIVER=
    exit "$rc"
}
