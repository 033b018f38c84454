import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { detectCapabilities, formatVersion } from '../../src/keepalived/capabilities.js';
import type { ParsedConf, ConfNode } from '../../src/keepalived/conf/ast.js';
import { parseKeepalivedConf } from '../../src/keepalived/conf/parse.js';
import { lintFiles } from '../../src/lint/lint.js';
import { keepalivedConfigTest } from '../support/keepalived-check.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { BAD, FIXTURES } from './corpus-fixtures.js';

/**
 * Lint for a version against that version's own `keepalived -t` (the matrix builds of
 * scripts/keepalived-matrix.sh): every line it complains about has a finding when linting for it.
 * 1.3.5 has no -t (it came with 2.0): its table is checked by test/lint/version.test.ts alone.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const WITH_CONFIG_TEST = ['2.0.19-json', '2.1.5-nojson', '2.2.8-json', '2.3.4-json', '2.4.3-json'];
const binaryOf = (flavour: string) => {
  try {
    return execFileSync('bash', [join(root, 'scripts/keepalived-matrix.sh'), 'path', flavour], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return `<keepalived ${flavour}: run scripts/keepalived-matrix.sh build>`;
  }
};
const binaries = WITH_CONFIG_TEST.map(binaryOf);
const examples = readdirSync(join(root, 'examples/keepalived')).map((f) => join(root, 'examples/keepalived', f));
const corpus = [
  join(FIXTURES, 'versions', 'corpus.conf'),
  ...examples,
  ...readdirSync(BAD).filter((f) => f.endsWith('.conf')).map((f) => join(BAD, f)),
  ...readdirSync(join(FIXTURES, 'seeds')).map((f) => join(FIXTURES, 'seeds', f)),
];

/** The lines a finding on a block's opening line answers for: the block keepalived then reads as junk. */
function spans(conf: ParsedConf): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const last = (n: ConfNode): number => Math.max(n.line, ...(n.children ?? []).map(last));
  const visit = (n: ConfNode) => {
    // The closing brace is on the line after the last child, at the latest.
    out.set(`${n.file}:${n.line}`, Array.from({ length: last(n) - n.line + 2 }, (_, i) => n.line + i));
    for (const c of n.children ?? []) visit(c);
  };
  for (const n of conf.nodes) visit(n);
  return out;
}

describeWithPrereqs('lint for a version against its own keepalived -t', { root: true, commands: ['unshare', 'ip'], files: binaries }, () => {
  WITH_CONFIG_TEST.forEach((flavour, index) => {
    it(`${flavour}: every line keepalived -t complains about has a finding`, { timeout: 60_000 }, async () => {
      const binary = binaries[index]!;
      const { version } = await detectCapabilities(binary);
      const missed: string[] = [];
      for (const file of corpus) {
        const check = await keepalivedConfigTest(file, { binary });
        const complained = new Set(
          `${check.stdout}${check.stderr}`
            .split('\n')
            // This host's interfaces and files are not the configuration's: the track directory
            // is kawatch's to make (doctor checks it), not a line to fix.
            .filter((l) => !/interface \S+ for vrrp_instance \S+ doesn't exist|realpath\(\) error/.test(l))
            .flatMap((l) => [.../Line (\d+)\)/.exec(l)?.slice(1) ?? []].map(Number)),
        );
        const conf = await parseKeepalivedConf(file);
        const covered = new Set<number>();
        const blockOf = spans(conf);
        for (const f of (await lintFiles([file], { keepalivedVersion: version })).findings) {
          for (const line of blockOf.get(`${f.file}:${f.line}`) ?? [f.line]) covered.add(line);
        }
        for (const line of complained) if (!covered.has(line)) missed.push(`${file.slice(root.length)}:${line}`);
      }
      expect({ version: formatVersion(version), missed }).toEqual({ version: formatVersion(version), missed: [] });
    });
  });

  it.each(examples.map((f) => [f.slice(root.length), f]))('%s passes keepalived -t of 2.1 and later, and says what 2.0.19 lacks', { timeout: 60_000 }, async (_name, file) => {
    for (const [i, flavour] of WITH_CONFIG_TEST.entries()) {
      // The examples name the directors' own NIC.
      const check = await keepalivedConfigTest(file, { binary: binaries[i]!, interface: file.includes('multi-master') ? 'ens33' : 'eth0' });
      const output = `${check.stdout}${check.stderr}`.split('\n').filter((l) => l.trim() !== '');
      if (flavour.startsWith('2.0.')) {
        // 2.0 has only vrrp_track_file at the top level: the example's header says so, and lint too.
        expect(output.some((l) => /Unknown keyword 'track_file'/.test(l))).toBe(true);
        const { version } = await detectCapabilities(binaries[i]!);
        expect((await lintFiles([file], { keepalivedVersion: version })).findings.filter((f) => f.code === 'version-keyword').length).toBeGreaterThan(0);
      } else expect({ flavour, code: check.code, output }).toEqual({ flavour, code: 0, output: [] });
    }
  });
});
