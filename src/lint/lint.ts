import type { ConfSource } from '../keepalived/conf/parse.js';
import { parseKeepalivedConf } from '../keepalived/conf/parse.js';
import { crossFindings, masterMap, type MasterMapRow } from './cross.js';
import { redactSecrets, type Finding } from './finding.js';
import { SEVERITY_RANK, type Severity } from '../core/severity.js';
import { directorOf, type Director } from './director.js';
import { fileFindings } from './rules.js';
import { secretsOf } from './secrets.js';
import type { KeepalivedVersion } from '../keepalived/capabilities.js';
import { releaseAccepts, versionFindings, versionTable, type VersionTable } from './version.js';

export interface LintOptions {
  /**
   * keepalived's config-ids for `@ID` lines. None keeps every line; one reads the files as that
   * director; several read each file once per id, as that many directors of one group.
   */
  configIds?: string[];
  /** Cross-check the directors as one group (default: when there are several). */
  cross?: boolean;
  source?: ConfSource;
  /** Lint for this keepalived: its keywords, ranges and notify form (without: 2.2.7's keywords only). */
  keepalivedVersion?: KeepalivedVersion;
}

export interface LintResult {
  findings: Finding[];
  /** Entry files that could not be read at all. */
  unreadable: { file: string; error: string }[];
  masterMap: MasterMapRow[];
  directors: number;
  /** The release whose table the files were linted against, when a version was given. */
  release?: string;
}

/**
 * One line, one finding of each kind of fault: a range the general rules already refuse is not
 * said again for the version, and a keyword the version lacks is said with what that version
 * reads instead, not also as a typo.
 */
function withoutRepeats(findings: Finding[]): Finding[] {
  const where = (code: string) => new Set(findings.filter((f) => f.code === code).map((f) => `${f.file}\0${f.line}`));
  const invalid = where('invalid-value');
  const missing = where('version-keyword');
  return findings.filter((f) => {
    const key = `${f.file}\0${f.line}`;
    return !((f.code === 'version-range' && invalid.has(key)) || (f.code === 'unknown-keyword' && missing.has(key)));
  });
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const byPlace = (a: Finding, b: Finding) => compare(a.file, b.file) || a.line - b.line || compare(a.code, b.code) || compare(a.message, b.message);

/** The same line read for two config-ids gives the same finding twice: keep one. */
function unique(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.file}\0${f.line}\0${f.code}\0${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export async function lintFiles(files: string[], options: LintOptions = {}): Promise<LintResult> {
  const findings: Finding[] = [];
  const unreadable: LintResult['unreadable'] = [];
  const directors: Director[] = [];
  const secrets = new Set<string>();
  const table: VersionTable | undefined = options.keepalivedVersion ? versionTable(options.keepalivedVersion) : undefined;
  const accepts = table ? (section: string, keyword: string) => releaseAccepts(table.keywords, section, keyword) : undefined;
  const ids = options.configIds && options.configIds.length > 0 ? options.configIds : [undefined];
  const reads = files.flatMap((file) => ids.map((configId) => ({ file, configId, name: ids.length > 1 ? `${file}@${configId}` : file })));
  const parsed = await Promise.all(
    reads.map((r) =>
      parseKeepalivedConf(r.file, { configId: r.configId, source: options.source }).then(
        (conf) => ({ ...r, conf }),
        (err: NodeJS.ErrnoException) => ({ ...r, error: err.code ?? err.message }),
      ),
    ),
  );
  for (const p of parsed) {
    if ('error' in p) {
      if (!unreadable.some((u) => u.file === p.file)) unreadable.push({ file: p.file, error: p.error });
      continue;
    }
    const director = directorOf(p.name, p.conf);
    directors.push(director);
    for (const secret of secretsOf(p.conf)) secrets.add(secret);
    // A loop, not push(...): a file can give more findings than a call takes arguments.
    for (const f of fileFindings(p.conf, director, accepts)) findings.push(f);
    if (table) for (const f of versionFindings(p.conf, table)) findings.push(f);
  }
  const cross = options.cross !== false && directors.length > 1;
  if (cross) for (const f of crossFindings(directors)) findings.push(f);
  return {
    findings: withoutRepeats(unique(findings.map((f) => redactSecrets(f, secrets)))).sort(byPlace),
    unreadable,
    masterMap: cross ? masterMap(directors) : [],
    directors: directors.length,
    ...(table ? { release: table.release } : {}),
  };
}

/** 2: an input could not be read; 1: a finding at or above `threshold`; 0: clean. */
export function exitCode(result: LintResult, threshold: Severity): number {
  if (result.unreadable.length > 0) return 2;
  return result.findings.some((f) => SEVERITY_RANK[f.severity] >= SEVERITY_RANK[threshold]) ? 1 : 0;
}
