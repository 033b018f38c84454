import { describe, expect, it } from 'vitest';
import { parseText } from '../../src/keepalived/conf/parse.js';
import { wireConfOf } from '../../src/vrrp/conf.js';
import type { Advert } from '../../src/vrrp/packet.js';
import { MAX_SPEAKERS_PER_VRID, SpeakerTable } from '../../src/vrrp/speakers.js';

const advert = (source: string, over: Partial<Advert> = {}): Advert => ({ version: 2, family: 4, source, destination: '224.0.0.18', vrid: 51, priority: 100, intervalMs: 1000, addresses: ['198.18.0.100'], ...over });

describe('the speakers of each VRID', () => {
  it('counts adverts, and a gap for each advert later than three intervals after the one before', () => {
    const table = new SpeakerTable(600_000);
    expect(table.record('pri0', advert('198.18.0.1'), 0)).toBe('new');
    expect(table.record('pri0', advert('198.18.0.1'), 1000)).toBe('known');
    expect(table.record('pri0', advert('198.18.0.1'), 4000)).toBe('known');
    expect(table.record('pri0', advert('198.18.0.1', { priority: 90 }), 7001)).toBe('known');
    expect(table.speakersOf('pri0', 51)).toEqual([{ address: '198.18.0.1', version: 2, priority: 90, intervalMs: 1000, firstAdvert: 0, lastAdvert: 7001, adverts: 4, gaps: 1, addresses: ['198.18.0.100'] }]);
  });

  it('keeps interfaces and VRIDs apart, most recently heard first', () => {
    const table = new SpeakerTable(600_000);
    table.record('pri0', advert('198.18.0.1'), 0);
    table.record('pri0', advert('198.18.0.2'), 10);
    table.record('pri1', advert('198.18.0.1'), 20);
    table.record('pri0', advert('198.18.0.1', { vrid: 52 }), 30);
    expect(table.speakersOf('pri0', 51).map((s) => s.address)).toEqual(['198.18.0.2', '198.18.0.1']);
    expect(table.vrids().map((v) => `${v.intf}/${v.vrid}:${v.speakers.length}`)).toEqual(['pri0/51:2', 'pri0/52:1', 'pri1/51:1']);
  });

  it('keeps at most MAX_SPEAKERS_PER_VRID per VRID: a newcomer replaces only a silent speaker, else it is counted as overflow', () => {
    const table = new SpeakerTable(600_000);
    for (let i = 0; i < MAX_SPEAKERS_PER_VRID; i++) table.record('pri0', advert(`10.0.0.${i + 1}`), i);
    expect(table.record('pri0', advert('10.0.1.1'), 100)).toBe('overflow');
    expect(table.vrids()[0]!.overflow).toBe(1);
    // 10.0.0.1 .. 10.0.0.16 are all silent past 3 s at 5000 except the one heard again.
    table.record('pri0', advert('10.0.0.16'), 4000);
    expect(table.record('pri0', advert('10.0.1.1'), 5000)).toBe('new');
    expect(table.speakersOf('pri0', 51)).toHaveLength(MAX_SPEAKERS_PER_VRID);
    expect(table.speakersOf('pri0', 51).map((s) => s.address)).not.toContain('10.0.0.1');
  });

  it('forgets a speaker silent for forget_after, and an interface it stopped listening on', () => {
    const table = new SpeakerTable(60_000);
    table.record('pri0', advert('198.18.0.9'), 0);
    table.record('pri1', advert('198.18.0.1'), 50_000);
    expect(table.expire(59_000)).toBe(false);
    expect(table.expire(60_001)).toBe(true);
    expect(table.vrids().map((v) => v.intf)).toEqual(['pri1']);
    table.dropInterface('pri1');
    expect(table.vrids()).toEqual([]);
  });
});

describe("what the observer takes from keepalived.conf", () => {
  it('every instance interface, and PASS passwords by interface and VRID (8 characters, as keepalived keeps)', () => {
    const conf = parseText(
      [
        'vrrp_instance A { interface eth0\n virtual_router_id 51\n authentication { auth_type PASS\n auth_pass secret-longer }\n }',
        'vrrp_instance B { interface eth1\n virtual_router_id 52\n authentication { auth_type AH\n auth_pass x }\n }',
        'vrrp_instance C { interface eth0\n virtual_router_id 53\n }',
        'vrrp_instance D { virtual_router_id 54\n }',
      ].join('\n'),
      'keepalived.conf',
    );
    const { interfaces, passwords } = wireConfOf(conf);
    expect(interfaces).toEqual(['eth0', 'eth1']);
    expect([...passwords.keys()]).toEqual(['eth0|51']);
    expect(new TextDecoder().decode(passwords.get('eth0|51'))).toBe('secret-l');
  });
});

describe('silent speakers', () => {
  it('a speaker is silent once its last advert is older than one and a half of its intervals', () => {
    const table = new SpeakerTable(600_000);
    table.record('pri0', advert('198.18.0.1'), 0);
    table.record('pri0', advert('198.18.0.2', { intervalMs: 100 }), 0);
    expect([...table.silent(151)]).toEqual(['pri0|51|198.18.0.2']);
    expect([...table.silent(1501)].sort()).toEqual(['pri0|51|198.18.0.1', 'pri0|51|198.18.0.2']);
  });
});
