import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DumpError, parseDump, parseVip } from '../../src/keepalived/dump.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/keepalived/${name}`, import.meta.url), 'utf8');

describe('parseDump', () => {
  it("reads a real keepalived 2.2 dump (array shape) and keeps no password", () => {
    const text = fixture('dump-lb1.json');
    expect(text).toContain('"auth_data"');
    const instances = parseDump(text);
    expect(instances.map((i) => [i.name, i.vrid, i.state, i.basePriority])).toEqual([
      ['VI_1', 51, 'MASTER', 100],
      ['VI_2', 55, 'BACKUP', 80],
    ]);
    const vi1 = instances[0]!;
    expect(vi1.vips).toEqual([
      { address: '198.18.9.50', prefix: 24, dev: 'kwfx-a0' },
      { address: '198.18.9.51', prefix: 24, dev: 'kwfx-a0' },
    ]);
    expect(vi1.stats?.advert_sent).toBeGreaterThan(0);
    expect(vi1.lastTransition).toBeGreaterThan(1_600_000_000);
    const secrets = /fixture1|fixture2|auth_data/;
    expect(JSON.stringify(instances)).not.toMatch(secrets);
  });

  it('accepts the json_version 2 shape {"vrrp": [...]}', () => {
    const array = JSON.parse(fixture('dump-lb2.json')) as unknown[];
    expect(parseDump(JSON.stringify({ vrrp: array }))).toEqual(parseDump(JSON.stringify(array)));
  });

  it.each([
    ['[{"data":{"iname":"VI_1"', 'not valid JSON'],
    ['{"instances":[]}', 'expected an array'],
    ['[{"data":{"iname":"VI_1","vrid":300,"state":2}}]', 'entry 0 (data.vrid)'],
    ['[{"data":{"iname":"VI_1","vrid":5,"state":7}}]', 'unknown VRRP state code'],
    ['[{"data":{"iname":"VI_1","vrid":5,"state":2},"stats":{"advert_rcvd":-1}}]', 'entry 0 (stats'],
  ])('rejects %s with its position', (text, why) => {
    expect(() => parseDump(text, 'x.json')).toThrow(DumpError);
    expect(() => parseDump(text, 'x.json')).toThrow(why);
  });

  it('normalises VIP spellings so they compare with netlink addresses', () => {
    expect(parseVip('FD00:0:0::50/64 dev eth0 scope global')).toEqual({ address: 'fd00::50', prefix: 64, dev: 'eth0' });
    expect(parseVip('10.0.0.1')).toEqual({ address: '10.0.0.1', prefix: undefined, dev: undefined });
    expect(parseVip('not-an-ip/24')).toBeUndefined();
  });
});

describe('parseDump bounds what enters', () => {
  const entry = (data: Record<string, unknown>, stats?: Record<string, unknown>) => JSON.stringify([{ data: { iname: 'VI_1', vrid: 5, state: 2, ...data }, ...(stats ? { stats } : {}) }]);

  it('a last_transition outside 2000..2100 is unknown, so no date formatter downstream can throw', () => {
    for (const t of [1e20, -5, 1e300, 0]) {
      const [instance] = parseDump(entry({ last_transition: t }));
      expect(instance?.lastTransition).toBeUndefined();
    }
    expect(parseDump(entry({ last_transition: 1795314068.69 }))[0]?.lastTransition).toBe(1795314068.69);
  });

  it.each([
    [{ iname: 'VI\u0000x' }, 'data.iname', 'control characters'],
    [{ iname: 'x'.repeat(1010) }, 'data.iname', "longer than keepalived's 1009"],
    [{ ifp_ifname: 'an-interface-name-too-long' }, 'data.ifp_ifname', "longer than the kernel's 15"],
    [{ ifp_ifname: 'eth0:1' }, 'data.ifp_ifname', "'/', ':'"],
    [{ adver_int: 1e9 }, 'data.adver_int', '<=255'],
    [{ auth_type: 77 }, 'data.auth_type', '<=2'],
    [{ base_priority: 256 }, 'data.base_priority', '<=255'],
    [{ vrid: 0 }, 'data.vrid', '>=1'],
    [{ garp_delay: 1e12 }, 'data.garp_delay', '<=4294967'],
  ])('rejects %j at its position', (data, where, why) => {
    expect(() => parseDump(entry(data), 'x.json')).toThrow(`entry 0 (${where})`);
    expect(() => parseDump(entry(data), 'x.json')).toThrow(why);
  });

  it('counters are non-negative safe integers', () => {
    expect(() => parseDump(entry({}, { advert_rcvd: 2 ** 60 }))).toThrow('entry 0 (stats.advert_rcvd)');
  });

  it('a VIP with a zone id, an impossible prefix or a bad dev is left out', () => {
    expect(parseVip('fe80::1%eth0/64 dev eth0')).toBeUndefined();
    expect(parseVip('10.0.0.1/33')).toBeUndefined();
    expect(parseVip('10.0.0.1/24 dev a/b')).toBeUndefined();
  });

  it('prototype keys in the dump are plain data', () => {
    const text = '[{"__proto__":{"polluted":1},"data":{"iname":"constructor","vrid":5,"state":2,"__proto__":{"x":1}}}]';
    const [instance] = parseDump(text);
    expect(instance?.name).toBe('constructor');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
