import { readFileSync } from 'node:fs';
import type { Datagram } from '../../src/vrrp/packet.js';

/**
 * The datagrams of a pcap file of Ethernet frames (tcpdump -w on the lab's bridge), as the raw
 * socket would hand them over: IPv4 packets whole, IPv6 payloads with the header's addresses and
 * hop limit beside them.
 */
export function readPcap(file: string): { at: number; datagram: Datagram }[] {
  const b = readFileSync(file);
  if (b.readUInt32LE(0) !== 0xa1b2c3d4 || b.readUInt32LE(20) !== 1) throw new Error(`${file}: not a little-endian microsecond pcap of Ethernet frames`);
  const out: { at: number; datagram: Datagram }[] = [];
  for (let at = 24; at + 16 <= b.length; ) {
    const length = b.readUInt32LE(at + 8);
    const frame = b.subarray(at + 16, at + 16 + length);
    const time = b.readUInt32LE(at) * 1000 + b.readUInt32LE(at + 4) / 1000;
    at += 16 + length;
    const type = frame.readUInt16BE(12);
    const ip = frame.subarray(14);
    if (type === 0x0800) out.push({ at: time, datagram: { family: 4, data: ip, source: '', destination: '', hopLimit: -1 } });
    else if (type === 0x86dd) {
      const text = (from: number) => Array.from({ length: 8 }, (_, i) => ip.readUInt16BE(from + 2 * i).toString(16)).join(':');
      out.push({ at: time, datagram: { family: 6, data: ip.subarray(40, 40 + ip.readUInt16BE(4)), source: compress(text(8)), destination: compress(text(24)), hopLimit: ip[7]! } });
    }
  }
  return out;
}

/** inet_ntop's form: the longest run of zero groups as "::". */
function compress(full: string): string {
  const groups = full.split(':');
  let best = -1;
  let len = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > len) [best, len] = [i, j - i];
  }
  return best < 0 ? full : `${groups.slice(0, best).join(':')}::${groups.slice(best + len).join(':')}`;
}
