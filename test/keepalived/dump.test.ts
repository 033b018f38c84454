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
