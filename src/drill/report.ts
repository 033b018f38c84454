import { formatTime } from '../core/time.js';
import type { JournalEntry } from '../watchdog/journal.js';
import type { DrillReport, ProbeResult } from './journal.js';
import type { DrillMode } from './plan.js';

/**
 * keepalived's own bound for a move (RFC 5798 timers): a MASTER that steps down sends priority 0
 * and its BACKUP takes over within one advert interval; one that dies is noticed after the
 * master-down interval, 3 × advert_int + skew, skew = (256 − priority) / 256 × advert_int.
 */
export function failoverBoundMs(mode: DrillMode, advertIntervalMs: number, targetPriority: number): number {
  if (mode === 'track') return advertIntervalMs;
  return Math.round(3 * advertIntervalMs + ((256 - targetPriority) / 256) * advertIntervalMs);
}

/** The instances the watchdog holds demoted: its last non-dry-run action on them was a demotion. */
export function fencedInstances(entries: readonly JournalEntry[]): string[] {
  const last = new Map<string, JournalEntry['action']>();
  for (const e of entries) if (!e.dryRun && e.action !== 'stop') last.set(e.iname, e.action);
  return [...last].filter(([, action]) => action === 'demote').map(([iname]) => iname);
}

/** What a probe says that the drill did not expect: a service that never answered through the VIP, before, during or after the move. */
export function probeSurprises(probe: ProbeResult | undefined): string[] {
  if (!probe || probe.attempts === 0 || probe.failures < probe.attempts) return [];
  return [`the probe of ${probe.target} never succeeded (${probe.attempts} tries): is the service up behind the VIP, and the address and port right?`];
}

const seconds = (ms: number | undefined) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(3)} s`);

/** One line: for the log, the status page and the mail subject. */
export function reportLine(r: DrillReport): string {
  if (r.outcome === 'refused') return `drill of ${r.instance} refused: ${r.detail[0] ?? 'the group is not healthy'}`;
  const moved = r.failoverMs === undefined ? 'did not move' : `moved to ${r.to} in ${seconds(r.failoverMs)} (bound ${seconds(r.boundMs)})`;
  if (r.outcome === 'aborted') return `drill of ${r.instance} aborted (${r.reason ?? 'error'}): ${moved}; restored on ${r.from}`;
  return `drill of ${r.instance}: ${moved}${r.stayed ? `, left on ${r.to}` : `, back on ${r.from} in ${seconds(r.failbackMs)}`}`;
}

/** The whole report, as mailed and kept. */
export function reportText(r: DrillReport): string {
  const lines = [
    `Failover drill ${r.id} of ${r.instance} on ${r.node}, mode ${r.mode === 'track' ? 'track file (the MASTER steps down)' : 'stop (keepalived stopped on the MASTER)'}.`,
    `Started ${formatTime(r.startedAt)}, ended ${formatTime(r.endedAt)}: ${r.outcome}${r.reason ? ` (${r.reason})` : ''}.`,
    '',
    `  from ${r.from} to ${r.to}`,
    `  until ${r.to} was MASTER holding the VIP, seen by every director: ${seconds(r.failoverMs)}`,
    `  keepalived's bound for this move: ${seconds(r.boundMs)}`,
    `  advert intervals without a MASTER holding the VIP: ${r.advertsLost ?? '—'}`,
    r.stayed ? `  left on ${r.to} (--stay): ${r.from}'s track file keeps the instance in FAULT until \`kawatch drill --restore ${r.instance}\`` : `  back on ${r.from} after: ${seconds(r.failbackMs)}`,
  ];
  if (r.probe) {
    lines.push(`  probe ${r.probe.target}: ${r.probe.failures} of ${r.probe.attempts} tries failed, out for ${seconds(r.probe.outageMs)} (longest ${seconds(r.probe.longestOutageMs)})`);
  }
  if (r.detail.length) lines.push('', ...r.detail.map((d) => `  - ${d}`));
  if (r.unexpected.length) lines.push('', 'Unexpected:', ...r.unexpected.map((u) => `  - ${u}`));
  return `${lines.join('\n')}\n`;
}
