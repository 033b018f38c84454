#!/bin/sh
# Inside the test VM: one IPVS table with every kind of service ipvsadm can make.
set -e
ipvsadm -C
ip addr add 10.10.9.9/32 dev lo
ip -6 addr add 2001:db8:9::9/128 dev lo
# TCP, masquerading, weighted least-connection; a real server with weight 0 (drained).
ipvsadm -A -t 10.10.0.1:80 -s wlc
ipvsadm -a -t 10.10.0.1:80 -r 10.10.1.2:80 -m -w 3
ipvsadm -a -t 10.10.0.1:80 -r 10.10.1.3:8080 -m -w 0
# UDP, direct routing, round robin, one-packet scheduling.
ipvsadm -A -u 10.10.0.1:53 -s rr -o
ipvsadm -a -u 10.10.0.1:53 -r 10.10.1.4:53 -g -w 1
ipvsadm -a -u 10.10.0.1:53 -r 10.10.1.5:53 -g -w 2
# SCTP, tunnelling, source hashing with its flags.
ipvsadm -A --sctp-service 10.10.0.1:3868 -s sh -b sh-fallback,sh-port
ipvsadm -a --sctp-service 10.10.0.1:3868 -r 10.10.1.6:3868 -i -w 2
# Firewall mark, persistent with a /24 granularity; a real server on this host (local forwarding).
ipvsadm -A -f 7 -s lc -p 600 -M 255.255.255.0
ipvsadm -a -f 7 -r 10.10.1.7:0 -g
ipvsadm -a -f 7 -r 10.10.9.9:0 -g
# IPv6: persistent TCP with a /64 granularity, an IPv6 firewall-mark service, a UDP service with no real server.
ipvsadm -A -t [2001:db8::1]:443 -s sed -p 300 -M 64
ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8:1::2]:443 -m -w 5
ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8:9::9]:443 -m -w 1
ipvsadm -A -f 9 -6 -s wrr
ipvsadm -a -f 9 -6 -r [2001:db8:1::3]:0 -g -w 4
ipvsadm -A -u [2001:db8::2]:123 -s nq
# A persistent service whose timeout is ipvsadm's default.
ipvsadm -A -t 10.10.0.2:443 -s dh -p
ipvsadm -a -t 10.10.0.2:443 -r 10.10.1.8:443 -i -w 1
