#!/usr/bin/env bash
# kawatch in five minutes: on a fresh Debian 12 machine (root, Node 20), installs what the lab
# needs, builds kawatch, and starts `kawatch lab`: two keepalived directors in network namespaces,
# each MASTER of one VIP (the seeds' multi-master model), each with a kawatch daemon whose API
# answers from this host. The lab keeps running when the script ends; it tells how to take it down.
# Usage: scripts/demo.sh   (or: npm run lab)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "demo: run as root: the lab creates network namespaces, veths and nftables rules" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "demo: needs Node.js 20 or later (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

bash scripts/install-deps.sh

kawatch=(node dist/src/cli/main.js)

echo
echo "demo: starting the lab (about 5 s: VRRP elects a MASTER after 3 missed adverts)"
echo
"${kawatch[@]}" lab up

# The daemons' API addresses, from the lab's own description of itself.
mapfile -t apis < <("${kawatch[@]}" lab status --json | node -e '
  let text = ""; process.stdin.on("data", (c) => (text += c)).on("end", () => {
    for (const n of JSON.parse(text).info.nodes) console.log(`${n.name} ${n.api}`);
  });')

echo
echo "What each director's kawatch reports right now, from this host (state: 1 BACKUP, 2 MASTER):"
for entry in "${apis[@]}"; do
  read -r name api <<< "$entry"
  echo
  echo "  \$ curl -s $api/metrics | grep ^keepalived_vrrp_state     # $name"
  curl -sf "$api/metrics" | grep '^keepalived_vrrp_state' | sed 's/^/    /'
done

first_api=$(cut -d' ' -f2 <<< "${apis[0]}")
lab="${kawatch[*]} lab"
cat <<EOF

More to try:
  curl -s $first_api/api/v1/state    # the daemon's whole view, as JSON
  curl -s $first_api/healthz         # keepalived and each source: up or down
  curl -s $first_api/metrics         # everything Prometheus would scrape

Make a split brain the way keepalived's maintainers do (drop VRRP with nftables on lb2):
  $lab split     # within ~4 s both directors are MASTER of both VIPs
  $lab status    # each daemon's view of VI_1 and VI_2
  $lab heal      # back to one MASTER per VIP

Look inside a director (each is a network namespace):
  ip netns exec kwlab-lb1 ip -br addr show pri0    # its primary address and the VIP it holds

When you are done:
  $lab down      # removes every namespace, link, process and file of the lab
EOF
