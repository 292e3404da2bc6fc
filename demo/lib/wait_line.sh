# demo/lib/wait_line.sh -- sourced by demo/run.sh and the bench scripts that start the demo apps.
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
