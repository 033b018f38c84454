#!/usr/bin/env bash
# Assembles a minimal root filesystem laid out like node:20-bookworm-slim (node and npm under
# /usr/local, a POSIX shell and core utilities) from this machine's own Node.js and busybox, for
# building the image where no image registry is reachable:
#   packaging/container/local-base-rootfs.sh DIR && tar -C DIR -c . | podman import - localhost/kawatch-base-node:20
set -euo pipefail
dest=${1:?usage: local-base-rootfs.sh DIR}
node=$(readlink -f "$(command -v node)")
npm_dir=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..")
busybox=$(command -v busybox)

mkdir -p "$dest"/{bin,etc,tmp,usr/local/bin,usr/local/lib/node_modules,root}
chmod 1777 "$dest/tmp"
cp "$node" "$dest/usr/local/bin/node"
# The shared libraries node links against, at the same paths.
ldd "$node" | grep -o '/[^ ]*' | while read -r lib; do
  mkdir -p "$dest$(dirname "$lib")"
  cp -L "$lib" "$dest$lib"
done
cp -a "$npm_dir" "$dest/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$dest/usr/local/bin/npm"
cp "$busybox" "$dest/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$dest/bin/$applet" ] || ln -s busybox "$dest/bin/$applet"
done
mkdir -p "$dest/usr/bin" && ln -s ../../bin/env "$dest/usr/bin/env"
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' > "$dest/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$dest/etc/group"
# This machine's trust store (npm ci in the build stage goes through it), as a real base image carries its distribution's.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$dest/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/"
fi
