import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { parseDuration } from '../../src/config/schema.js';

describe('parseConfig', () => {
  it('fills every default from an empty file', () => {
    const c = parseConfig('', 'k.yml');
    expect(c.listen).toBe('0.0.0.0:9650');
    expect(c.sources.hook).toEqual({ enabled: true, spool_dir: '/var/spool/kawatch' });
    expect(c.sources.dump).toMatchObject({ enabled: true, trigger: 'signal', interval: 15_000, timeout: 2000, signal: 'auto' });
    expect(c.keepalived.pid_file).toBe('/run/keepalived.pid');
  });

  it('reads the documented example', () => {
    const text = readFileSync(new URL('../../examples/kawatch.yml', import.meta.url), 'utf8');
    const c = parseConfig(text, 'examples/kawatch.yml');
    expect(c.sources.fifo.enabled).toBe(true);
  });

  it('lets flags win over the file', () => {
    expect(parseConfig('listen: 127.0.0.1:1\n', 'k.yml', { listen: '[::1]:9999', procfs: '/fixtures/proc' })).toMatchObject({ listen: '[::1]:9999', procfs: '/fixtures/proc' });
  });

  it('reports every problem at once, each with file:line and what is expected', () => {
    const text = [
      'node_name: lb1', // 1
      'listen: 9650', // 2
      'sources:', // 3
      '  dump:', // 4
      '    interval: soon', // 5
      '    tigger: signal', // 6
      '  fifo:', // 7
      '    paths: [relative/fifo]', // 8
    ].join('\n');
    let error: ConfigError | undefined;
    try {
      parseConfig(text, '/etc/kawatch.yml');
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = error!.message.split('\n').sort();
    expect(lines).toEqual([
      expect.stringMatching(/^\/etc\/kawatch\.yml:2: listen: expected HOST:PORT/),
      expect.stringMatching(/^\/etc\/kawatch\.yml:5: sources\.dump\.interval: invalid duration "soon"/),
      expect.stringMatching(/^\/etc\/kawatch\.yml:6: sources\.dump: unknown key "tigger"/),
      expect.stringMatching(/^\/etc\/kawatch\.yml:8: sources\.fifo\.paths\.0: expected an absolute path/),
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(() => parseConfig('a: 1\nb: [unclosed\n', 'k.yml')).toThrow(/^k\.yml:\d+: YAML: /);
    expect(() => parseConfig('listen: a\nlisten: b\n', 'k.yml')).toThrow(/k\.yml:2: YAML: .*unique/i);
  });

  it('reports alias and anchor problems as config problems, with their line', () => {
    const problem = (text: string) => {
      try {
        parseConfig(text, 'k.yml');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('no problem reported');
    };
    expect(problem('node_name: lb1\nlisten: *nowhere\n')).toBe('k.yml:2: YAML: alias *nowhere names no anchor before it: expected &nowhere on an earlier value');
    // "Billion laughs": ten aliases of ten aliases of ... ten values.
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((n, i) => `${n}: &${n} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)].join('\n');
    expect(problem(`${laughs}\n`)).toMatch(/^k\.yml:2: YAML: the aliases would expand to too many values \(more than 100 alias expansions\): expected the values written out/);
    expect(problem('watchdog: &w\n  stop_command: *w\n')).toBe('k.yml:2: watchdog.stop_command: Invalid input: expected array, received object');
    expect(problem('!!set { a, b }\n')).toBe('k.yml:1: expected a mapping of keys (see examples/kawatch.yml)');
    expect(problem('__proto__: { listen: nowhere }\n')).toMatch(/^k\.yml:1: \(top level\): unknown key "__proto__"/);
  });

  it('checks cron expressions itself, so a range node-cron would expand to billions is a problem, not the end', () => {
    expect(() => parseConfig('jobs:\n  audit: "*4294967296/30 * * * *"\n', 'k.yml')).toThrow(
      'k.yml:2: jobs.audit: not a valid cron expression: minute "*4294967296/30" is not a cron field: expected *, N or N-M, each with an optional /STEP, or a list of them (N in 0-59)',
    );
    expect(() => parseConfig('jobs: { digest: 8 }\n', 'k.yml')).toThrow('k.yml:1: jobs.digest: expected a cron expression as a string (node-cron syntax, e.g. "0 8 * * *"), or false to switch the job off');
    expect(parseConfig('jobs: { digest: "0 8 * * mon-fri", audit: "@hourly" }\n', 'k.yml').jobs).toEqual({ digest: '0 8 * * mon-fri', audit: '@hourly', drill: false });
  });

  it('answers any YAML text with a configuration or its problems, never another exception', () => {
    const key = fc.constantFrom('node_name', 'listen', 'jobs', 'audit', 'digest', 'watchdog', 'stop_command', 'peers', 'members', 'name', 'mail', 'to', 'sources', 'fifo', 'paths', '__proto__', 'constructor', '<<');
    const anchor = fc.constantFrom('a', 'b', 'c');
    const scalar = fc.oneof(fc.constantFrom('x', '1', '1e20', '-1', '.nan', '.inf', '~', 'true', '"*4294967296/30 * * * *"', "'0 8 * * *'", '"127.0.0.1:1"', '/abs'), anchor.map((a) => `*${a}`));
    const tag = fc.constantFrom('', '!!set ', '!!omap ', '!!binary ', '!!timestamp ', '!!int ', '!!str ', '!!map ', '!!seq ', '!foo ');
    const yamlValue: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        scalar,
        fc.tuple(tag, fc.option(anchor.map((a) => `&${a} `), { nil: '' }), fc.array(tie('value'), { maxLength: 4 })).map(([t, a, items]) => `${t}${a}[${items.join(', ')}]`),
        fc.tuple(tag, fc.option(anchor.map((a) => `&${a} `), { nil: '' }), fc.array(fc.tuple(key, tie('value')), { maxLength: 4 })).map(([t, a, pairs]) => `${t}${a}{${pairs.map(([k, v]) => `${k}: ${v}`).join(', ')}}`),
      ),
    })).value;
    const structured = fc.array(fc.tuple(key, yamlValue), { maxLength: 6 }).map((pairs) => pairs.map(([k, v]) => `${k}: ${v}`).join('\n'));
    const noise = fc.string({ unit: fc.constantFrom(...'ab1:-&*!%@[]{},#|>\'" \n\t?'.split('')), maxLength: 80 });
    fc.assert(
      fc.property(fc.oneof(structured, noise, fc.string({ unit: 'binary', maxLength: 80 })), (text) => {
        try {
          parseConfig(text, 'k.yml');
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          for (const p of (err as ConfigError).problems) expect(p.line).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('parses durations', () => {
    expect([parseDuration('500ms'), parseDuration('2s'), parseDuration('1.5m'), parseDuration(3), parseDuration('2 days')]).toEqual([500, 2000, 90_000, 3000, undefined]);
  });
});
