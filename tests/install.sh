#!/usr/bin/env bash
# tests/install.sh -- `make install` and `make uninstall` as a packager runs
# them: into a temporary DESTDIR with PREFIX=/usr. Checks the list of
# installed files, that the installed binary runs (--version, --help, the
# installed example config passes --check-config), that the man page renders
# without warnings and the unit points at the installed binary; then that
# uninstall leaves no file behind. Called by tests/run.sh (make test); the
# last line is "install: N checks passed[, M FAILED]".
set -u
cd "$(dirname "$0")/.." || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/leakproxy-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# a make above us (make test SANITIZER=...) must not pass its variables down:
# install builds and installs the release binary
unset MAKEFLAGS MFLAGS MAKELEVEL SANITIZER
root=$tmp/root
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok    $*"; }
bad() { failed=$((failed + 1)); echo "FAIL  $*"; }

if make -s install DESTDIR="$root" PREFIX=/usr >"$tmp/install.log" 2>&1; then
  ok "make install DESTDIR=... PREFIX=/usr"
else
  bad "make install DESTDIR=... PREFIX=/usr"; cat "$tmp/install.log"
fi
want='usr/bin/leakproxy
usr/lib/systemd/system/leakproxy.service
usr/share/doc/leakproxy/LICENSE
usr/share/doc/leakproxy/README.md
usr/share/doc/leakproxy/leakproxy.example.json
usr/share/man/man1/leakproxy.1'
got=$(cd "$root" 2>/dev/null && find . -type f -o -type l | sed 's|^\./||' | sort)
if [ "$got" = "$want" ]; then
  ok "installed files:"; printf '        /%s\n' $got
else
  bad "installed files differ from the expected list"; diff <(echo "$want") <(echo "$got")
fi
lp=$root/usr/bin/leakproxy
if [ -x "$lp" ] && out=$("$lp" --version) && [[ $out =~ ^leakproxy\ [0-9]+\.[0-9]+ ]]; then
  ok "installed binary: $out"
else
  bad "installed binary --version: ${out:-not executable}"
fi
if "$lp" --help | grep -q -- '--check-config' &&
   "$lp" -t -c "$root/usr/share/doc/leakproxy/leakproxy.example.json" >/dev/null; then
  ok "installed binary: --help, and the installed example config passes --check-config"
else
  bad "installed binary: --help or --check-config of the installed example"
fi
if command -v man >/dev/null 2>&1; then
  if w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$root/usr/share/man/man1/leakproxy.1" 2>&1 >/dev/null) &&
     [ -z "$w" ]; then
    ok "man page renders without warnings"
  else
    bad "man page: $w"
  fi
fi
unit=$root/usr/lib/systemd/system/leakproxy.service
if grep -q '^ExecStart=/usr/bin/leakproxy -c /etc/leakproxy/leakproxy.json$' "$unit" &&
   ! grep -q /usr/local "$unit"; then
  ok "systemd unit runs /usr/bin/leakproxy"
else
  bad "systemd unit: ExecStart is not /usr/bin/leakproxy"
fi
if make -s uninstall DESTDIR="$root" PREFIX=/usr >"$tmp/uninstall.log" 2>&1 &&
   left=$(find "$root" -type f -o -type l) && [ -z "$left" ] && [ ! -d "$root/usr/share/doc/leakproxy" ]; then
  ok "make uninstall leaves no file"
else
  bad "make uninstall left: ${left:-?}"; cat "$tmp/uninstall.log"
fi
echo
summary="install: $passed checks passed"
[ "$failed" -gt 0 ] && summary="$summary, $failed FAILED"
echo "$summary"
[ "$failed" -eq 0 ]
