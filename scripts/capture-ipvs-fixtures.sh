#!/usr/bin/env bash
# Records a real kernel's IPVS output for the unit tests into test/fixtures/ipvs/kernel: net/ip_vs,
# net/ip_vs_stats (a procfs-shaped tree), ipvsadm's listings and the raw generic netlink replies, all of one moment,
# from the VM test that builds every kind of service and pushes real TCP through a NAT service.
# Needs root, qemu-system-x86_64, linux-image-amd64, busybox-static, ipvsadm (see install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build
KAWATCH_UPDATE_FIXTURES=1 npx vitest run --project vm test/ipvs/readers.vm.test.ts
