import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseVersion } from '../../src/keepalived/capabilities.js';
import { VERSION_KEYWORDS } from '../../src/keepalived/conf/version-keywords.generated.js';
import { lintFiles } from '../../src/lint/lint.js';
import { releaseAccepts, versionTable } from '../../src/lint/version.js';
import { describeWithPrereqs } from '../support/prereq.js';

const root = new URL('../../', import.meta.url).pathname;
const corpus = join(root, 'test/fixtures/keepalived-conf/versions/corpus.conf');
const lineOf = (text: string) => readFileSync(corpus, 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;

async function lintFor(version: string, file = corpus) {
  return (await lintFiles([file], { keepalivedVersion: parseVersion(version)! })).findings;
}
const at = (findings: { line: number; code: string }[], text: string) => findings.filter((f) => f.line === lineOf(text)).map((f) => f.code);

describe('the release a version is linted against', () => {
  it.each([
    ['2.2.7', '2.2.8'],
    ['2.0.20', '2.0.19'],
    ['1.3.9', '1.3.5'],
    ['1.2.24', '1.3.5'],
    ['2.5.0', '2.4.3'],
    ['2.4.3', '2.4.3'],
  ])('%s: the table of %s', (version, release) => {
    expect(versionTable(parseVersion(version)!).release).toBe(release);
  });

  it('track_file is a top-level block from 2.1, vrrp_track_file from 2.0, neither in 1.3.5', () => {
    const roots = (r: string) => ['track_file', 'vrrp_track_file'].filter((k) => releaseAccepts(VERSION_KEYWORDS[r]!, '', k));
    expect(Object.keys(VERSION_KEYWORDS).map((r) => [r, roots(r)])).toEqual([
      ['1.3.5', []],
      ['2.0.19', ['vrrp_track_file']],
      ['2.1.5', ['track_file', 'vrrp_track_file']],
      ['2.2.8', ['track_file', 'vrrp_track_file']],
      ['2.3.4', ['track_file', 'vrrp_track_file']],
      ['2.4.3', ['track_file', 'vrrp_track_file']],
    ]);
  });
});

describe('kawatch lint --keepalived-version', () => {
  it('2.0.19: track_file at the top level is an error saying to write vrrp_track_file, which is not deprecated there', async () => {
    const findings = await lintFor('2.0.19');
    const trackFile = findings.find((f) => f.line === lineOf('track_file tf_a'))!;
    expect([trackFile.code, trackFile.severity]).toEqual(['version-keyword', 'error']);
    expect(trackFile.fix).toContain('write vrrp_track_file');
    expect(at(findings, 'vrrp_track_file tf_b')).toEqual([]);
    // Newer keywords, with the first release that reads them.
    expect(findings.find((f) => f.line === lineOf('vrrp_owner_ignore_adverts'))!.fix).toContain('2.3.4 is the first');
    expect(at(findings, 'state_dump_file')).toEqual(['version-keyword']);
    expect(at(findings, 'vrrp_notify_priority_changes')).toEqual([]);
  });

  it('2.2.8: the ranges of its sources (persistence_timeout and vrrp_garp_interval 0 refused), vrrp_track_file deprecated', async () => {
    const findings = await lintFor('2.2.8');
    expect(at(findings, 'persistence_timeout 0')).toEqual(['version-range']);
    expect(findings.find((f) => f.line === lineOf('persistence_timeout 0'))!.message).toContain('accepts 1 to 2678400');
    expect(at(findings, 'vrrp_garp_interval 0')).toEqual(['version-range']);
    expect(at(findings, 'vrrp_track_file tf_b')).toEqual(['deprecated-keyword']);
    expect(at(findings, 'track_file tf_a')).toEqual([]);
    expect(at(findings, 'vrrp_owner_ignore_adverts')).toEqual(['version-keyword']);
  });

  it('2.4.3: its own keywords are not unknown', async () => {
    const findings = await lintFor('2.4.3');
    expect(at(findings, 'vrrp_owner_ignore_adverts')).toEqual([]);
    expect(at(findings, 'state_dump_file')).toEqual([]);
  });

  it('1.3.5: a notify command with arguments is disabled, with the wrapper to write instead; no file tracking, no FIFO', async () => {
    const findings = await lintFor('1.3.5');
    const notify = findings.find((f) => f.line === lineOf('notify "/usr/bin/kawatch notify"'))!;
    expect(notify.code).toBe('version-notify-arguments');
    expect(notify.fix).toContain('exec /usr/bin/kawatch notify "$@"');
    expect(findings.find((f) => f.line === lineOf('track_file tf_a'))!.fix).toContain('no file tracking');
    expect(at(findings, 'vrrp_notify_priority_changes')).toEqual(['version-keyword']);
    expect(at(findings, 'notify_priority_changes')).toEqual(['version-keyword']);
    // 2.x runs the same line with its arguments.
    expect(at(await lintFor('2.0.19'), 'notify "/usr/bin/kawatch notify"')).toEqual([]);
  });

  it("the corpus's expect line holds for some release each", async () => {
    const found = new Set((await Promise.all(Object.keys(VERSION_KEYWORDS).map((r) => lintFor(r)))).flat().map((f) => `${f.code}@${f.line}`));
    const header = /^! expect:(.*)$/.exec(readFileSync(corpus, 'utf8').split('\n')[0]!)![1]!.trim().split(/\s+/);
    expect(header.filter((e) => !found.has(e))).toEqual([]);
  });

  it('without a version, only the 2.2.7 tables: no version findings', async () => {
    const findings = (await lintFiles([corpus])).findings;
    expect(findings.filter((f) => f.code.startsWith('version-'))).toEqual([]);
  });
});

describeWithPrereqs('the generated table', { files: [join(root, '../shared/keepalived/keepalived-2.4.3.tar.gz')], commands: ['tar'] }, () => {
  it('is what scripts/extract-keepalived-version-keywords.mjs makes of the sources today', { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'kawatch-version-keywords-'));
    try {
      const out = join(dir, 'table.ts');
      execFileSync(process.execPath, [join(root, 'scripts/extract-keepalived-version-keywords.mjs'), join(root, '../shared/keepalived'), out], { stdio: 'pipe' });
      expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(root, 'src/keepalived/conf/version-keywords.generated.ts'), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
