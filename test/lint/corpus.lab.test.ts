import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { lintFiles } from '../../src/lint/lint.js';
import { keepalivedConfigTest } from '../support/keepalived-check.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { BAD, FIXTURES, GOOD, singleBad } from './corpus-fixtures.js';

describeWithPrereqs('good corpus as keepalived 2.2.7 itself reads it', { root: true, commands: ['keepalived', 'unshare', 'ip'] }, () => {
  // keepalived -t exits 0 only when it has nothing at all to say; it wants the named interfaces,
  // so it runs in a private network namespace holding eth0 and eth1.
  it.each(GOOD)('keepalived -t accepts %s', async (file) => {
    const check = await keepalivedConfigTest(file, { configId: 'lb1' });
    expect({ code: check.code, output: `${check.stdout}${check.stderr}` }).toEqual({ code: 0, output: '' });
  });
});

describeWithPrereqs('bad corpus and seeds against keepalived 2.2.7’s own complaints', { root: true, commands: ['keepalived', 'unshare', 'ip'] }, () => {
  /** The lines keepalived -t complains about, leaving out this host's missing interfaces. */
  async function keepalivedLines(file: string): Promise<number[]> {
    const out = await keepalivedConfigTest(file);
    const lines = `${out.stdout}${out.stderr}`
      .split('\n')
      .filter((l) => !/interface \S+ for vrrp_instance \S+ doesn't exist/.test(l))
      .flatMap((l) => [.../Line (\d+)\)/.exec(l)?.slice(1) ?? []].map(Number));
    return [...new Set(lines)].sort((a, b) => a - b);
  }
  const seeds = readdirSync(join(FIXTURES, 'seeds')).map((f) => join(FIXTURES, 'seeds', f));
  const KEEPALIVED_REPORTS = new Set(['unknown-keyword', 'invalid-value', 'deprecated-keyword', 'auth-pass-truncated']);

  it.each([...singleBad.map((f) => join(BAD, f)), ...seeds])('every line keepalived complains about in %s has a finding', async (file) => {
    const found = new Set((await lintFiles([file])).findings.map((f) => f.line));
    expect((await keepalivedLines(file)).filter((line) => !found.has(line))).toEqual([]);
  });

  it.each(singleBad)('%s: keepalived complains at every line of a finding of the kinds it reports itself', async (name) => {
    const file = join(BAD, name);
    const lines = new Set(await keepalivedLines(file));
    const ours = (await lintFiles([file])).findings.filter((f) => KEEPALIVED_REPORTS.has(f.code)).map((f) => f.line);
    expect(ours.filter((line) => !lines.has(line))).toEqual([]);
  });
});
