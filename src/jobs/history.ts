import type { EventBus } from '../core/bus.js';
import { formatTime } from '../core/time.js';
import type { StateStore } from '../state/store.js';
import type { WatchdogEvents } from '../watchdog/watchdog.js';
import { describe as describeVerdict } from '../watchdog/watchdog.js';

/** One thing worth telling in a digest. */
export interface Happening {
  at: number;
  kind: 'transition' | 'verdict' | 'action';
  /** The instance it concerns, when there is one. */
  iname?: string;
  /** For verdicts: whether it was raised or has cleared. */
  verdict?: 'raised' | 'cleared';
  text: string;
}

const CAPACITY = 2000;

/** The recent happenings of this director, oldest first, bounded. */
export class History {
  private entries: Happening[] = [];

  constructor(store: StateStore, watchdog: EventBus<WatchdogEvents>) {
    store.events.on('change', (c) => {
      if (c.type === 'transition') this.add({ at: c.at, kind: 'transition', iname: c.name, text: `${c.scope} ${c.name}: ${c.from} -> ${c.to} (${c.source})` });
    });
    for (const outcome of ['raised', 'cleared'] as const) {
      watchdog.on(`verdict-${outcome}`, ({ verdict, at }) =>
        this.add({ at, kind: 'verdict', verdict: outcome, iname: 'iname' in verdict ? verdict.iname : undefined, text: `${outcome}: ${describeVerdict(verdict)}` }),
      );
    }
    watchdog.on('action', (e) => this.add({ at: e.at, kind: 'action', iname: e.iname, text: `${e.dryRun ? '[dry run] ' : ''}${e.action} ${e.iname}: ${e.reason}` }));
  }

  private add(h: Happening): void {
    this.entries.push(h);
    if (this.entries.length > CAPACITY) this.entries.splice(0, this.entries.length - CAPACITY);
  }

  since(at: number): Happening[] {
    return this.entries.filter((h) => h.at >= at);
  }
}

/** The digest of a period: counts first, then every happening (the last ones when there are many). */
export function digest(node: string, happenings: Happening[], from: number, to: number, current: string[]): { subject: string; text: string; count: number } {
  const count = (kind: Happening['kind']) => happenings.filter((h) => h.kind === kind).length;
  const perInstance = new Map<string, number>();
  for (const h of happenings) if (h.kind === 'transition' && h.iname) perInstance.set(h.iname, (perInstance.get(h.iname) ?? 0) + 1);
  const shown = happenings.slice(-200);
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
    ...(shown.length ? [`${shown.length < happenings.length ? `The last ${shown.length} of ${happenings.length}` : 'Everything'} that happened:`] : []),
    ...shown.map((h) => `  ${formatTime(h.at)}  ${h.text}`),
  ];
  const subject = `digest: ${count('transition')} transitions, ${count('verdict')} verdict changes, ${count('action')} actions`;
  return { subject, text: `${lines.join('\n')}\n`, count: happenings.length };
}
