import type { Logger } from '../core/log.js';
import type { Part } from '../core/part.js';
import type { StateStore } from '../state/store.js';
import { diagnose, nextConfirmation, verdictKey, type DiagnoseOptions, type Verdict } from './diagnose.js';

/**
 * Follows the verdicts over time: diagnoses after every state update and on a tick (a peer goes
 * stale with time alone), and logs each verdict when it is raised and when it clears.
 */
export class Watchdog implements Part {
  readonly name = 'watchdog';
  private active = new Map<string, Verdict>();
  private timer?: NodeJS.Timeout;
  private confirmation?: NodeJS.Timeout;
  private unsubscribe?: () => void;

  constructor(
    private readonly store: StateStore,
    private readonly options: Omit<DiagnoseOptions, 'now'> & { tickMs: number },
    private readonly log: Logger,
  ) {}

  verdicts(now = Date.now()): Verdict[] {
    return diagnose(this.store.snapshot, { ...this.options, now });
  }

  async start(): Promise<void> {
    this.unsubscribe = this.store.events.on('snapshot', () => this.review());
    this.timer = setInterval(() => this.review(), this.options.tickMs);
    this.review();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.confirmation);
    this.unsubscribe?.();
  }

  private review(): void {
    const now = Date.now();
    const next = new Map(this.verdicts(now).map((v) => [verdictKey(v), v]));
    clearTimeout(this.confirmation);
    const confirmAt = nextConfirmation(this.store.snapshot, { ...this.options, now });
    if (confirmAt !== undefined) this.confirmation = setTimeout(() => this.review(), confirmAt - now + 1);
    for (const [key, verdict] of next) {
      if (!this.active.has(key)) this.log.warn({ verdict }, `verdict raised: ${describe(verdict)}`);
    }
    for (const [key, verdict] of this.active) {
      if (!next.has(key)) this.log.info({ verdict }, `verdict cleared: ${describe(verdict)}`);
    }
    this.active = next;
  }
}

export function describe(v: Verdict): string {
  switch (v.kind) {
    case 'split-brain':
      return `split brain on ${v.iname} (vrid ${v.vrid ?? '?'}): MASTER on ${v.masters.join(' and ')}`;
    case 'no-master':
      return `no MASTER for ${v.iname} (vrid ${v.vrid ?? '?'}): ${v.nodes.join(', ')} all BACKUP`;
    case 'vip-on-several-nodes':
      return `VIP ${v.address} of ${v.iname} is on ${v.nodes.join(' and ')}`;
    case 'vip-absent-on-master':
      return `VIP ${v.address} of ${v.iname} is missing on its MASTER ${v.node}`;
    case 'peer-unreachable':
      return `peer ${v.peer} unreachable on the secondary link${v.error ? ` (${v.error})` : ''}`;
  }
}
