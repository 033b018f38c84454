#!/bin/sh
# Inside the test VM: a client and a backend in network namespaces of their own on either side of
# this director, and a NAT (masquerading) service between them: VIP 10.40.0.100:80 → 10.20.0.2:8080,
# a busybox httpd serving a 100000-byte page (big enough for byte rates to last a while after the traffic).
set -e
sysctl -qw net.ipv4.ip_forward=1
for ns in kwbe kwcl; do
  ip netns add $ns
  ip link add ${ns}0 type veth peer name ${ns}1 netns $ns
  ip -n $ns link set lo up
  ip -n $ns link set ${ns}1 up
  ip link set ${ns}0 up
done
ip addr add 10.20.0.1/24 dev kwbe0
ip -n kwbe addr add 10.20.0.2/24 dev kwbe1
ip -n kwbe route add default via 10.20.0.1
ip addr add 10.30.0.1/24 dev kwcl0
ip -n kwcl addr add 10.30.0.2/24 dev kwcl1
ip -n kwcl route add default via 10.30.0.1
ip addr add 10.40.0.100/32 dev lo
mkdir -p /tmp/www
head -c 100000 /dev/zero | tr '\0' x > /tmp/www/index.html
ip netns exec kwbe busybox httpd -f -p 10.20.0.2:8080 -h /tmp/www > /dev/null 2>&1 &
echo $! > /tmp/httpd.pid
# Listening before the first request (at most 10 s).
i=0
until ip netns exec kwbe ss -Hltn 'sport = :8080' | grep -q .; do
  i=$((i + 1))
  [ $i -le 100 ] || { echo "busybox httpd is not listening on 10.20.0.2:8080 after 10 s" >&2; exit 1; }
  sleep 0.1
done
