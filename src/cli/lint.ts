import { formatHuman, formatJson } from '../lint/format.js';
import { exitCode, lintFiles } from '../lint/lint.js';
import type { Severity } from '../core/severity.js';
import { detectCapabilities, formatVersion, parseVersion, type KeepalivedVersion } from '../keepalived/capabilities.js';

export interface LintCommandOptions {
  format: 'human' | 'json';
  severity: Severity;
  /** Comma-separated config-ids. */
  configId?: string;
  cross?: boolean;
  color?: boolean;
  /** X.Y.Z; without it, the version `keepalived -v` of the installed keepalived says. */
  keepalivedVersion?: string;
  /** The keepalived binary asked for its version when none is given. */
  keepalivedBinary?: string;
}

/** The version to lint for: the one given, else the installed keepalived's; undefined with a reason said once. */
async function versionToLint(opts: LintCommandOptions): Promise<KeepalivedVersion | undefined> {
  if (opts.keepalivedVersion !== undefined) {
    const version = parseVersion(opts.keepalivedVersion);
    if (!version) throw new LintUsageError(`--keepalived-version '${opts.keepalivedVersion}' is not a version; write X.Y.Z, e.g. --keepalived-version 2.2.8`);
    return version;
  }
  const binary = opts.keepalivedBinary ?? 'keepalived';
  try {
    return (await detectCapabilities(binary)).version;
  } catch (err) {
    process.stderr.write(`kawatch lint: no version to lint for (${(err as Error).message}); checking against keepalived 2.2.7's keywords only: give --keepalived-version X.Y.Z\n`);
    return undefined;
  }
}

export class LintUsageError extends Error {
  override name = 'LintUsageError';
}

export async function runLint(files: string[], opts: LintCommandOptions): Promise<number> {
  const configIds = opts.configId?.split(',').map((id) => id.trim()).filter(Boolean);
  let keepalivedVersion: KeepalivedVersion | undefined;
  try {
    keepalivedVersion = await versionToLint(opts);
  } catch (err) {
    if (!(err instanceof LintUsageError)) throw err;
    process.stderr.write(`kawatch lint: ${err.message}\n`);
    return 2;
  }
  const result = await lintFiles(files, { configIds, cross: opts.cross, keepalivedVersion });
  if (keepalivedVersion && result.release !== undefined && opts.format === 'human') {
    const from = opts.keepalivedVersion === undefined ? `${opts.keepalivedBinary ?? 'keepalived'} -v` : '--keepalived-version';
    process.stderr.write(`kawatch lint: for keepalived ${formatVersion(keepalivedVersion)} (${from}), keywords and ranges of the ${result.release} sources\n`);
  }
  const color = opts.color !== false && process.stdout.isTTY === true && !process.env.NO_COLOR;
  process.stdout.write(opts.format === 'json' ? formatJson(result) : formatHuman(result, color));
  for (const u of result.unreadable) process.stderr.write(`kawatch lint: cannot read ${u.file}: ${u.error}\n`);
  return exitCode(result, opts.severity);
}
