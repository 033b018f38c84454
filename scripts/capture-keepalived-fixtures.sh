#!/usr/bin/env bash
# Records real keepalived output for the tests: JSON dumps and notify FIFO lines from a
# keepalived pair in two throw-away network namespaces. Needs root, keepalived and iproute2.
# Usage: scripts/capture-keepalived-fixtures.sh [OUT_DIR]   (default test/fixtures/keepalived)
set -euo pipefail
out=${1:-"$(dirname "$0")/../test/fixtures/keepalived"}
work=$(mktemp -d /tmp/kwfx.XXXXXX)
ns=(kwfx-a kwfx-b)

cleanup() {
  for n in 1 2; do [ -f "$work/$n/ka.pid" ] && kill "$(cat "$work/$n/ka.pid")" 2>/dev/null || true; done
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  pkill -f "cat $work/" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # wait_for SECONDS CMD... : poll a condition, bounded
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || { echo "timed out: $*" >&2; return 1; }; sleep 0.1; done
}

ip netns add "${ns[0]}"; ip netns add "${ns[1]}"
ip link add kwfx-a0 netns "${ns[0]}" type veth peer name kwfx-b0 netns "${ns[1]}"
for i in 0 1; do
  ip -n "${ns[$i]}" link set lo up
  ip -n "${ns[$i]}" addr add "198.18.9.$((i + 1))/24" dev "kwfx-$([ $i = 0 ] && echo a || echo b)0"
  ip -n "${ns[$i]}" link set "kwfx-$([ $i = 0 ] && echo a || echo b)0" up
done

for n in 1 2; do
  mkdir -p "$work/$n"
  dev=kwfx-$([ $n = 1 ] && echo a || echo b)0
  p1=$([ $n = 1 ] && echo 100 || echo 80); p2=$([ $n = 1 ] && echo 80 || echo 100)
  cat > "$work/$n/keepalived.conf" <<CONF
global_defs {
  router_id lb$n
  vrrp_notify_fifo $work/$n/fifo
  script_user root
}
vrrp_sync_group G_WEB {
  group {
    VI_1
  }
}
vrrp_instance VI_1 {
  state BACKUP
  interface $dev
  virtual_router_id 51
  priority $p1
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass fixture1
  }
  virtual_ipaddress {
    198.18.9.50/24
    198.18.9.51/24
  }
}
vrrp_instance VI_2 {
  state BACKUP
  interface $dev
  virtual_router_id 55
  priority $p2
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass fixture2
  }
  virtual_ipaddress {
    198.18.9.60/24
  }
}
CONF
  mkfifo "$work/$n/fifo"
  (cat "$work/$n/fifo" > "$work/$n/fifo.log" &)
  ip netns exec "${ns[$((n - 1))]}" env TMPDIR="$work/$n" keepalived -P -n -l -f "$work/$n/keepalived.conf" \
    -p "$work/$n/ka.pid" -r "$work/$n/vrrp.pid" > "$work/$n/log" 2>&1 &
done

masters() { grep -c ' MASTER ' "$work/1/fifo.log" "$work/2/fifo.log" | awk -F: '{s+=$2} END {print s}'; }
wait_for 20 test -s "$work/1/ka.pid"
wait_for 20 test -s "$work/2/ka.pid"
wait_for 20 bash -c "grep -q '\"VI_1\" MASTER' $work/1/fifo.log && grep -q '\"VI_2\" MASTER' $work/2/fifo.log"
sig=$(keepalived --signum=JSON)
for n in 1 2; do
  rm -f "$work/$n/keepalived.json"
  kill "-$sig" "$(cat "$work/$n/ka.pid")"
  wait_for 5 python3 -c "import json,sys; json.load(open('$work/$n/keepalived.json'))"
done
cp "$work/1/keepalived.json" "$out/dump-lb1.json"
cp "$work/2/keepalived.json" "$out/dump-lb2.json"

# Failover: stop lb1, lb2 takes VI_1 (and its sync group) over.
kill "$(cat "$work/1/ka.pid")"
wait_for 20 grep -q '"VI_1" MASTER' "$work/2/fifo.log"
kill "-$sig" "$(cat "$work/2/ka.pid")"
wait_for 5 python3 -c "import json; d=json.load(open('$work/2/keepalived.json')); assert all(e['data']['state']==2 for e in d)"
cp "$work/2/keepalived.json" "$out/dump-lb2-after-failover.json"
cp "$work/1/fifo.log" "$out/fifo-lb1.txt"
cp "$work/2/fifo.log" "$out/fifo-lb2.txt"
echo "fixtures written to $out"
