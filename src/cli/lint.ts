import { formatHuman, formatJson } from '../lint/format.js';
import { exitCode, lintFiles } from '../lint/lint.js';
import type { Severity } from '../core/severity.js';

export interface LintCommandOptions {
  format: 'human' | 'json';
  severity: Severity;
  /** Comma-separated config-ids. */
  configId?: string;
  cross?: boolean;
  color?: boolean;
}

export async function runLint(files: string[], opts: LintCommandOptions): Promise<number> {
  const configIds = opts.configId?.split(',').map((id) => id.trim()).filter(Boolean);
  const result = await lintFiles(files, { configIds, cross: opts.cross });
  const color = opts.color !== false && process.stdout.isTTY === true && !process.env.NO_COLOR;
  process.stdout.write(opts.format === 'json' ? formatJson(result) : formatHuman(result, color));
  for (const u of result.unreadable) process.stderr.write(`kawatch lint: cannot read ${u.file}: ${u.error}\n`);
  return exitCode(result, opts.severity);
}
