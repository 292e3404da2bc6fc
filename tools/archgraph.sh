#!/bin/sh
# tools/archgraph.sh [--check DOC] BUILD_DIR -- the module graph, derived from
# the object files: module A uses module B when A.o references a symbol B.o
# defines (nm). Prints "A -> B" lines. With --check DOC (make check-arch
# passes docs/architecture.md), it prints nothing on success and fails when
#   - the graph has a cycle (it names one),
#   - a module is missing from DOC's module table, or
#   - A uses B while DOC's table does not list B in A's "may call" column
# so the table cannot drift from the code.
set -eu
doc=
if [ "${1:-}" = --check ]; then doc=${2:?--check needs the document}; shift 2; fi
dir=${1:?usage: tools/archgraph.sh [--check DOC] BUILD_DIR}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for o in "$dir"/*.o; do
    m=$(basename "$o" .o)
    nm --defined-only -g "$o" | awk -v m="$m" 'NF==3 {print $3, m}' >> "$tmp/defs"
    nm -u "$o" | awk -v m="$m" '{print $NF, m}' >> "$tmp/uses"
    echo "$m" >> "$tmp/modules"
done
sort -k1,1 "$tmp/defs" > "$tmp/defs.s"
sort -k1,1 "$tmp/uses" > "$tmp/uses.s"
# symbol user definer -> "user definer"
join "$tmp/uses.s" "$tmp/defs.s" | awk '$2 != $3 {print $2, $3}' | sort -u > "$tmp/edges"
if [ -z "$doc" ]; then
    awk '{print $1, "->", $2}' "$tmp/edges"
    exit 0
fi
# the table's rows: | `module` | layer | owns | `a`, `b` |
awk -F'|' '/^\| *`[a-z_0-9]+` *\|/ {
    m = $2; gsub(/[ `]/, "", m)
    calls = $5; gsub(/[`,]/, " ", calls)
    print m, calls
}' "$doc" > "$tmp/table"
awk -v what=check '
FILENAME == ARGV[1] { known[$1] = 1; for (i = 2; i <= NF; i++) may[$1 " " $i] = 1; next }
FILENAME == ARGV[2] { if (!($1 in known)) { print "check-arch: module " $1 " is not in the module table"; bad = 1 }; next }
{
    if (!(($1 " " $2) in may)) { print "check-arch: " $1 " calls " $2 ", which its row does not list"; bad = 1 }
    adj[$1] = adj[$1] " " $2; nodes[$1]; nodes[$2]
}
function dfs(n,   i, k, parts, c, j) {
    state[n] = 1; stack[++sp] = n
    k = split(adj[n], parts, " ")
    for (i = 1; i <= k; i++) {
        c = parts[i]
        if (state[c] == 1) {
            path = c
            for (j = sp; j >= 1 && stack[j] != c; j--) path = stack[j] " -> " path
            path = c " -> " path
            found = 1; return
        }
        if (state[c] == 0) { dfs(c); if (found) return }
    }
    state[n] = 2; sp--
}
END {
    for (n in nodes) if (!found && state[n] == 0) dfs(n)
    if (found) { print "check-arch: cycle: " path; bad = 1 }
    exit bad
}' "$tmp/table" "$tmp/modules" "$tmp/edges" >&2
