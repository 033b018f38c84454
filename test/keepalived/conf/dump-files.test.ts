import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dataDumpPath, dataDumpSetting } from '../../../src/keepalived/conf/dump-files.js';
import { parseText } from '../../../src/keepalived/conf/parse.js';

const settingOf = (text: string) => dataDumpSetting(parseText(text, 'keepalived.conf'));
const pathOf = (text: string, tmpDir = '/tmp') => {
  const setting = settingOf(text);
  return setting && dataDumpPath(setting, tmpDir);
};

describe('keepalived.data where state_dump_file puts it (2.3.3+, global_data.c open_dump_file())', () => {
  it('is where the real 2.3.4 and 2.4.3 wrote it in the captures', () => {
    for (const flavour of ['2.3.4-json', '2.4.3-json']) {
      const dir = new URL(`../../fixtures/keepalived/dumps/${flavour}/`, import.meta.url);
      const conf = readFileSync(new URL('keepalived.conf', dir), 'utf8');
      // The capture's keepalived.data came from dump-files/, its stats and JSON from TMPDIR: only state_dump_file moves a dump.
      expect(readFileSync(new URL('locations.txt', dir), 'utf8')).toContain('keepalived.data dump-files\n');
      expect(pathOf(conf, '/run/matrix/tmpdir')).toBe('/run/matrix/dump-files/keepalived.data');
    }
  });

  it.each([
    ['/var/run/ka/', '/var/run/ka/keepalived.data'],
    ['/var/run/ka/state.txt', '/var/run/ka/state.txt'],
    ['/state', '/state'],
    ['/var/run/ka/noext', '/var/run/ka/noext'],
    // Not absolute: the file name under the tmp directory, whatever the directories before it.
    ['state.data', '/run/tmp/state.data'],
    ['sub/state.data', '/run/tmp/state.data'],
    ['sub/', '/run/tmp/keepalived.data'],
  ])('state_dump_file %s: %s', (path, expected) => {
    expect(pathOf(`global_defs {\n  state_dump_file ${path}\n}\n`, '/run/tmp')).toBe(expected);
  });

  it('puts the namespace and instance before the extension under data_use_instance, as keepalived names them', () => {
    const conf = (extra: string) => `net_namespace blue\ninstance lb1\nglobal_defs {\n  state_dump_file /var/run/ka/\n  ${extra}\n}\n`;
    expect(pathOf(conf('data_use_instance'))).toBe('/var/run/ka/keepalived.blue_lb1.data');
    expect(pathOf(conf('data_use_instance yes'))).toBe('/var/run/ka/keepalived.blue_lb1.data');
    expect(pathOf(conf('data_use_instance no'))).toBe('/var/run/ka/keepalived.data');
    // keepalived refuses the value and keeps what it had.
    expect(pathOf(conf('data_use_instance maybe'))).toBe('/var/run/ka/keepalived.data');
    expect(pathOf(`instance lb1\nglobal_defs {\n  state_dump_file /x/s.d\n  data_use_instance\n}\n`)).toBe('/x/s.lb1.d');
    expect(pathOf(`global_defs {\n  state_dump_file /x/s.d\n  data_use_instance\n}\n`)).toBe('/x/s.d');
  });

  it('takes the last state_dump_file and the first net_namespace, as keepalived does, and none it refuses', () => {
    expect(pathOf('global_defs {\n  state_dump_file /a/\n  state_dump_file /b/\n}\n')).toBe('/b/keepalived.data');
    expect(settingOf('net_namespace one\nnet_namespace two\nglobal_defs {\n  state_dump_file /a/\n}\n')?.netNamespace).toBe('one');
    expect(settingOf('global_defs {\n  state_dump_file /a/ /b/\n}\n')).toBeUndefined();
    // The other two keywords move nothing (vrrp_print.c, vrrp_json.c still use the tmp directory).
    expect(settingOf('global_defs {\n  stats_dump_file /a/\n  json_dump_file /a/\n}\n')).toBeUndefined();
  });

  it('takes a path ending in . or .. for a directory', () => {
    expect(dataDumpPath({ path: '/.', useInstance: false }, '/run/tmp')).toBe('/keepalived.data');
    expect(dataDumpPath({ path: '/var/run/..', useInstance: false }, '/run/tmp')).toBe('/var/keepalived.data');
  });

  it('always gives an absolute, normalised path for any path keepalived accepts', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9._/-]{1,30}$/);
    fc.assert(
      fc.property(word, fc.boolean(), (path, useInstance) => {
        const out = dataDumpPath({ path, useInstance, instance: 'i', netNamespace: 'n' }, '/run/tmp');
        expect(out.startsWith('/')).toBe(true);
        expect(out).not.toMatch(/\/\/|\/$/);
      }),
    );
  });
});
