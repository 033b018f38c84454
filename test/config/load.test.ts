import { readFileSync } from 'node:fs';
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

  it('parses durations', () => {
    expect([parseDuration('500ms'), parseDuration('2s'), parseDuration('1.5m'), parseDuration(3), parseDuration('2 days')]).toEqual([500, 2000, 90_000, 3000, undefined]);
  });
});
