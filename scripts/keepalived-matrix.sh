#!/usr/bin/env bash
# The keepalived releases directors in the field run, built from the upstream source tarballs so the
# tests can run kawatch against each of them (Debian's apt has only one keepalived).
#
#   scripts/keepalived-matrix.sh build [FLAVOUR|VERSION ...]   build what is missing (default: all)
#   scripts/keepalived-matrix.sh list                          built flavours and their binaries
#   scripts/keepalived-matrix.sh path FLAVOUR                  where FLAVOUR's binary is (built or not)
#   scripts/keepalived-matrix.sh flavours                      every flavour this script knows
#
# A flavour is VERSION-json or VERSION-nojson (with or without --enable-json); a bare VERSION means
# every flavour of that version. Each build lands in CACHE/FLAVOUR-SHA (SHA: the first 12 hex digits of
# the tarball's SHA-256, checked against SHA256SUMS), so a changed tarball is a new build and an
# unchanged one is never rebuilt. A build is staged under CACHE/.build-PID-* and renamed into place
# only when complete, so a killed build never leaves a half cache behind.
#
# Environment: KAWATCH_SHARED (default: the checkout's ../shared) holds keepalived/*.tar.gz, the
# patches and SHA256SUMS; KAWATCH_KEEPALIVED_CACHE (default /var/cache/kawatch/keepalived).
# Build packages: scripts/install-deps.sh --tests.
set -euo pipefail

checkout=$(cd "$(dirname "$0")/.." && pwd)
shared=${KAWATCH_SHARED:-"$checkout/../shared"}
sources="$shared/keepalived"
cache=${KAWATCH_KEEPALIVED_CACHE:-/var/cache/kawatch/keepalived}

# What the field runs: 1.3.5 (CentOS 7) has no JSON at all; RHEL 8's 2.1.5 is very likely built without it.
all_flavours=(1.3.5-nojson 2.0.19-json 2.1.5-json 2.1.5-nojson 2.2.8-json 2.3.4-json 2.4.3-json)

die() { echo "keepalived-matrix: $*" >&2; exit 1; }

# The full SHA-256 of a file named in SHA256SUMS, after checking the file against it.
verified_sha256() {
  local name=$1 expected actual
  expected=$(awk -v f="$name" '$2 == f || $2 == "*" f { print $1 }' "$sources/SHA256SUMS")
  [ -n "$expected" ] || die "$sources/SHA256SUMS has no line for $name"
  actual=$(sha256sum "$sources/$name" | cut -d' ' -f1)
  [ "$actual" = "$expected" ] || die "$sources/$name: SHA-256 $actual, but SHA256SUMS says $expected"
  echo "$actual"
}

expand_flavours() {
  local arg f matched
  [ $# -gt 0 ] || set -- "${all_flavours[@]}"
  for arg in "$@"; do
    matched=0
    for f in "${all_flavours[@]}"; do
      if [ "$f" = "$arg" ] || [ "${f%-*}" = "$arg" ]; then echo "$f"; matched=1; fi
    done
    [ $matched = 1 ] || die "unknown flavour '$arg' (known: ${all_flavours[*]}; or a bare version)"
  done
}

# Removes staging directories of builds whose process is gone (killed, machine rebooted).
sweep_stale_staging() {
  local dir pid
  for dir in "$cache"/.build-*; do
    [ -d "$dir" ] || continue
    pid=${dir##*/.build-}; pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null || rm -rf "$dir"
  done
}

build_one() {
  local flavour=$1 version=${1%-*} kind=${1##*-} tarball sha dest stage src log started
  tarball="keepalived-$version.tar.gz"
  [ -f "$sources/$tarball" ] || die "missing $sources/$tarball (set KAWATCH_SHARED)"
  sha=$(verified_sha256 "$tarball")
  dest="$cache/$flavour-${sha:0:12}"
  # One builder per flavour at a time; the second one finds the first one's result.
  exec 9>"$cache/.lock-$flavour"
  flock 9
  if [ -x "$dest/sbin/keepalived" ]; then
    echo "$flavour: cached in $dest"
    exec 9>&-
    return 0
  fi
  stage="$cache/.build-$$-$flavour"
  rm -rf "$stage"; mkdir -p "$stage/src"
  src="$stage/src/keepalived-$version"
  log="$stage/build.log"
  started=$SECONDS
  echo "$flavour: building in $stage (log: $log)"
  tar -xzf "$sources/$tarball" -C "$stage/src"
  [ -d "$src" ] || die "$tarball does not unpack to keepalived-$version/"
  local patch name
  for patch in "$sources/$version"-*.patch; do
    [ -f "$patch" ] || continue
    name=${patch##*/}
    verified_sha256 "$name" >/dev/null
    patch -d "$src" -p1 --quiet < "$patch" || die "$flavour: $name does not apply"
  done
  local -a configure=(./configure "--prefix=$dest")
  local cflags="-g -O2"
  case "$version" in
    1.3.*) cflags="$cflags -fcommon" ;; # 1.3.5 predates GCC 10's -fno-common default
    *) configure+=(--enable-sha1); [ "$kind" = json ] && configure+=(--enable-json) ;;
  esac
  (
    cd "$src"
    # The tarballs are git archives: 2.1 and later ship autogen.sh, 2.0 only configure.ac, 1.3 a configure.
    if [ -x autogen.sh ]; then ./autogen.sh
    elif [ ! -x configure ]; then mkdir -p build-aux && autoreconf -fi
    fi
    CFLAGS="$cflags" nice -n 10 "${configure[@]}"
    nice -n 10 make -j2
    make install DESTDIR="$stage/root"
  ) > "$log" 2>&1 || { tail -n 30 "$log" >&2; die "$flavour: build failed, log kept in $log"; }
  local built="$stage/root$dest"
  [ -x "$built/sbin/keepalived" ] || die "$flavour: make install produced no sbin/keepalived"
  cp "$log" "$built/build.log"
  cat > "$built/build-info" <<INFO
flavour=$flavour
version=$version
json=$([ "$kind" = json ] && echo yes || echo no)
tarball=$tarball
sha256=$sha
configure=${configure[*]:1}
cflags=$cflags
INFO
  mv -T "$built" "$dest"
  rm -rf "$stage"
  exec 9>&-
  echo "$flavour: built in $((SECONDS - started)) s -> $dest/sbin/keepalived"
}

# The binary a flavour builds to from today's tarball.
binary_path() {
  local sha
  sha=$(verified_sha256 "keepalived-${1%-*}.tar.gz")
  echo "$cache/$1-${sha:0:12}/sbin/keepalived"
}

# Prints FLAVOUR<TAB>BINARY for every flavour built from the tarball SHA256SUMS names today.
list_built() {
  local flavour binary
  for flavour in "${all_flavours[@]}"; do
    [ -f "$sources/keepalived-${flavour%-*}.tar.gz" ] || continue
    binary=$(binary_path "$flavour")
    [ -x "$binary" ] && printf '%s\t%s\n' "$flavour" "$binary"
  done
  return 0
}

case "${1:-}" in
  build)
    shift
    flavours=$(expand_flavours "$@")
    for tool in gcc make autoreconf libtoolize pkg-config patch flock; do
      command -v "$tool" >/dev/null || die "needs $tool and the keepalived build libraries: scripts/install-deps.sh --tests installs them"
    done
    mkdir -p "$cache"
    sweep_stale_staging
    for flavour in $flavours; do build_one "$flavour"; done
    ;;
  list) list_built ;;
  path)
    [ $# = 2 ] && [ "$(expand_flavours "$2")" = "$2" ] || die "usage: $0 path FLAVOUR (one of: ${all_flavours[*]})"
    binary_path "$2"
    ;;
  flavours) printf '%s\n' "${all_flavours[@]}" ;;
  *) echo "usage: $0 build [FLAVOUR|VERSION ...] | list | path FLAVOUR | flavours" >&2; exit 2 ;;
esac
