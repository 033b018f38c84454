import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFifoLine } from '../../src/keepalived/fifo-line.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/keepalived/${name}`, import.meta.url), 'utf8');

describe('parseFifoLine', () => {
  it('parses every line a real keepalived wrote to its vrrp_notify_fifo', () => {
    const lines = [...fixture('fifo-lb1.txt').split('\n'), ...fixture('fifo-lb2.txt').split('\n')].filter(Boolean);
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(parseFifoLine(line), line).toMatchObject({ ok: true });
    expect(parseFifoLine('GROUP "G_WEB" MASTER 0')).toEqual({ ok: true, value: { kind: 'state', scope: 'group', name: 'G_WEB', state: 'MASTER', priority: 0 } });
  });

  it('parses instance lines and MASTER_RX_LOWER_PRI', () => {
    expect(parseFifoLine('INSTANCE "VI_1" MASTER 100')).toEqual({ ok: true, value: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'MASTER', priority: 100 } });
    expect(parseFifoLine('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100')).toEqual({ ok: true, value: { kind: 'master-rx-lower-priority', name: 'VI_1', priority: 100 } });
  });

  it('parses the priority-change lines of vrrp_notify_priority_changes, and refuses one without its priority', () => {
    expect(parseFifoLine('INSTANCE "VI_2" BACKUP_PRIORITY 70')).toEqual({ ok: true, value: { kind: 'priority', name: 'VI_2', state: 'BACKUP', priority: 70 } });
    expect(parseFifoLine('INSTANCE "VI_2" MASTER_PRIORITY 255')).toEqual({ ok: true, value: { kind: 'priority', name: 'VI_2', state: 'MASTER', priority: 255 } });
    expect(parseFifoLine('INSTANCE "VI_2" MASTER_PRIORITY')).toEqual({ ok: false, error: 'MASTER_PRIORITY of instance VI_2 without the priority it changed to' });
    expect(parseFifoLine('INSTANCE "VI_2" BACKUP_PRIORITY 256')).toMatchObject({ ok: false, error: expect.stringMatching(/priority "256" is not an integer 0..255/) });
    // Sync groups have no priority of their own: keepalived writes no such line for them.
    expect(parseFifoLine('GROUP "G" BACKUP_PRIORITY 70')).toMatchObject({ ok: false, error: expect.stringMatching(/unknown state "BACKUP_PRIORITY"/) });
  });

  // Real FIFO captures of every keepalived of the matrix that has a FIFO (scripts/capture-keepalived-dumps.sh).
  const dumpsDir = new URL('../fixtures/keepalived/dumps/', import.meta.url);
  const withFifo = readdirSync(dumpsDir).filter((flavour) => existsSync(new URL(`${flavour}/fifo.txt`, dumpsDir)));
  it.each(withFifo)('parses every line %s wrote to its FIFO, priority changes included', (flavour) => {
    const lines = readFileSync(new URL(`${flavour}/fifo.txt`, dumpsDir), 'utf8').split('\n').filter(Boolean);
    const parsed = lines.map((line) => parseFifoLine(line));
    expect(parsed.filter((p) => !p.ok)).toEqual([]);
    // VI_2's tracked script and file move its priority: 70, then 75 once the script succeeds.
    const priorities = parsed.flatMap((p) => (p.ok && p.value.kind === 'priority' ? [[p.value.name, p.value.priority]] : []));
    expect(priorities).toEqual([
      ['VI_2', 70],
      ['VI_2', 75],
    ]);
  });

  it("parses the checker's VS and RS lines in keepalived's formats (address, FWM, group)", () => {
    expect(parseFifoLine('RS [192.168.1.101]:tcp:80 [192.168.1.100]:tcp:80 DOWN')).toEqual({
      ok: true,
      value: { kind: 'checker', realServer: '[192.168.1.101]:tcp:80', virtualServer: '[192.168.1.100]:tcp:80', up: false },
    });
    expect(parseFifoLine('RS [fd00::11]:udp:53 FWM 7 UP')).toEqual({
      ok: true,
      value: { kind: 'checker', realServer: '[fd00::11]:udp:53', virtualServer: 'FWM 7', up: true },
    });
    expect(parseFifoLine('VS [web_group]:80 DOWN')).toEqual({ ok: true, value: { kind: 'checker', virtualServer: '[web_group]:80', up: false } });
    expect(parseFifoLine('VS [192.168.1.100]:sctp:3868 UP')).toMatchObject({ ok: true, value: { virtualServer: '[192.168.1.100]:sctp:3868' } });
  });

  it.each([
    ['garbage', 'unrecognised line'],
    ['INSTANCE VI_1 MASTER 100', 'unrecognised line'],
    ['INSTANCE "VI_1" SLAVE 100', 'unknown state'],
    ['INSTANCE "VI_1" MASTER 1000', 'priority'],
    ['INSTANCE "VI 1" MASTER 100', 'whitespace'],
    ['RS [10.0.0.1]:tcp:80 [10.0.0.2]:tcp:80 MAYBE', 'unrecognised line'],
    ['X'.repeat(5000), 'longer than'],
  ])('rejects %j', (line, why) => {
    const parsed = parseFifoLine(line);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(why);
  });
});

describe('parseFifoLine on addresses keepalived never prints', () => {
  it.each([
    ['RS [fe80::1%eth0]:tcp:80 [198.18.9.50]:tcp:80 UP', 'real server address "fe80::1%eth0" carries a zone id'],
    ['RS [198.18.9.101]:tcp:80 [fe80::50%2]:tcp:80 DOWN', 'virtual server address "fe80::50%2" carries a zone id'],
    ['VS [fe80::50%eth0]:tcp:80 UP', 'carries a zone id'],
    ['RS [not-an-address]:tcp:80 [198.18.9.50]:tcp:80 UP', 'is not an IPv4 or IPv6 address'],
    ['RS [198.18.9.101]:tcp:99999 [198.18.9.50]:tcp:80 UP', 'port 99999 is larger than 65535'],
    ['VS FWM 9999999999 UP', 'larger than 32 bits'],
    ['VS [bad\u0007group]:80 UP', 'control characters'],
  ])('rejects %j with its reason', (line, why) => {
    const parsed = parseFifoLine(line);
    expect(parsed).toMatchObject({ ok: false });
    if (!parsed.ok) expect(parsed.error).toContain(why);
  });
});
