import { BOLD, DIM, GREEN, painter, SEVERITY_COLORS as COLORS } from '../core/paint.js';
import type { Severity } from '../core/severity.js';
import { groupOf, type CheckGroup, type Finding } from './findings.js';

const TITLES: Readonly<Record<CheckGroup, string>> = {
  keepalived: 'keepalived',
  ipvs: 'IPVS',
  wiring: 'wiring keepalived → kawatch',
  firewall: 'firewall',
  sysctl: 'kernel settings',
  peers: 'secondary link',
  'real-server': 'LVS-DR real server',
};

/** `--format json`: the findings, passed ones included, nothing else. */
export function formatDoctorJson(findings: readonly Finding[]): string {
  return `${JSON.stringify(findings, null, 2)}\n`;
}

/** Grouped by what is checked; each problem is followed by its fix. */
export function formatDoctorHuman(findings: readonly Finding[], color: boolean): string {
  const paint = painter(color);
  const groups = new Map<CheckGroup, Finding[]>();
  for (const f of findings) groups.set(groupOf(f), [...(groups.get(groupOf(f)) ?? []), f]);
  const lines: string[] = [];
  for (const [group, members] of groups) {
    lines.push(paint(BOLD, TITLES[group]));
    for (const f of members) {
      const [first, ...rest] = f.message.split('\n');
      const mark = f.ok ? paint(GREEN, 'ok     ') : paint(COLORS[f.severity], f.severity.padEnd(7));
      lines.push(`  ${mark} ${first}  ${paint(DIM, `[${f.check}]`)}`, ...rest.map((line) => `          ${line}`));
      if (!f.ok && f.fix) lines.push(`          fix: ${f.fix}`);
    }
  }
  const count = (s: Severity) => findings.filter((f) => !f.ok && f.severity === s).length;
  lines.push(`${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} info; ${findings.filter((f) => f.ok).length} check(s) passed`);
  return `${lines.join('\n')}\n`;
}
