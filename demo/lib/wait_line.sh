# demo/lib/wait_line.sh -- sourced by demo/run.sh and the bench scripts that start the demo apps
# and leakproxy in front of them.
# wait_line FILE REGEX SECONDS: prints the first match of REGEX (grep -o) once FILE has it;
# returns 1 if it has not appeared within SECONDS.
wait_line() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        if grep -qE "$2" "$1" 2>/dev/null; then grep -oE "$2" "$1" | head -n1; return 0; fi
        sleep 0.1
    done
    return 1
}

# wait_app OUT ERR SECONDS: prints the demo app's address (host:port) from its "listening on"
# line in OUT; on timeout copies its stderr (ERR) to ours and returns 1.
wait_app() {
    local l
    l=$(wait_line "$1" 'listening on [0-9.]+:[0-9]+' "$3") || { cat "$2" >&2; return 1; }
    echo "${l#listening on }"
}

# wait_leakproxy LOG SECONDS: sets PROXY and ADMIN (host:port) from leakproxy's LOG; on
# timeout copies the log to stderr and returns 1.
wait_leakproxy() {
    local l
    l=$(wait_line "$1" 'proxy listening on [^ ,]+:[0-9]+' "$2") || { cat "$1" >&2; return 1; }
    PROXY=${l#proxy listening on }
    l=$(wait_line "$1" 'admin listening on [^ ,]+:[0-9]+' 10) || { cat "$1" >&2; return 1; }
    ADMIN=${l#admin listening on }
}
