import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../core/exec.js';
import type { Logger } from '../core/log.js';
import { CoalescingTask } from '../core/coalescing-task.js';
import type { Snapshot } from '../state/snapshot.js';
import { checkDirectory, writeAtomic } from '../core/safe-file.js';
import type { StateStore } from '../state/store.js';
import { currentViews, type DiagnoseOptions, type Verdict } from './diagnose.js';
import { Journal, type JournalEntry } from './journal.js';
import { decide, type Decision, type PolicyConfig } from './policy.js';


export interface FencerOptions {
  policy: PolicyConfig;
  diagnose: Omit<DiagnoseOptions, 'now'>;
  journalFile: string;
  trackDir: string;
  stopCommand: string[];
}

/**
 * Since when this node has heard neither any peer nor the witness; undefined while it hears one,
 * or when no witness is configured (then isolation cannot be told from the peers being down).
 */
export function isolatedSince(s: Snapshot, now: number, unreachableAfterMs: number): number | undefined {
  const peers = Object.values(s.peers);
  if (!s.witness?.unreachableSince || peers.length === 0) return undefined;
  const lostPeersAt = peers.map((p) => (p.lastExchange ?? 0) + unreachableAfterMs);
  if (lostPeersAt.some((t) => t > now)) return undefined;
  return Math.max(s.witness.unreachableSince, ...lostPeersAt);
}

/** What kawatch writes into an instance's track file: keepalived puts the instance in FAULT for non-zero. */
const DEMOTED = '1\n';
const RESTORED = '0\n';

/**
 * Moves an instance through its track file: demoted puts it in FAULT, restored gives it back its
 * priority. The one place kawatch writes a track file (the fencer, the drills).
 */
export async function writeTrackFile(trackDir: string, iname: string, demoted: boolean): Promise<void> {
  // The name comes from this node's own keepalived, but it becomes a path: keep it a plain file name.
  if (!/^[\w.:-]+$/.test(iname) || iname.startsWith('.')) throw new Error(`instance name ${JSON.stringify(iname)} cannot name a track file`);
  // keepalived rereads a track file when one is renamed into place (inotify IN_MOVED_TO): a
  // fresh file renamed over the name replaces whatever was planted there, a link included,
  // instead of writing through it. keepalived (root) only reads it: 0644.
  await writeAtomic(join(trackDir, iname), demoted ? DEMOTED : RESTORED, 0o644);
}

/** Runs a configured keepalived control command (watchdog.stop_command, start_command), without a shell. */
export async function runControlCommand(argv: readonly string[]): Promise<void> {
  const [file, ...args] = argv;
  await run(file!, args, { timeoutMs: 30_000 });
}

/**
 * Carries out the policy's decisions: each action is journaled before it is done, so it is
 * neither lost nor repeated across a restart, and in dry-run it is only journaled.
 */
export class Fencer {
  private journal: JournalEntry[] = [];
  private readonly store: Journal;
  private readonly flight = new CoalescingTask(() => this.act());
  private pending: Verdict[] = [];
  private lastWaits = new Map<string, string>();
  private due?: number;
  /** Since when this fencer has been listening: peers not heard since then have had time to answer only after a while. */
  private listeningSince?: number;

  constructor(
    private readonly state: StateStore,
    private readonly options: FencerOptions,
    private readonly log: Logger,
    private readonly onAction: (entry: JournalEntry) => void = () => {},
  ) {
    this.store = new Journal(options.journalFile);
  }

  get entries(): readonly JournalEntry[] {
    return this.journal;
  }

  async load(): Promise<void> {
    const { entries, problems } = await this.store.read();
    for (const problem of problems) this.log.warn({ problem }, 'journal line skipped');
    this.journal = entries;
    this.listeningSince = Date.now();
    // Whatever the policy: keepalived 2.2 and later drop a track_file whose directory is missing when
    // they read their configuration (realpath() fails), and never look again until a reload; a policy
    // changed to demote later would then write files no keepalived reads. keepalived (root) reads it: 0755.
    await mkdir(this.options.trackDir, { recursive: true, mode: 0o755 });
    await checkDirectory(this.options.trackDir);
  }

  /** Reviews the verdicts and acts on them; `nextReview` then says when to look again. */
  consider(verdicts: Verdict[]): Promise<void> {
    this.pending = verdicts;
    return this.flight.run();
  }

  /** When the last review's earliest wait (a hold-down, cooldown or restore) falls due, if any. */
  get nextReview(): number | undefined {
    return this.due;
  }

  async idle(): Promise<void> {
    await this.flight.idle();
  }

  private decisions(now: number): Decision[] {
    const snapshot = this.state.snapshot;
    const { views, unreachable } = currentViews(snapshot, { ...this.options.diagnose, now, listeningSince: this.listeningSince });
    const told = new Set([...views.map((v) => v.node), ...unreachable.flatMap((v) => (v.kind === 'peer-unreachable' ? [v.peer] : []))]);
    return decide({
      node: snapshot.node,
      now,
      verdicts: this.pending,
      views,
      journal: this.journal,
      config: this.options.policy,
      isolatedSince: isolatedSince(snapshot, now, this.options.diagnose.unreachableAfterMs),
      awaiting: Object.values(snapshot.peers).map((p) => p.name).filter((name) => !told.has(name)),
    });
  }

  private async act(): Promise<void> {
    const now = Date.now();
    const waits = new Map<string, string>();
    const decisions = this.decisions(now);
    // What each decision was drawn from: the journal appends below wait for the disk, and keepalived does not.
    const decidedAs = new Map(decisions.map((d) => [d.iname, this.localState(d.iname)]));
    const until = decisions.flatMap((d) => (d.kind === 'wait' && d.until !== undefined ? [d.until] : []));
    this.due = until.length ? Math.min(...until) : undefined;
    for (const d of decisions) {
      if (d.kind === 'wait') {
        waits.set(d.iname, d.why);
        if (this.lastWaits.get(d.iname) !== d.why) this.log.info({ iname: d.iname, why: d.why }, `not acting on ${d.iname}: ${d.why}`);
        continue;
      }
      const entry: JournalEntry = {
        at: now,
        action: d.kind,
        iname: d.iname,
        vrid: d.vrid,
        winner: d.winner,
        reason: d.reason,
        dryRun: this.options.policy.dryRun,
        restoreAfterMs: d.kind === 'restore' ? undefined : d.restoreAfterMs,
        isolation: d.kind === 'demote' && d.isolation ? true : undefined,
      };
      await this.store.append(entry);
      this.log.warn({ action: entry }, `${entry.dryRun ? '[dry run] would ' : ''}${d.kind} ${d.iname}: ${d.reason}`);
      const stateNow = this.localState(d.iname);
      if (d.kind === 'demote' && !entry.dryRun && decidedAs.get(d.iname) === 'MASTER' && stateNow !== 'MASTER') {
        // VRRP settled the split while the demotion was being journaled (fsync takes its time): the
        // track file would now put a BACKUP in FAULT for restore_after, with no standby left.
        await this.withdraw(entry, stateNow);
        continue;
      }
      // Readers (metrics, status page, mail) see an action once it stands, never one about to be withdrawn.
      this.journal.push(entry);
      if (!entry.dryRun) {
        try {
          await this.execute(d);
        } catch (err) {
          this.log.error({ action: entry, error: (err as Error).message }, `${d.kind} ${d.iname} failed`);
        }
      }
      this.onAction(entry);
    }
    this.lastWaits = waits;
  }

  private localState(iname: string): string | undefined {
    return this.state.snapshot.instances[iname]?.state;
  }

  /** Ends a journaled demotion that was never carried out; the track file is left as it was. */
  private async withdraw(demotion: JournalEntry, state: string | undefined): Promise<void> {
    const entry: JournalEntry = {
      at: Date.now(),
      action: 'cancel',
      iname: demotion.iname,
      vrid: demotion.vrid,
      winner: demotion.winner,
      reason: `keepalived left MASTER on its own (now ${state ?? 'unknown'}) before the demotion was carried out: the track file was not written`,
      dryRun: false,
    };
    await this.store.append(entry);
    this.journal.push(demotion, entry);
    this.log.warn({ action: entry }, `cancel ${entry.iname}: ${entry.reason}`);
    this.onAction(entry);
  }

  private async execute(d: Exclude<Decision, { kind: 'wait' }>): Promise<void> {
    switch (d.kind) {
      case 'demote':
      case 'restore':
        await writeTrackFile(this.options.trackDir, d.iname, d.kind === 'demote');
        return;
      case 'stop':
        await runControlCommand(this.options.stopCommand);
    }
  }
}
