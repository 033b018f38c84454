import { describe, expect, it } from 'vitest';
import { parseNotifyArgs } from '../../src/keepalived/notify-args.js';

describe('parseNotifyArgs', () => {
  it('reads the four words keepalived appends to a generic notify script', () => {
    expect(parseNotifyArgs(['INSTANCE', 'VI_1', 'MASTER', '100'])).toEqual({
      ok: true,
      value: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'MASTER', priority: 100 },
    });
    expect(parseNotifyArgs(['GROUP', 'G_WEB', 'BACKUP', '0'])).toEqual({
      ok: true,
      value: { kind: 'state', scope: 'group', name: 'G_WEB', state: 'BACKUP', priority: 0 },
    });
  });

  it('reads per-state hooks, with or without an instance name', () => {
    expect(parseNotifyArgs(['master'])).toEqual({ ok: true, value: { kind: 'state', scope: 'instance', name: undefined, state: 'MASTER' } });
    expect(parseNotifyArgs(['fault', 'VI_2'])).toEqual({ ok: true, value: { kind: 'state', scope: 'instance', name: 'VI_2', state: 'FAULT' } });
  });

  it('reads MASTER_RX_LOWER_PRI as its own report', () => {
    expect(parseNotifyArgs(['INSTANCE', 'VI_1', 'MASTER_RX_LOWER_PRI', '100'])).toEqual({
      ok: true,
      value: { kind: 'master-rx-lower-priority', name: 'VI_1', priority: 100 },
    });
  });

  it.each([
    [[], 'no arguments'],
    [['INSTANCE', 'VI_1'], 'takes NAME STATE'],
    [['INSTANCE', 'VI_1', 'MASTER', '100', 'extra'], 'takes NAME STATE'],
    [['INSTANCE', 'VI_1', 'PRIMARY', '100'], 'unknown state "PRIMARY"'],
    [['INSTANCE', 'VI_1', 'MASTER', '256'], 'priority "256" is not an integer 0..255'],
    [['INSTANCE', 'VI_1', 'MASTER', '-1'], 'priority "-1"'],
    [['INSTANCE', 'VI 1', 'MASTER', '100'], 'contains whitespace'],
    [['INSTANCE', 'VI_1\u001b[2J', 'MASTER', '100'], 'control characters'],
    [['INSTANCE', 'x'.repeat(1010), 'MASTER', '100'], "longer than keepalived's 1009"],
    [['master', 'VI_1', 'VI_2'], 'at most one instance name'],
    [['promote', 'VI_1'], 'unknown first argument "promote"'],
    [['$(reboot)'], 'unknown first argument'],
  ])('rejects %j with a clear error', (args, why) => {
    const parsed = parseNotifyArgs(args);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.error).toContain(why);
      expect(parsed.error).toContain('usage: kawatch notify');
    }
  });
});
