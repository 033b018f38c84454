#!/usr/bin/env bash
# Re-records test/fixtures/vrrp/: real VRRP adverts off the lab's primary bridge, as pcap files the
# parser's tests read (test/vrrp/fixtures.test.ts). Root; after `npm run build`; takes the lab lock.
#   lab-v2.pcap   the lab's own keepalived pair: VRRPv2 over IPv4, PASS authentication
#   lab-v3.pcap   a second keepalived on each director with vrrp_version 3: VRRPv3 over IPv4 and IPv6
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=kwwire
out=test/fixtures/vrrp
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  node dist/src/cli/main.js lab down --prefix "$prefix" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
exec 9>/tmp/kawatch-lab.lock
flock 9
node dist/src/cli/main.js lab up --prefix "$prefix" >/dev/null
mkdir -p "$out"
ip netns exec "$prefix-sw" timeout 20 tcpdump -i br0 -U -c 6 -w "$out/lab-v2.pcap" 'ip proto 112' 2>/dev/null

for i in 1 2; do
  priority=$((100 - i * 10))
  cat > "$work/lb$i.conf" <<CONF
global_defs {
    router_id capture-lb$i
    vrrp_version 3
}
vrrp_instance V3_4 {
    state BACKUP
    interface pri0
    virtual_router_id 91
    priority $priority
    advert_int 0.5
    virtual_ipaddress {
        198.18.0.91/24
    }
}
vrrp_instance V3_6 {
    state BACKUP
    interface pri0
    virtual_router_id 92
    priority $priority
    advert_int 0.25
    virtual_ipaddress {
        fd00:198:18::92/64
        fd00:198:18::93/64
    }
}
CONF
  ip netns exec "$prefix-lb$i" keepalived -n -l -D --vrrp -f "$work/lb$i.conf" -p "$work/lb$i.pid" -r "$work/lb$i-vrrp.pid" >"$work/lb$i.log" 2>&1 &
  pids+=($!)
done
# Both instances elect lb1 after the master-down time; the adverts captured are its, as MASTER.
ip netns exec "$prefix-sw" timeout 30 tcpdump -i br0 -U -c 8 -w "$out/lab-v3.pcap" '(ip proto 112 and ip[21] == 91) or (ip6 proto 112 and ip6[41] == 92)' 2>/dev/null
ls -l "$out"
