import type { Change } from '../state/snapshot.js';
import type { Verdict } from '../watchdog/diagnose.js';
import type { JournalEntry } from '../watchdog/journal.js';
import { verdictText } from '../watchdog/verdict-text.js';
import { formatTime } from '../core/time.js';

/** One thing worth telling in a digest. */
export interface HistoryEntry {
  at: number;
  kind: 'transition' | 'verdict' | 'action';
  /** The instance it concerns, when there is one. */
  iname?: string;
  /** For verdicts: whether it was raised or has cleared. */
  verdict?: 'raised' | 'cleared';
  text: string;
}

const CAPACITY = 2000;

/** What happened lately on this director (transitions, verdicts, actions), oldest first, bounded. */
export class History {
  private entries: HistoryEntry[] = [];

  onStateChange(c: Change): void {
    if (c.type === 'transition') this.add({ at: c.at, kind: 'transition', iname: c.name, text: `${c.scope} ${c.name}: ${c.from} -> ${c.to} (${c.source})` });
  }

  onVerdict(outcome: 'raised' | 'cleared', verdict: Verdict, at: number): void {
    this.add({ at, kind: 'verdict', verdict: outcome, iname: 'iname' in verdict ? verdict.iname : undefined, text: `${outcome}: ${verdictText(verdict)}` });
  }

  onAction(e: JournalEntry): void {
    this.add({ at: e.at, kind: 'action', iname: e.iname, text: `${e.dryRun ? '[dry run] ' : ''}${e.action} ${e.iname}: ${e.reason}` });
  }

  private add(h: HistoryEntry): void {
    this.entries.push(h);
    if (this.entries.length > CAPACITY) this.entries.splice(0, this.entries.length - CAPACITY);
  }

  since(at: number): HistoryEntry[] {
    return this.entries.filter((h) => h.at >= at);
  }
}

/** The digest of a period: counts first, then every entry (the last ones when there are many). */
export function digest(node: string, recent: HistoryEntry[], from: number, to: number, current: string[]): { subject: string; text: string; count: number } {
  const count = (kind: HistoryEntry['kind']) => recent.filter((h) => h.kind === kind).length;
  const perInstance = new Map<string, number>();
  for (const h of recent) if (h.kind === 'transition' && h.iname) perInstance.set(h.iname, (perInstance.get(h.iname) ?? 0) + 1);
  const shown = recent.slice(-200);
  const lines = [
    `Digest of ${node} from ${formatTime(from)} to ${formatTime(to)}.`,
    '',
    `transitions: ${count('transition')}${perInstance.size ? ` (${[...perInstance].map(([i, n]) => `${i} ${n}`).join(', ')})` : ''}`,
    `verdicts raised or cleared: ${count('verdict')}`,
    `watchdog actions: ${count('action')}`,
    '',
    current.length ? 'Standing now:' : 'Nothing is wrong right now.',
    ...current.map((c) => `  - ${c}`),
    '',
    ...(shown.length ? [`${shown.length < recent.length ? `The last ${shown.length} of ${recent.length}` : 'Everything'} that happened:`] : []),
    ...shown.map((h) => `  ${formatTime(h.at)}  ${h.text}`),
  ];
  const subject = `digest: ${count('transition')} transitions, ${count('verdict')} verdict changes, ${count('action')} actions`;
  return { subject, text: `${lines.join('\n')}\n`, count: recent.length };
}
