import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CODES } from '../../src/lint/finding.js';
import { lintFiles } from '../../src/lint/lint.js';
import { describeWithPrereqs } from '../support/prereq.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/keepalived-conf/', import.meta.url));
const BAD = join(FIXTURES, 'bad');
const run = promisify(execFile);

/** `! expect: code@line …` on a fixture's first line. */
function expected(file: string): string[] {
  const first = readFileSync(file, 'utf8').split('\n')[0] ?? '';
  const m = /^! expect:(.*)$/.exec(first);
  return m ? (m[1] as string).trim().split(/\s+/).filter(Boolean) : [];
}

function confs(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /(\.conf$|keepalived\.conf\.)/.test(f) && !f.includes('conf.d'))
    .map((f) => join(dir, f))
    .sort();
}

const GOOD = confs(join(FIXTURES, 'good'));
const singleBad = readdirSync(BAD).filter((f) => f.endsWith('.conf'));
const crossPairs = [...new Set(readdirSync(join(BAD, 'cross')).map((f) => f.replace(/-lb\d\.conf$/, '')))];

describe('bad corpus: one file per single-file finding class', () => {
  it.each(singleBad)('%s has exactly its expected findings', async (name) => {
    const file = join(BAD, name);
    const result = await lintFiles([file]);
    expect(result.findings.map((f) => `${f.code}@${f.line}`).sort()).toEqual(expected(file).sort());
  });
});

describe('bad corpus: one pair of directors per cross-director finding class', () => {
  it.each(crossPairs)('%s', async (pair) => {
    const files = [1, 2].map((n) => join(BAD, 'cross', `${pair}-lb${n}.conf`));
    const result = await lintFiles(files);
    for (const file of files) {
      const got = result.findings.filter((f) => f.file === file).map((f) => `${f.code}@${f.line}`);
      expect(got.sort()).toEqual(expected(file).sort());
    }
    const spanning = result.findings.filter((f) => f.code.startsWith('cross-') && f.code !== 'cross-instance-missing');
    for (const f of spanning) expect(f.related?.length).toBeGreaterThan(0);
  });

  it('one file with @lb1/@lb2 lines, read as both directors (--config-id lb1,lb2)', async () => {
    const file = join(BAD, 'conditional', 'keepalived.conf');
    const result = await lintFiles([file], { configIds: ['lb1', 'lb2'] });
    expect(result.findings.map((f) => `${f.code}@${f.line}`).sort()).toEqual(expected(file).sort());
    expect(result.findings.find((f) => f.code === 'cross-master-count')?.related).toEqual([{ file, line: 4 }]);
    expect(result.masterMap).toEqual([
      { instance: 'VI_1', vrid: 51, directors: [{ director: `${file}@lb1`, state: 'MASTER', priority: 100 }, { director: `${file}@lb2`, state: 'MASTER', priority: 100 }] },
    ]);
    expect((await lintFiles([file])).findings).toEqual([]);
  });

  it('covers every finding code in the bad corpus', () => {
    const covered = new Set(
      [...singleBad.map((f) => join(BAD, f)), ...readdirSync(join(BAD, 'cross')).map((f) => join(BAD, 'cross', f)), join(BAD, 'conditional', 'keepalived.conf')].flatMap((f) =>
        expected(f).map((e) => e.split('@')[0]),
      ),
    );
    expect([...Object.keys(CODES)].filter((c) => !covered.has(c))).toEqual([]);
  });
});

describe('good corpus', () => {
  it('has the samples, a director pair and an include tree', () => {
    expect(GOOD.length).toBeGreaterThanOrEqual(19);
  });

  it.each(GOOD)('%s has no error-level finding', async (file) => {
    const result = await lintFiles([file]);
    expect(result.findings.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('the shipped examples (examples/keepalived/) have no finding at all', async () => {
    const dir = fileURLToPath(new URL('../../examples/keepalived/', import.meta.url));
    const result = await lintFiles(confs(dir), { cross: false });
    expect(result.directors).toBeGreaterThan(0);
    expect(result.findings).toEqual([]);
  });

  it('the two directors of the pair cross-check clean, with one MASTER per instance', async () => {
    const result = await lintFiles([1, 2].map((n) => join(FIXTURES, 'good', 'pair', `lb${n}.conf`)));
    expect(result.findings).toEqual([]);
    expect(result.masterMap.map((r) => `${r.instance}→${r.master?.slice(-8)}`).sort()).toEqual(['VI_DB→lb2.conf', 'VI_WEB→lb1.conf']);
  });

  it('the one-file pair of the include tree cross-checks clean as lb1 and lb2', async () => {
    const result = await lintFiles([join(FIXTURES, 'good', 'includes', 'keepalived.conf')], { configIds: ['lb1', 'lb2'] });
    expect(result.findings).toEqual([]);
    expect(result.masterMap.map((r) => `${r.instance}→${r.master?.split('@').pop()}`)).toEqual(['VI_1→lb1']);
  });
});

describeWithPrereqs('good corpus as keepalived 2.2.7 itself reads it', { root: true, commands: ['keepalived', 'unshare', 'ip'] }, () => {
  // keepalived -t exits 0 only when it has nothing at all to say; it wants the named interfaces,
  // so it runs in a private network namespace holding eth0 and eth1.
  it.each(GOOD)('keepalived -t accepts %s', async (file) => {
    const check = await run('unshare', ['-n', 'sh', '-c', 'ip link add eth0 type veth peer name eth1 && exec keepalived -t -i lb1 -f "$1"', 'sh', file]).then(
      (r) => ({ code: 0, output: `${r.stdout}${r.stderr}` }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, output: `${err.stdout}${err.stderr}` }),
    );
    expect(check).toEqual({ code: 0, output: '' });
  });
});

describeWithPrereqs('bad corpus and seeds against keepalived 2.2.7’s own complaints', { root: true, commands: ['keepalived', 'unshare', 'ip'] }, () => {
  /** The lines keepalived -t complains about, leaving out this host's missing interfaces. */
  async function keepalivedLines(file: string): Promise<number[]> {
    const out = await run('unshare', ['-n', 'sh', '-c', 'ip link add eth0 type veth peer name eth1; keepalived -t -f "$1" 2>&1; true', 'sh', file]);
    const lines = out.stdout
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

const SEEDS = fileURLToPath(new URL('../fixtures/seeds/', import.meta.url));

describe('seed fixtures', () => {
  it('are what scripts/extract-seed-configs.mjs extracts from the seeds today', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kawatch-seeds-'));
    try {
      await run('node', [fileURLToPath(new URL('../../scripts/extract-seed-configs.mjs', import.meta.url)), SEEDS, out]);
      const stored = readdirSync(join(FIXTURES, 'seeds')).sort();
      expect(readdirSync(out).sort()).toEqual(stored);
      for (const name of stored) expect(readFileSync(join(out, name), 'utf8'), name).toBe(readFileSync(join(FIXTURES, 'seeds', name), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('seed configs (the operators’ own files, typos kept)', () => {
  const seed = (name: string) => join(FIXTURES, 'seeds', name);
  const codesAt = async (files: string[]) => (await lintFiles(files)).findings.map((f) => `${f.code}@${f.file.split('/').pop()}:${f.line}`);

  it('finds the OCR-garbled keywords and values of the virtual_server template, with the keyword meant', async () => {
    const result = await lintFiles([seed('virtual-server-template.conf')]);
    const fixes = Object.fromEntries(result.findings.map((f) => [`${f.code}@${f.line}`, f.fix]));
    expect(fixes['unknown-keyword@4']).toBe('did you mean lb_algo?');
    expect(fixes['unknown-keyword@5']).toBe('did you mean lb_kind?');
    expect(result.findings.find((f) => f.line === 7)?.message).toMatch(/unknown protocol 'TCP\|USIP\|SCTP'/);
  });

  it('flags nb_get_retry in TCP_CHECK, nopreempt with MASTER and the misspelt lvs_sync_daemon_interface', async () => {
    const got = await codesAt([seed('lvs-dr-master.conf')]);
    expect(got).toEqual(expect.arrayContaining(['unknown-keyword@lvs-dr-master.conf:16', 'nopreempt-master@lvs-dr-master.conf:20', 'unknown-keyword@lvs-dr-master.conf:40']));
  });

  it('cross-checks the multi-master pair: equal priorities on VI_2, two MASTERs on VI_1', async () => {
    const got = await codesAt([seed('multi-master-lb1.conf'), seed('multi-master-lb2.conf')]);
    expect(got.sort()).toEqual(['cross-equal-priority@multi-master-lb1.conf:6', 'cross-master-count@multi-master-lb1.conf:22']);
  });

  it('reads the flattened page as keepalived would: `;` stays in the value, `//` is no comment', async () => {
    const web = await lintFiles([seed('web-db-lb.conf')]);
    expect(web.findings.find((f) => f.line === 15)?.fix).toMatch(/remove the ';'/);
    const annotated = await lintFiles([seed('annotated-master.conf')]);
    expect(annotated.findings.find((f) => f.line === 3)?.fix).toBe('start comments with # or !');
  });
});
