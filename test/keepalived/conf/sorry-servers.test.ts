import { mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseText } from '../../../src/keepalived/conf/parse.js';
import { SorryServerSource, sorryServersOf } from '../../../src/keepalived/conf/sorry-servers.js';
import { silentLog } from '../../support/log.js';

const CONF = `
virtual_server 192.0.2.10 80 {
    lb_algo rr
    lb_kind DR
    sorry_server 192.0.2.99 8080
    real_server 192.0.2.21 80 {
    }
}
virtual_server 2001:db8::10 443 {
    protocol TCP
    sorry_server 2001:db8::99 443
}
virtual_server fwmark 7 {
    sorry_server 192.0.2.98 0
}
virtual_server 192.0.2.11 53 {
    protocol UDP
    sorry_server 192.0.2.97 53
}
virtual_server 192.0.2.12 80 {
    real_server 192.0.2.22 80 {
    }
}
virtual_server group web {
    sorry_server 192.0.2.96 80
}
`;

describe('sorryServersOf', () => {
  it('takes the sorry_server of address and fwmark services with their protocol; skips groups and services without one', () => {
    expect(sorryServersOf(parseText(CONF, 'keepalived.conf'))).toEqual([
      { service: { protocol: 'TCP', address: '192.0.2.10', port: 80, fwmark: 0 }, address: '192.0.2.99', port: 8080 },
      { service: { protocol: 'TCP', address: '2001:db8::10', port: 443, fwmark: 0 }, address: '2001:db8::99', port: 443 },
      { service: { protocol: 'FWM', address: '', port: 0, fwmark: 7 }, address: '192.0.2.98', port: 0 },
      { service: { protocol: 'UDP', address: '192.0.2.11', port: 53, fwmark: 0 }, address: '192.0.2.97', port: 53 },
    ]);
  });
});

describe('SorryServerSource', () => {
  it('reads keepalived.conf again when it changes, and knows none while it is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kawatch-sorry-'));
    try {
      const file = join(dir, 'keepalived.conf');
      const source = new SorryServerSource(file, silentLog);
      expect(await source.current()).toEqual([]);
      writeFileSync(file, 'virtual_server 192.0.2.10 80 {\n    sorry_server 192.0.2.99 80\n}\n');
      expect((await source.current()).map((s) => s.address)).toEqual(['192.0.2.99']);
      writeFileSync(file, 'virtual_server 192.0.2.10 80 {\n    sorry_server 192.0.2.98 80\n}\n');
      // A rewrite within the same clock tick keeps its mtime: move it on, as time would.
      utimesSync(file, new Date(), new Date(Date.now() + 5000));
      expect((await source.current()).map((s) => s.address)).toEqual(['192.0.2.98']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
