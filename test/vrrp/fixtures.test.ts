import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseDatagram, type Advert } from '../../src/vrrp/packet.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { readPcap } from './pcap.js';

// Real adverts from the lab's bridge, recorded by scripts/capture-vrrp-fixtures.sh.
const fixture = (name: string) => new URL(`../fixtures/vrrp/${name}`, import.meta.url).pathname;
const password = new TextEncoder().encode('kawatch1');

function adverts(name: string): Advert[] {
  return readPcap(fixture(name)).map(({ datagram }) => {
    const parsed = parseDatagram(datagram, { passwordFor: () => password });
    if (!parsed.ok) throw new Error(`${name}: ${parsed.reason}: ${parsed.detail}`);
    return parsed.advert;
  });
}

const summary = (a: Advert) => `${a.source} v${a.version} vrid ${a.vrid} prio ${a.priority} ${a.intervalMs}ms [${a.addresses.join(',')}]`;

describe("keepalived's own adverts, captured in the lab", () => {
  it("VRRPv2 over IPv4 with PASS authentication: each director's MASTER adverts, the password matching", () => {
    const found = adverts('lab-v2.pcap');
    expect(found.length).toBeGreaterThanOrEqual(4);
    expect(new Set(found.map(summary))).toEqual(new Set(['198.18.0.1 v2 vrid 51 prio 100 1000ms [198.18.0.50]', '198.18.0.2 v2 vrid 55 prio 100 1000ms [198.18.0.60]']));
    for (const a of found) expect(a.auth).toEqual({ type: 'simple', matches: true });
    const other = readPcap(fixture('lab-v2.pcap')).map(({ datagram }) => parseDatagram(datagram, { passwordFor: () => new TextEncoder().encode('kawatch2') }));
    for (const p of other) expect(p.ok && p.advert.auth?.matches).toBe(false);
  });

  it('VRRPv3 over IPv4 and IPv6 (centisecond intervals, two IPv6 addresses), checksums over the pseudo-header verified', () => {
    const found = adverts('lab-v3.pcap');
    const v6 = found.filter((a) => a.family === 6);
    const v4 = found.filter((a) => a.family === 4);
    expect(v6.length).toBeGreaterThan(0);
    expect(v4.length).toBeGreaterThan(0);
    for (const a of v4) expect(summary(a)).toBe('198.18.0.1 v3 vrid 91 prio 90 500ms [198.18.0.91]');
    for (const a of v6) {
      expect(a.source).toMatch(/^fe80::/);
      expect(a.destination).toBe('ff02::12');
      expect(summary(a).replace(a.source, 'LL')).toBe('LL v3 vrid 92 prio 90 250ms [fd00:198:18::92,fd00:198:18::93]');
      expect(a.auth).toBeUndefined();
    }
  });

  // The checksum covers the whole VRRP message, VRRPv2's authentication data included.
  it('any bit flipped in a captured advert is refused, not misread', () => {
    for (const name of ['lab-v2.pcap', 'lab-v3.pcap']) {
      for (const { datagram } of readPcap(fixture(name))) {
        const start = datagram.family === 4 ? 20 : 0;
        for (let byte = start; byte < datagram.data.length; byte++) {
          const data = Uint8Array.from(datagram.data);
          data[byte]! ^= 0x10;
          const parsed = parseDatagram({ ...datagram, data });
          expect(parsed.ok, `${name} byte ${byte}`).toBe(false);
        }
      }
    }
  });

  describeWithPrereqs('tcpdump', { commands: ['tcpdump'] }, () => {
    it("reads every captured advert as tcpdump's own decoder does", () => {
      for (const name of ['lab-v2.pcap', 'lab-v3.pcap']) {
        const text = execFileSync('tcpdump', ['-nn', '-v', '-r', fixture(name)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        const theirs = [...text.matchAll(/(\S+) > \S+: VRRPv(\d), Advertisement, vrid (\d+), prio (\d+),(?: authtype \w+,)? intvl (\d+)(s|cs)/g)].map((m) => `${m[1]} v${m[2]} vrid ${m[3]} prio ${m[4]} ${Number(m[5]) * (m[6] === 's' ? 1000 : 10)}ms`);
        const ours = adverts(name).map((a) => `${a.source} v${a.version} vrid ${a.vrid} prio ${a.priority} ${a.intervalMs}ms`);
        expect(ours).toEqual(theirs);
      }
    });
  });
});
