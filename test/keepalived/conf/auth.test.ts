import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { authMaterialByInstance } from '../../../src/keepalived/conf/auth.js';
import { parseKeepalivedConf } from '../../../src/keepalived/conf/parse.js';
import { parseDump } from '../../../src/keepalived/dump.js';
import { parseTextDump } from '../../../src/keepalived/text-dump.js';

// The matrix's real dumps: 2.3.4 prints the passwords, 2.4.3 masks them; both run the same keepalived.conf.
const dumps = (flavour: string, file: string) => fileURLToPath(new URL(`../../fixtures/keepalived/dumps/${flavour}/${file}`, import.meta.url));
const read = (flavour: string, file: string) => readFileSync(dumps(flavour, file), 'utf8');
const digest = (material: string) => `digest(${[...material].reverse().join('')})`;

describe('authentication compared from keepalived.conf where the dump masks the password', () => {
  it('gives 2.4.3 the digests 2.3.4 has from its dump, from the same keepalived.conf', async () => {
    const confAuth = authMaterialByInstance(await parseKeepalivedConf(dumps('2.4.3-json', 'keepalived.conf')));
    const unmasked = parseDump(read('2.3.4-json', 'keepalived.json'), 'keepalived.json', digest).map((i) => i.authDigest);
    expect(unmasked.every((d) => d !== undefined)).toBe(true);
    expect(parseDump(read('2.4.3-json', 'keepalived.json'), 'keepalived.json', digest, confAuth).map((i) => i.authDigest)).toEqual(unmasked);
    expect(parseTextDump(read('2.4.3-json', 'keepalived.data'), undefined, { digestAuth: digest, confAuth }).map((i) => i.authDigest)).toEqual(unmasked);
  });

  it('without keepalived.conf a masked password gives no digest, never the digest of the mask', () => {
    expect(parseDump(read('2.4.3-json', 'keepalived.json'), 'keepalived.json', digest).map((i) => i.authDigest)).toEqual([undefined, undefined]);
  });

  it('reads PASS and AH, keeps the first 8 characters as keepalived does, and no authentication as 0', async () => {
    const text = 'vrrp_instance A {\n authentication {\n  auth_type PASS\n  auth_pass 123456789\n }\n}\nvrrp_instance B {\n authentication {\n  auth_type AH\n  auth_pass x\n }\n}\nvrrp_instance C {\n}\n';
    const conf = await parseKeepalivedConf('/k.conf', { source: { read: async () => text, glob: async () => [] } });
    expect([...authMaterialByInstance(conf)]).toEqual([
      ['A', '1:12345678'],
      ['B', '2:x'],
      ['C', '0:'],
    ]);
  });
});
