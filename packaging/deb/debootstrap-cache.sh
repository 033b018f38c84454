#!/usr/bin/env bash
# Prints the path of a tarball of a fresh Debian 12 root (debootstrap --variant=minbase bookworm),
# building it the first time. It is kept outside the checkout and keyed by debootstrap's version, so
# it is made once per machine and remade only when debootstrap changes:
#   packaging/debootstrap-cache.sh [CACHE_DIR]   (default /var/cache/kawatch)
set -euo pipefail
cache=${1:-/var/cache/kawatch}
mirror=${KAWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
version=$(dpkg-query -W -f '${Version}' debootstrap)
tarball="$cache/debootstrap-bookworm-minbase-$version.tar"
mkdir -p "$cache"
exec 9>"$tarball.lock"
flock 9
if [ ! -s "$tarball" ]; then
  work=$(mktemp -d "$cache/.debootstrap-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/log" 2>&1 || {
    tail -n 20 "$work/log" >&2
    exit 1
  }
  tar -C "$work/root" --numeric-owner -cf "$work/root.tar" .
  mv "$work/root.tar" "$tarball"
fi
echo "$tarball"
