import { describe, expect, it } from 'vitest';
import { parseSpoolRecord, SPOOL_MAGIC } from '../../src/keepalived/spool.js';

const record = (at: string, ...args: string[]) => Buffer.from([SPOOL_MAGIC, at, ...args, ''].join('\0'));

describe('parseSpoolRecord', () => {
  it('reads the time and the arguments byte for byte', () => {
    expect(parseSpoolRecord(record('1795314068690', 'INSTANCE', 'VI 1"', 'MASTER', '100'))).toEqual({ at: 1795314068690, args: ['INSTANCE', 'VI 1"', 'MASTER', '100'] });
  });

  it.each([
    ['999999999999999', 'outside 2000-01-01T00:00:00.000Z..2100-01-01T00:00:00.000Z'],
    ['5', 'outside'],
  ])('refuses a time of %s ms, which no date formatter downstream could print sensibly', (at, why) => {
    expect(() => parseSpoolRecord(record(at, 'master'))).toThrow(why);
  });

  it('refuses what bin/kawatch does not write', () => {
    expect(() => parseSpoolRecord(Buffer.from('kawatch-spool-1\0x\0'))).toThrow(/not a kawatch spool record/);
    expect(() => parseSpoolRecord(Buffer.alloc(70 * 1024))).toThrow(/larger than/);
  });
});
