#!/usr/bin/env bash
# tools/deps.sh [build|demo|test] -- installs what the target needs and is
# missing; the body of `make deps` (which make demo and make test call first).
#
#   build  the C toolchain and libraries (make)
#   demo   build + Node.js and the demo apps' npm packages (make demo)
#   test   demo + everything make test runs: clang with its sanitizer
#          runtime, cmocka, promtool, chromium, systemd-analyze, python3-yaml
#          (the default)
#
# Debian packages are installed through apt-get (with sudo when not root),
# only those missing, and a Node.js that is already installed (NodeSource,
# nvm, a tarball) is kept: nodejs/npm are asked for only when `node` is not
# on PATH. `npm ci` runs in every directory of the repository with a
# package-lock.json whose node_modules is missing or older than the lock.
# Prints what it installs. Fails with the list of what to install by hand
# when it cannot: not Debian/Ubuntu, no root and no sudo, apt-get failing
# (no network). DEPS_DRY_RUN=1 prints what it would do and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}
dry=${DEPS_DRY_RUN:-}

die() { echo "deps: $*" >&2; exit 1; }

# package: the command or file that shows it is there
build_pkgs=(
  "build-essential:cc" "build-essential:make" "pkg-config:pkg-config"
  "libevent-dev:pc:libevent" "libjansson-dev:pc:jansson"
)
demo_pkgs=("curl:curl")
test_pkgs=(
  "libcmocka-dev:pc:cmocka" "clang:clang" "libclang-rt-14-dev:asan"
  "prometheus:promtool" "chromium:chromium" "python3-yaml:pyyaml" "systemd:systemd-analyze"
  "ca-certificates:file:/etc/ssl/certs/ca-certificates.crt"
  "node-llhttp:file:/usr/share/llhttp/llhttp.c"   # the differential fuzz target's llhttp sources
)
case $what in
  build) want=("${build_pkgs[@]}") ;;
  demo)  want=("${build_pkgs[@]}" "${demo_pkgs[@]}") ;;
  test)  want=("${build_pkgs[@]}" "${demo_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) die "unknown target '$what' (build, demo or test)" ;;
esac

# is the thing a package provides there?
have() {
  case $1 in
    pc:*)   command -v pkg-config >/dev/null && pkg-config --exists "${1#pc:}" ;;
    file:*) [ -e "${1#file:}" ] ;;
    asan)   command -v clang >/dev/null && echo 'int main(void){return 0;}' |
              clang -x c -fsanitize=address,undefined -o /dev/null - 2>/dev/null ;;
    pyyaml) command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null ;;
    *)      command -v "$1" >/dev/null ;;
  esac
}

missing=()
for entry in "${want[@]}"; do
  pkg=${entry%%:*} probe=${entry#*:}
  have "$probe" && continue
  case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
done
if [ "$what" != build ] && ! command -v node >/dev/null; then
  missing+=(nodejs npm)        # only when there is no node at all: never replace one
elif [ "$what" != build ] && ! command -v npm >/dev/null; then
  die "node is installed ($(command -v node)) but npm is not: install npm the way this node was installed"
fi
if [ "$what" != build ] && command -v node >/dev/null; then
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$major" -ge 18 ] || die "node $(node --version) is too old: leakproxy's tests and demo need Node >= 18"
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  command -v apt-get >/dev/null && [ -r /etc/debian_version ] ||
    die "not a Debian/Ubuntu system: install these (or their equivalents) by hand: ${missing[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo: as root, run apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  if [ -z "$dry" ]; then
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq ||
      die "apt-get update failed (no network?): install by hand: ${missing[*]}"
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      die "apt-get install failed: install by hand: ${missing[*]}"
  fi
fi

[ "$what" = build ] && exit 0
# npm packages of every lockfile in the tree (the demo apps, anything added later)
while IFS= read -r lock; do
  dir=$(dirname "$lock")
  if [ -d "$dir/node_modules" ] && [ "$dir/node_modules" -nt "$lock" ]; then continue; fi
  echo "deps: npm ci in $dir"
  [ -n "$dry" ] && continue
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
    die "npm ci failed in $dir (no access to the npm registry?)"
  touch "$dir/node_modules"
done < <(find . -name package-lock.json -not -path '*/node_modules/*' -not -path './build/*' | sort)
exit 0
