#!/bin/sh
# Inside the test VM: $1 HTTP requests from the client namespace to the VIP, one TCP connection each;
# the first one that fails fails the script.
set -e
ip netns exec kwcl sh -c 'i=0; while [ $i -lt "$1" ]; do curl -sf --max-time 10 -o /dev/null http://10.40.0.100/ || exit 1; i=$((i + 1)); done' sh "$1"
