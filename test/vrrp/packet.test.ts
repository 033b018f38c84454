import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressBytes, encodeAdvert, internetChecksum, MALFORMED_REASONS, parseAdvert, parseDatagram, type Advert, type Datagram } from '../../src/vrrp/packet.js';

const v2: Omit<Advert, 'auth'> = { version: 2, family: 4, source: '198.18.0.1', destination: '224.0.0.18', vrid: 51, priority: 150, intervalMs: 1000, addresses: ['198.18.0.100'] };
const v3v4: Omit<Advert, 'auth'> = { version: 3, family: 4, source: '198.18.0.2', destination: '224.0.0.18', vrid: 52, priority: 100, intervalMs: 250, addresses: ['198.18.0.101', '198.18.0.102'] };
const v3v6: Omit<Advert, 'auth'> = { version: 3, family: 6, source: 'fe80::1', destination: 'ff02::12', vrid: 53, priority: 200, intervalMs: 100, addresses: ['2001:db8::10', 'fe80::10'] };

function datagram(a: Omit<Advert, 'auth'>, bytes: Uint8Array, hopLimit = 255): Datagram {
  // For IPv4 the socket's addresses are not used: the header's are.
  return { family: a.family, data: bytes, source: a.family === 6 ? a.source : '0.0.0.0', destination: a.family === 6 ? a.destination : '0.0.0.0', hopLimit };
}

function refusal(d: Datagram, passwordFor?: (vrid: number) => Uint8Array | undefined): string | undefined {
  const parsed = parseDatagram(d, { passwordFor });
  return parsed.ok ? undefined : parsed.reason;
}

describe('VRRP adverts, hand-built', () => {
  it('reads a VRRPv2 advert with its simple password checked, never kept', () => {
    const bytes = encodeAdvert(v2, { password: 'kawatch1' });
    const right = parseDatagram(datagram(v2, bytes), { passwordFor: () => new TextEncoder().encode('kawatch1') });
    expect(right).toEqual({ ok: true, advert: { ...v2, auth: { type: 'simple', matches: true } } });
    const wrong = parseDatagram(datagram(v2, bytes), { passwordFor: () => new TextEncoder().encode('other') });
    expect(wrong.ok && wrong.advert.auth).toEqual({ type: 'simple', matches: false });
    // Nothing of the password is in what the parser gives.
    expect(JSON.stringify(right)).not.toContain('kawatch1');
    expect(JSON.stringify(right)).not.toContain(Buffer.from('kawatch1').toString('hex'));
  });

  it('reads VRRPv2 without authentication, and tells the auth type when no password is expected', () => {
    const parsed = parseDatagram(datagram(v2, encodeAdvert(v2)));
    expect(parsed.ok && parsed.advert.auth).toEqual({ type: 'none' });
    const typed = parseDatagram(datagram(v2, encodeAdvert(v2, { password: 'x' })));
    expect(typed.ok && typed.advert.auth).toEqual({ type: 'simple' });
    const unknown = parseDatagram(datagram(v2, encodeAdvert(v2, { authType: 7 })));
    expect(unknown.ok && unknown.advert.auth).toEqual({ type: 'unknown' });
  });

  it('reads VRRPv3 over IPv4 and IPv6, centisecond intervals included', () => {
    expect(parseDatagram(datagram(v3v4, encodeAdvert(v3v4)))).toEqual({ ok: true, advert: v3v4 });
    expect(parseDatagram(datagram(v3v6, encodeAdvert(v3v6)))).toEqual({ ok: true, advert: v3v6 });
  });

  it("checks VRRPv3's checksum over the pseudo-header: the same bytes from another source do not verify", () => {
    const bytes = encodeAdvert(v3v6);
    expect(refusal({ ...datagram(v3v6, bytes), source: 'fe80::2' })).toBe('checksum');
    const v4 = encodeAdvert(v3v4);
    // Another source address in the IPv4 header, with the header checksum made right again.
    const moved = Uint8Array.from(v4);
    moved[15] = 9;
    moved[10] = 0;
    moved[11] = 0;
    const sum = internetChecksum(moved.subarray(0, 20));
    moved[10] = sum >> 8;
    moved[11] = sum & 0xff;
    expect(refusal(datagram(v3v4, moved))).toBe('checksum');
  });

  it('refuses a TTL or hop limit other than 255', () => {
    expect(refusal(datagram(v2, encodeAdvert(v2, { ttl: 254 })))).toBe('ttl');
    expect(refusal(datagram(v3v6, encodeAdvert(v3v6), 64))).toBe('ttl');
  });

  it('names the reason of each malformed datagram', () => {
    const good = encodeAdvert(v2);
    const edit = (at: number, value: number) => {
      const b = Uint8Array.from(good);
      b[at] = value;
      return b;
    };
    expect(refusal(datagram(v2, good.subarray(0, 10)))).toBe('truncated');
    expect(refusal(datagram(v2, edit(0, 0x65)))).toBe('ip-header');
    expect(refusal(datagram(v2, edit(8, 254)))).toBe('ip-checksum');
    expect(refusal(datagram(v2, edit(20, 0x41)))).toBe('version');
    expect(refusal(datagram(v2, edit(20, 0x22)))).toBe('type');
    // The IPv6 payload is the VRRP message itself: no IP header to fix up after an edit.
    const v6 = encodeAdvert(v3v6);
    const edit6 = (at: number, value: number) => {
      const b = Uint8Array.from(v6);
      b[at] = value;
      return b;
    };
    expect(refusal(datagram(v3v6, edit6(1, 0)))).toBe('vrid');
    expect(refusal(datagram(v3v6, edit6(3, 3)))).toBe('truncated');
    expect(refusal(datagram(v3v6, edit6(3, 1)))).toBe('length');
    expect(refusal(datagram(v3v6, edit6(2, 1)))).toBe('checksum');
    expect(refusal(datagram(v3v6, edit6(0, 0x21)))).toBe('v2-over-ipv6');
    const zero = { ...v3v6, intervalMs: 0 };
    expect(refusal(datagram(zero, encodeAdvert(zero)))).toBe('interval');
    const other = Uint8Array.from(good);
    other[9] = 6;
    expect(refusal(datagram(v2, other))).toBe('ip-checksum');
  });
});

const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();

const advert: fc.Arbitrary<Omit<Advert, 'auth'>> = fc.oneof(
  fc.record({ version: fc.constant(2 as const), family: fc.constant(4 as const), source: ipv4, destination: ipv4, vrid: fc.integer({ min: 1, max: 255 }), priority: fc.integer({ min: 0, max: 255 }), intervalMs: fc.integer({ min: 1, max: 255 }).map((s) => s * 1000), addresses: fc.array(ipv4, { maxLength: 20 }) }),
  fc.record({ version: fc.constant(3 as const), family: fc.constant(4 as const), source: ipv4, destination: ipv4, vrid: fc.integer({ min: 1, max: 255 }), priority: fc.integer({ min: 0, max: 255 }), intervalMs: fc.integer({ min: 1, max: 4095 }).map((cs) => cs * 10), addresses: fc.array(ipv4, { maxLength: 20 }) }),
  fc.record({ version: fc.constant(3 as const), family: fc.constant(6 as const), source: ipv6, destination: ipv6, vrid: fc.integer({ min: 1, max: 255 }), priority: fc.integer({ min: 0, max: 255 }), intervalMs: fc.integer({ min: 1, max: 4095 }).map((cs) => cs * 10), addresses: fc.array(ipv6, { maxLength: 10 }) }),
);

/** inet_ntop's spelling of an IPv6 address, by a round trip through bytes and the parser's printer. */
function canonical(a: Omit<Advert, 'auth'>): Omit<Advert, 'auth'> {
  if (a.family === 4) return a;
  const print = (text: string) => {
    const parsed = parseAdvert({ family: 6, payload: encodeAdvert({ ...a, addresses: [text], source: '::', destination: '::' }), source: '::', destination: '::', ttl: 255 });
    return parsed.ok ? parsed.advert.addresses[0]! : text;
  };
  return { ...a, addresses: a.addresses.map(print) };
}

describe('VRRP adverts, properties', () => {
  it('encode → parse gives the advert back', () => {
    fc.assert(
      fc.property(advert, (a) => {
        const parsed = parseDatagram(datagram(a, encodeAdvert(a)));
        expect(parsed).toEqual({ ok: true, advert: { ...canonical(a), ...(a.version === 2 && { auth: { type: 'none' } }) } });
      }),
      { seed: 51, numRuns: 500 },
    );
  });

  it("prints IPv6 addresses as inet_ntop does, and reads them back to the same bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const payload = Uint8Array.from([0x31, 1, 0, 1, 0, 1, 0, 0, ...bytes]);
        const sum = internetChecksum(Uint8Array.from([...new Uint8Array(32), 0, 0, 0, payload.length, 0, 0, 0, 112]), payload);
        payload[6] = sum >> 8;
        payload[7] = sum & 0xff;
        const parsed = parseAdvert({ family: 6, payload, source: '::', destination: '::', ttl: 255 });
        expect(parsed.ok).toBe(true);
        const text = parsed.ok ? parsed.advert.addresses[0]! : '';
        expect([...addressBytes(text)!]).toEqual([...bytes]);
        expect(text).toMatch(/^[0-9a-f:]+$/);
        expect(text).not.toMatch(/(^|:)0[0-9a-f]/);
      }),
      { seed: 52, numRuns: 500 },
    );
  });

  it('random bytes and mutated adverts never throw, and a refusal always names a known reason', () => {
    const mutated = fc.tuple(advert, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat()).map(([a, edits, cut]) => {
      const bytes = Uint8Array.from(encodeAdvert(a));
      for (const [at, value] of edits) bytes[at % bytes.length] = value;
      return datagram(a, cut % 5 === 0 ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes);
    });
    const random = fc.record({ family: fc.constantFrom(4 as const, 6 as const), data: fc.uint8Array({ maxLength: 300 }), source: fc.oneof(ipv4, ipv6, fc.string()), destination: fc.oneof(ipv4, ipv6, fc.string()), hopLimit: fc.integer({ min: -1, max: 300 }) });
    fc.assert(
      fc.property(fc.oneof(mutated, random), (d) => {
        const parsed = parseDatagram(d, { passwordFor: () => new Uint8Array(8) });
        if (!parsed.ok) expect(MALFORMED_REASONS).toContain(parsed.reason);
        else {
          expect(parsed.advert.vrid).toBeGreaterThanOrEqual(1);
          expect(parsed.advert.intervalMs).toBeGreaterThan(0);
        }
      }),
      { seed: 53, numRuns: 2000 },
    );
  });
});
