#!/usr/bin/env bash
# Installs what kawatch's lab needs on Debian (root): keepalived, nftables, iproute2, curl, a C compiler
# and libuv1-dev (the VRRP observer's addon) — and
# with --tests also what the test suite needs — then the npm packages, and builds. The test suite needs:
# tcpdump (the VRRP observer's lab tests), promtool, Prometheus and Alertmanager (alerts), node_exporter (the IPVS baseline), ipvsadm, qemu,
# Debian's kernel, busybox and cpio (the IPVS VM), Chromium (the status page), podman (the image build),
# python3 (generated IPVS tables), man and col (keepalived.conf(5), the lint keyword table), debootstrap
# (the fresh Debian root the packages are installed into), rpm (rpmbuild for npm run package's .rpm,
# rpm to check and install it), and the
# toolchain and libraries that build the keepalived releases of the version matrix
# (scripts/keepalived-matrix.sh; 1.3.5 also links libnfnetlink, libiptc and libxtables).
# Skips apt when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v keepalived >/dev/null || need+=(keepalived)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
# The VRRP observer's addon (native/build.mjs): a C compiler and libuv's header.
command -v cc >/dev/null || need+=(gcc libc6-dev)
dpkg -s libuv1-dev >/dev/null 2>&1 || need+=(libuv1-dev)
if [ "${1:-}" = --tests ]; then
  command -v promtool >/dev/null || need+=(prometheus)
  command -v tcpdump >/dev/null || need+=(tcpdump)
  command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
  command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
  command -v ipvsadm >/dev/null || need+=(ipvsadm)
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  compgen -G '/boot/vmlinuz-*' >/dev/null || need+=(linux-image-amd64)
  dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
  command -v cpio >/dev/null || need+=(cpio)
  command -v modinfo >/dev/null || need+=(kmod)
  command -v chromium >/dev/null || need+=(chromium)
  command -v podman >/dev/null || need+=(podman)
  command -v systemd-analyze >/dev/null || need+=(systemd)
  command -v python3 >/dev/null || need+=(python3)
  command -v man >/dev/null || need+=(man-db)
  command -v col >/dev/null || need+=(bsdextrautils)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v rpmbuild >/dev/null || need+=(rpm)
  for pkg in build-essential autoconf automake libtool pkg-config libssl-dev libnl-3-dev libnl-genl-3-dev \
    libnl-route-3-dev libmnl-dev libnftnl-dev libipset-dev libpcre2-dev libsystemd-dev \
    libnfnetlink-dev libiptc-dev libxtables-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
fi
command -v curl >/dev/null || need+=(curl)
command -v ping >/dev/null || need+=(iputils-ping)
command -v pkill >/dev/null || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing ${need[*]}: run as root (or install them) first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packages' own services (keepalived, prometheus) from starting.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build
