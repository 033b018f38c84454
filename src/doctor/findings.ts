import { SEVERITY_RANK, type Severity } from '../core/severity.js';

/** What `kawatch doctor` reports: one finding per check, passed or not, each failed one with its fix. */

export type CheckGroup = 'keepalived' | 'ipvs' | 'wiring' | 'firewall' | 'sysctl' | 'peers' | 'real-server';

export interface Finding {
  /** Stable identifier, e.g. `sysctl.send_redirects`; its first part is the group. */
  check: `${CheckGroup}.${string}`;
  /** How bad it is when not ok; an ok finding keeps the severity it would have had. */
  severity: Severity;
  ok: boolean;
  message: string;
  /** What to do about it (not ok), or how the check could be made to apply. */
  fix?: string;
}

export function groupOf(finding: Finding): CheckGroup {
  return finding.check.slice(0, finding.check.indexOf('.')) as CheckGroup;
}

/** Problems that count for the exit status: not ok, and at or above the chosen severity. */
export function problems(findings: readonly Finding[], threshold: Severity): Finding[] {
  return findings.filter((f) => !f.ok && SEVERITY_RANK[f.severity] >= SEVERITY_RANK[threshold]);
}

export function passed(check: Finding['check'], severity: Severity, message: string): Finding {
  return { check, severity, ok: true, message };
}

export function failed(check: Finding['check'], severity: Severity, message: string, fix: string): Finding {
  return { check, severity, ok: false, message, fix };
}
