import { BOLD, DIM, painter, SEVERITY_COLORS as COLORS } from '../core/paint.js';
import type { Finding } from './finding.js';
import type { Severity } from '../core/severity.js';
import type { LintResult } from './lint.js';

/** `--format json`: one array of findings, nothing else. */
export function formatJson(result: LintResult): string {
  return `${JSON.stringify(result.findings, null, 2)}\n`;
}

export function formatHuman(result: LintResult, color: boolean): string {
  const paint = painter(color);
  const lines: string[] = [];
  for (const u of result.unreadable) lines.push(`${paint(BOLD, u.file)}\n  ${paint(COLORS.error, 'error')} cannot read: ${u.error}`);
  const byFile = new Map<string, Finding[]>();
  for (const f of result.findings) {
    const list = byFile.get(f.file);
    if (list) list.push(f);
    else byFile.set(f.file, [f]);
  }
  for (const [file, findings] of byFile) {
    lines.push(paint(BOLD, file));
    for (const f of findings) {
      lines.push(`  ${String(f.line).padStart(4)}  ${paint(COLORS[f.severity], f.severity.padEnd(7))} ${f.message}  ${paint(DIM, `[${f.code}]`)}`);
      lines.push(`        ${' '.repeat(8)}fix: ${f.fix}`);
      if (f.related) lines.push(`        ${' '.repeat(8)}also: ${f.related.map((r) => `${r.file}:${r.line}`).join(', ')}`);
    }
  }
  if (result.masterMap.length > 0) {
    lines.push(paint(BOLD, 'multi-master map (instance → where it runs: highest priority)'));
    for (const row of result.masterMap) {
      const who = row.directors.map((d) => `${d.director} ${d.state ?? 'BACKUP'} ${d.priority ?? 100}`).join(' | ');
      lines.push(`  ${row.instance.padEnd(16)} vrid ${String(row.vrid ?? '?').padEnd(4)} → ${row.master ?? paint(COLORS.warning, 'undecided (equal priorities)')}   [${who}]`);
    }
  }
  const count = (s: Severity) => result.findings.filter((f) => f.severity === s).length;
  lines.push(`${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} info in ${result.directors} file(s)`);
  return `${lines.join('\n')}\n`;
}
