#!/bin/sh
# tools/archgraph.sh BUILD_DIR -- the module graph, derived from the object
# files: module A depends on module B when A.o uses a symbol B.o defines
# (nm). Prints "A -> B" lines; with --check, also searches the graph for a
# cycle and exits 1 naming it. main.o and dashboard_assets.o are modules
# like the others. Used by `make check-arch`; docs/architecture.md holds the
# intended graph.
set -eu
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
dir=${1:?usage: tools/archgraph.sh [--check] BUILD_DIR}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for o in "$dir"/*.o; do
    m=$(basename "$o" .o)
    nm --defined-only -g "$o" | awk -v m="$m" 'NF==3 {print $3, m}' >> "$tmp/defs"
    nm -u "$o" | awk -v m="$m" '{print $NF, m}' >> "$tmp/uses"
done
sort -k1,1 "$tmp/defs" > "$tmp/defs.s"
sort -k1,1 "$tmp/uses" > "$tmp/uses.s"
# symbol user definer -> edges "user definer"
join "$tmp/uses.s" "$tmp/defs.s" | awk '$2 != $3 {print $2, $3}' | sort -u > "$tmp/edges"
awk '{print $1, "->", $2}' "$tmp/edges"
[ $check = 1 ] || exit 0
# a cycle: depth-first search over the edges
awk '
{ adj[$1] = adj[$1] " " $2; nodes[$1]; nodes[$2] }
function dfs(n,   i, k, parts, c) {
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
    if (found) { print "check-arch: cycle: " path > "/dev/stderr"; exit 1 }
    print "check-arch: no cycle among the modules"
}' "$tmp/edges" >&2
