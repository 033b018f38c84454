import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { EventBus } from '../core/bus.js';
import type { Logger } from '../core/log.js';
import type { Part } from '../core/part.js';
import { createApp, HttpServer } from '../http/server.js';
import { IpvsCollector } from '../ipvs/collector.js';
import { SorryServerSource } from '../keepalived/conf/sorry-servers.js';
import { NetlinkReader } from '../ipvs/genl.js';
import { ProcfsReader } from '../ipvs/procfs.js';
import { History } from '../jobs/history.js';
import { Jobs } from '../jobs/jobs.js';
import { DumpSource } from '../keepalived/dump-source.js';
import { FifoSource } from '../keepalived/fifo-source.js';
import { HookSource } from '../keepalived/hook-source.js';
import { ProcessSource } from '../keepalived/process.js';
import { Mailer } from '../mail/mailer.js';
import { MailStats } from '../mail/stats.js';
import { ipvsExposition } from '../metrics/ipvs.js';
import { createRegistry } from '../metrics/registry.js';
import { AddressSource } from '../netlink/address-source.js';
import { PeerLink } from '../peer/link.js';
import { SOURCE_NAMES, type SourceName } from '../state/model.js';
import { StateStore } from '../state/store.js';
import { VERSION } from '../version.js';
import { diagnose, type Verdict } from '../watchdog/diagnose.js';
import { Fencer } from '../watchdog/fencer.js';
import type { JournalEntry } from '../watchdog/journal.js';
import { Watchdog, type WatchdogEvents } from '../watchdog/watchdog.js';
import { WitnessProbe } from '../watchdog/witness.js';

const PROCESS_POLL_MS = 1000;
/** Without peers, verdicts are local only and these values do not matter. */
function diagnoseOptions(config: Config): { unreachableAfterMs: number; confirmAfterMs: number } {
  return { unreachableAfterMs: config.peers?.unreachable_after ?? 3500, confirmAfterMs: config.peers?.confirm_after ?? 150 };
}

const isSource = (name: string): name is SourceName => (SOURCE_NAMES as readonly string[]).includes(name);

export interface DaemonOptions {
  log: Logger;
  /** process_* / nodejs_* metrics; off in golden tests. */
  processMetrics?: boolean;
}

/**
 * The one wiring place: builds the context (store, registry, HTTP app) and starts the parts in
 * order — spooled hook events first, so a replay is never mistaken for news by a later dump;
 * the peer link and the watchdog once the sources have a view to share — and stops them in reverse.
 */
export class Daemon {
  readonly store: StateStore;
  private readonly http: HttpServer;
  private parts: Part[] = [];
  private fencer?: Fencer;
  /** Outlives reloads, so subscribers (the mailer) stay subscribed. */
  readonly watchdogEvents: EventBus<WatchdogEvents>;
  /** What happened lately, for the digest; outlives reloads too. */
  private readonly history: History;
  private config: Config;
  /** Outlives reloads, so the mail counters never go back. */
  private readonly mailStats = new MailStats();
  /** The IPVS collector of the running configuration, when enabled. */
  private ipvs?: IpvsCollector;
  private sorryServers?: SorryServerSource;

  constructor(config: Config, private readonly options: DaemonOptions) {
    this.config = config;
    this.store = new StateStore(config.node_name, options.log);
    this.watchdogEvents = new EventBus<WatchdogEvents>(options.log);
    this.history = new History(this.store, this.watchdogEvents);
    const verdicts = () => this.verdicts();
    const actions = () => this.actions;
    const mail = config.mail ? this.mailStats : undefined;
    const registry = createRegistry(this.store, { version: VERSION, processMetrics: options.processMetrics ?? true, verdicts, actions, mail });
    this.http = new HttpServer(config.listen, createApp({ store: this.store, registry, version: VERSION, verdicts, actions, happenings: () => this.history.since(0), streamedMetrics: () => this.ipvsMetrics() }), options.log);
    this.store.events.on('change', (change) => {
      if (change.type === 'transition') options.log.info({ part: 'state', ...change }, `${change.scope} ${change.name}: ${change.from} -> ${change.to}`);
    });
  }

  get listenAddress(): string | undefined {
    return this.http.address;
  }

  /** The watchdog's journal of actions, oldest first. */
  get actions(): readonly JournalEntry[] {
    return this.fencer?.entries ?? [];
  }

  /** The group's verdicts now, from this node's state and its peers' recent views. */
  verdicts(now = Date.now()): Verdict[] {
    return diagnose(this.store.snapshot, { now, ...diagnoseOptions(this.config) });
  }

  /** The IPVS series of a fresh read, with keepalived's checker verdicts next to them. */
  private async ipvsMetrics(): Promise<Iterable<string> | undefined> {
    const ipvs = this.ipvs;
    if (!ipvs) return undefined;
    const { table, health } = await ipvs.scrape();
    const sorryServers = await this.sorryServers?.current();
    return ipvsExposition({ table, health, backendLabels: this.config.ipvs.backend_labels, checkers: Object.values(this.store.snapshot.checkers), sorryServers });
  }

  private buildParts(config: Config): Part[] {
    const { log } = this.options;
    const { hook, fifo, netlink, dump } = config.sources;
    const parts: Part[] = [];
    // First, so it hears what the sources replay at start; stopped last, once they have said everything.
    let mailer: Mailer | undefined;
    if (config.mail) {
      const outboxDir = config.mail.outbox_dir ?? join(config.state_dir, 'outbox');
      mailer = new Mailer(config.mail, { node: config.node_name, outboxDir, store: this.store, watchdogEvents: this.watchdogEvents, stats: this.mailStats, log: log.child({ part: 'mail' }) });
      parts.push(mailer);
    }
    if (hook.enabled) parts.push(new HookSource(hook.spool_dir, this.store, log.child({ part: 'hook' })));
    if (fifo.enabled) parts.push(new FifoSource(fifo.paths, { create: fifo.create, checkIntervalMs: fifo.check_interval }, this.store, log.child({ part: 'fifo' })));
    if (netlink.enabled) parts.push(new AddressSource(this.store, log.child({ part: 'netlink' })));
    this.ipvs = undefined;
    this.sorryServers = undefined;
    if (config.ipvs.enabled) {
      const { procfs } = config;
      const readers = { netlink: () => new NetlinkReader({ procfs }), procfs: () => new ProcfsReader(procfs, config.ipvs.kernel_hz) };
      parts.push((this.ipvs = new IpvsCollector(config.ipvs.path, readers, log.child({ part: 'ipvs' }))));
      this.sorryServers = new SorryServerSource(config.keepalived.config_file, log.child({ part: 'ipvs' }));
    }
    parts.push(new ProcessSource(config.keepalived.pid_file, config.procfs, PROCESS_POLL_MS, this.store, log.child({ part: 'process' })));
    let dumpSource: DumpSource | undefined;
    if (dump.enabled) {
      parts.push(
        (dumpSource = new DumpSource(
          {
            trigger: dump.trigger,
            path: dump.path,
            signal: dump.signal,
            intervalMs: dump.interval,
            timeoutMs: dump.timeout,
            onTransition: dump.on_transition,
            pidFile: config.keepalived.pid_file,
            procfs: config.procfs,
            binary: config.keepalived.binary,
            authKeyFile: config.peers?.secret_file,
          },
          this.store,
          log.child({ part: 'dump' }),
        )),
      );
    }
    if (config.peers) {
      const { listen, secret_file, members, interval, timeout, max_skew } = config.peers;
      parts.push(new PeerLink({ listen, secretFile: secret_file, members, intervalMs: interval, timeoutMs: timeout, maxSkewMs: max_skew }, this.store, log.child({ part: 'peers' })));
    }
    const w = config.watchdog;
    if (w.witness && config.peers) {
      parts.push(new WitnessProbe(w.witness, config.peers.interval, config.peers.timeout * 2, this.store, log.child({ part: 'witness' })));
    }
    const fencer = new Fencer(
      this.store,
      {
        policy: {
          mode: w.policy,
          dryRun: w.dry_run,
          holdDownMs: w.hold_down,
          cooldownMs: w.cooldown,
          maxActionsPerHour: w.max_actions_per_hour,
          restoreAfterMs: w.restore_after,
          maxRestoreAfterMs: w.max_restore_after,
        },
        diagnose: diagnoseOptions(config),
        journalFile: join(config.state_dir, 'actions.jsonl'),
        trackDir: w.track_dir,
        stopCommand: w.stop_command,
      },
      log.child({ part: 'fencer' }),
      (entry) => this.watchdogEvents.emit('action', entry),
    );
    this.fencer = fencer;
    parts.push(new Watchdog(this.store, { ...diagnoseOptions(config), tickMs: config.peers?.interval ?? 1000 }, log.child({ part: 'watchdog' }), fencer, this.watchdogEvents));
    parts.push(
      new Jobs(
        { node: config.node_name, digest: config.jobs.digest || undefined, audit: config.jobs.audit || undefined },
        {
          history: this.history,
          verdicts: () => this.verdicts(),
          reconcile: async () => dumpSource?.request(),
          report: mailer && ((subject, text, count) => mailer.queueReport(subject, text, count)),
          log: log.child({ part: 'jobs' }),
        },
      ),
    );
    return parts;
  }

  async start(): Promise<void> {
    await this.startParts(this.config);
    await this.http.start();
  }

  private async startParts(config: Config): Promise<void> {
    this.parts = this.buildParts(config);
    for (const part of this.parts) {
      try {
        await part.start();
      } catch (err) {
        // A part that cannot start is reported, not fatal: the others still tell the truth.
        this.options.log.error({ part: part.name, error: (err as Error).message }, 'part failed to start');
        if (isSource(part.name)) this.store.apply({ type: 'source-error', source: part.name, at: Date.now(), error: (err as Error).message });
      }
    }
  }

  private async stopParts(): Promise<void> {
    for (const part of [...this.parts].reverse()) {
      await part.stop().catch((err: unknown) => this.options.log.error({ part: part.name, err }, 'stop failed'));
    }
    this.parts = [];
  }

  /** Apply a new, already validated configuration; the state store (and so history) survives. */
  async reload(config: Config): Promise<void> {
    // The new address first: when it cannot be had, the reload fails with the running configuration intact.
    if (config.listen !== this.config.listen) {
      await this.http.stop();
      await this.http.start(config.listen).catch(async (err: unknown) => {
        await this.http.start(this.config.listen);
        throw err;
      });
    }
    await this.stopParts();
    this.config = config;
    await this.startParts(config);
  }

  async stop(): Promise<void> {
    await this.http.stop();
    await this.stopParts();
  }
}
