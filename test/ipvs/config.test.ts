import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { BACKEND_LABELS } from '../../src/model/ipvs.js';

describe('ipvs configuration', () => {
  it('is on by default, through auto, with all six backend labels and no estimator rates per real server', () => {
    expect(parseConfig('', 'k.yml').ipvs).toEqual({ enabled: true, path: 'auto', backend_labels: [...BACKEND_LABELS], backend_rates: false });
  });

  it('takes the estimator rates per real server when asked, and says what it expects otherwise', () => {
    expect(parseConfig('ipvs: { backend_rates: true }\n', 'k.yml').ipvs.backend_rates).toBe(true);
    expect(() => parseConfig('ipvs:\n  backend_rates: yes\n', 'k.yml')).toThrow(/k\.yml:2: ipvs\.backend_rates: .*boolean/);
  });

  it('takes a subset of the backend labels', () => {
    expect(parseConfig('ipvs: { path: procfs, backend_labels: [remote_address, remote_port] }\n', 'k.yml').ipvs).toEqual({
      enabled: true,
      path: 'procfs',
      backend_labels: ['remote_address', 'remote_port'],
      backend_rates: false,
    });
  });

  it('refuses an unknown label, a label twice and an unknown path, with file:line and what is expected', () => {
    const text = ['ipvs:', '  path: genl', '  backend_labels:', '    - remote_addr', '    - proto'].join('\n');
    expect(() => parseConfig(text, 'k.yml')).toThrow(/k\.yml:2: ipvs\.path: .*"auto".*[\s\S]*k\.yml:4: ipvs\.backend_labels\.0: expected one of local_address, local_port, remote_address/);
    expect(() => parseConfig('ipvs: { backend_labels: [proto, proto] }\n', 'k.yml')).toThrow(/k\.yml:1: ipvs\.backend_labels: a label is listed twice/);
  });
});
