import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CODES } from '../../src/lint/finding.js';
import { lintFiles } from '../../src/lint/lint.js';
import { BAD, FIXTURES, GOOD, confs, crossPairs, expected, singleBad } from './corpus-fixtures.js';

const run = promisify(execFile);

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
      [...singleBad.map((f) => join(BAD, f)), ...readdirSync(join(BAD, 'cross')).map((f) => join(BAD, 'cross', f)), join(BAD, 'conditional', 'keepalived.conf'), join(FIXTURES, 'versions', 'corpus.conf')].flatMap((f) =>
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

// What the real keepalived says of the corpus: corpus.lab.test.ts.

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
