#!/bin/sh
# Inside the test VM: $1 more TCP services with four masqueraded real servers each, loaded in one
# `ipvsadm -R`, so that the dumps span many netlink messages and reads.
set -e
awk -v n="$1" 'BEGIN {
  for (i = 0; i < n; i++) {
    vip = sprintf("10.50.%d.%d:80", int(i / 250), i % 250 + 1)
    printf "-A -t %s -s wlc\n", vip
    for (j = 1; j <= 4; j++) printf "-a -t %s -r 10.60.%d.%d:8080 -m -w %d\n", vip, int(i / 60), (i % 60) * 4 + j, j - 1
  }
}' | ipvsadm -R
