import { z } from 'zod';
import { CoalescingTask } from '../core/coalescing-task.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { JsonLinesFile } from '../core/json-lines.js';
import type { Logger } from '../core/log.js';
import { epochMs, name } from '../core/persisted.js';
import type { WireListener } from '../model/wire.js';
import type { Statement } from '../peer/heartbeat.js';
import { buildView } from '../peer/view.js';
import type { StateStore } from '../state/store.js';
import { writeTrackFile } from './fencer.js';
import { decidePrevent, type Heard, type Hold } from './prevent.js';

export const preventEntrySchema = z.object({
  at: epochMs,
  /** cancel: a hold journaled but never carried out, as keepalived left BACKUP meanwhile. */
  action: z.enum(['hold', 'release', 'cancel']),
  iname: name,
  vrid: z.number().int().min(1).max(255).optional(),
  /** The MASTER the hold keeps. */
  master: name,
  address: z.union([z.ipv4(), z.ipv6()]).optional(),
  reason: z.string().max(64 * 1024),
  dryRun: z.boolean(),
});
export type PreventEntry = z.infer<typeof preventEntrySchema>;

export interface PreventerOptions {
  boundMs: number;
  /** How often the decision is looked at again (the heartbeat's interval). */
  intervalMs: number;
  maxHoldsPerHour: number;
  dryRun: boolean;
  trackDir: string;
  journalFile: string;
  /** Whether keepalived's process runs, looked at afresh (its pid file and /proc). */
  keepalivedUp: () => Promise<boolean>;
  /** When the witness last answered: it answers for a statement when that is within `boundMs`, as fresh as the statement must be. */
  witnessAnsweredAt: () => number | undefined;
}

/** What the metrics read. */
export interface PreventStats {
  entries: readonly PreventEntry[];
  held: ReadonlyMap<string, Hold>;
  /** The local time of each peer's freshest statement. */
  statements: ReadonlyMap<string, number>;
}

const HOUR_MS = 3_600_000;

/**
 * watchdog.policy prevent, the effects: gives the peer link this director's statement for each
 * heartbeat, keeps the peers' freshest statements, and applies prevent.ts's decisions through the
 * instances' track files. Each hold and release is journaled (state_dir/prevent.jsonl) before it
 * is done, and only journaled in dry run; a hold the last run left is released at start, and every
 * hold at stop: a hold must never outlive the sidecar that watches over it.
 */
export class Preventer implements DaemonPart {
  readonly name = 'prevent';
  private readonly journal: JsonLinesFile<PreventEntry>;
  private entries: PreventEntry[] = [];
  private readonly held = new Map<string, Hold>();
  private readonly heard = new Map<string, Heard>();
  private readonly flight = new CoalescingTask(() => this.review());
  private timer?: NodeJS.Timeout;
  private due?: NodeJS.Timeout;
  private lastWaits = new Map<string, string>();

  constructor(
    private readonly options: PreventerOptions,
    private readonly store: StateStore,
    private readonly wire: () => WireListener | undefined,
    private readonly log: Logger,
  ) {
    this.journal = new JsonLinesFile(options.journalFile, preventEntrySchema, 'prevent journal entry');
  }

  get stats(): PreventStats {
    return { entries: this.entries, held: this.held, statements: new Map([...this.heard].map(([peer, h]) => [peer, h.sentAt])) };
  }

  async start(): Promise<void> {
    const { entries, problems } = await this.journal.read();
    for (const problem of problems) this.log.warn({ problem }, 'prevent journal line skipped');
    this.entries = entries;
    const left = new Map<string, PreventEntry>();
    for (const e of entries) {
      if (e.action === 'hold') left.set(e.iname, e);
      else left.delete(e.iname);
    }
    for (const e of left.values()) await this.release(e.iname, e.vrid, e.master, 'a hold left by the last run: nobody watched over it since', e.dryRun);
    this.timer = setInterval(() => void this.flight.run(), this.options.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.due);
    await this.flight.idle();
    for (const [iname, hold] of [...this.held]) await this.release(iname, this.entries.findLast((e) => e.iname === iname)?.vrid, hold.master, 'kawatch stops: no hold without a sidecar watching over it', this.options.dryRun);
    this.heard.clear();
  }

  /** This director's statement for a peer's heartbeat: keepalived's process looked at afresh, not at the last poll. */
  async statement(): Promise<Statement> {
    const s = this.store.snapshot;
    const keepalivedUp = await this.options.keepalivedUp();
    const answeredAt = this.options.witnessAnsweredAt();
    const witnessAnswers = answeredAt !== undefined && Date.now() - answeredAt <= this.options.boundMs;
    const instances = buildView(s).instances.map((i) => ({ name: i.name, vrid: i.vrid, state: i.state, ...(i.primaryAddress !== undefined && { address: i.primaryAddress }) }));
    return { v: 1, node: s.node, keepalivedUp, witnessAnswers, instances };
  }

  /** A peer's statement, from its heartbeat's answer: the freshest one is kept, and looked at at once. */
  onStatement(peer: string, statement: Statement, sentAt: number): void {
    const known = this.heard.get(peer);
    if (known && known.sentAt >= sentAt) return;
    this.heard.set(peer, { peer, sentAt, statement });
    void this.flight.run();
  }

  private async review(): Promise<void> {
    const now = Date.now();
    const s = this.store.snapshot;
    const decisions = decidePrevent({
      now,
      boundMs: this.options.boundMs,
      instances: Object.values(s.instances).map((i) => ({ name: i.name, vrid: i.vrid, state: i.state, intf: i.interface, advertIntervalMs: (i.advertInterval ?? 1) * 1000 })),
      statements: [...this.heard.values()],
      wire: this.wire()?.view(now),
      held: this.held,
      holdsLastHour: this.entries.filter((e) => e.action === 'hold' && now - e.at < HOUR_MS).length,
      maxHoldsPerHour: this.options.maxHoldsPerHour,
    });
    const waits = new Map<string, string>();
    let until: number | undefined;
    for (const d of decisions) {
      if (d.kind === 'keep') until = Math.min(until ?? d.until, d.until);
      else if (d.kind === 'wait') {
        waits.set(d.iname, d.why);
        if (this.lastWaits.get(d.iname) !== d.why) this.log.warn({ iname: d.iname, why: d.why }, `not holding ${d.iname}: ${d.why}`);
      } else if (d.kind === 'release') await this.release(d.iname, d.vrid, d.master, d.reason, this.options.dryRun);
      else {
        const entry: PreventEntry = { at: now, action: 'hold', iname: d.iname, vrid: d.vrid, master: d.master, address: d.address, reason: d.reason, dryRun: this.options.dryRun };
        if (await this.act(entry)) this.held.set(d.iname, { since: now, master: d.master, address: d.address });
      }
    }
    this.lastWaits = waits;
    // A hold is looked at again the moment the statement keeping it goes stale, not at the next tick.
    clearTimeout(this.due);
    if (until !== undefined) this.due = setTimeout(() => void this.flight.run(), Math.max(0, until - Date.now()) + 1);
  }

  private async release(iname: string, vrid: number | undefined, master: string, reason: string, dryRun: boolean): Promise<void> {
    await this.act({ at: Date.now(), action: 'release', iname, vrid, master, reason, dryRun });
    this.held.delete(iname);
  }

  /**
   * Journaled first, then done (unless dry run); a failed track file write is said, and the hold
   * counts as made. False when the hold was withdrawn instead: only a BACKUP is held (prevent.ts),
   * and keepalived may leave BACKUP while the journal waits for the disk.
   */
  private async act(entry: PreventEntry): Promise<boolean> {
    await this.journal.append(entry);
    this.log.warn({ prevent: entry }, `${entry.dryRun ? '[dry run] would ' : ''}${entry.action} ${entry.iname}: ${entry.reason}`);
    const state = this.store.snapshot.instances[entry.iname]?.state;
    if (entry.action === 'hold' && !entry.dryRun && state !== 'BACKUP') {
      const cancel: PreventEntry = { ...entry, at: Date.now(), action: 'cancel', reason: `keepalived left BACKUP on its own (now ${state ?? 'unknown'}) before the hold was carried out: the track file was not written` };
      await this.journal.append(cancel);
      this.entries.push(entry, cancel);
      this.log.warn({ prevent: cancel }, `cancel ${cancel.iname}: ${cancel.reason}`);
      return false;
    }
    this.entries.push(entry);
    if (entry.dryRun) return true;
    try {
      await writeTrackFile(this.options.trackDir, entry.iname, entry.action === 'hold');
    } catch (err) {
      this.log.error({ prevent: entry, error: (err as Error).message }, `${entry.action} ${entry.iname} failed`);
    }
    return true;
  }
}
