import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { EventBus } from '../core/bus.js';
import type { DaemonPart } from '../core/daemon-part.js';
import type { Logger } from '../core/log.js';
import { createApp, HttpServer } from '../http/server.js';
import { IpvsCollector } from '../ipvs/collector.js';
import { NetlinkReader } from '../ipvs/genl.js';
import { ProcfsReader } from '../ipvs/procfs.js';
import { History } from '../jobs/history.js';
import { Jobs } from '../jobs/jobs.js';
import { SorryServerSource } from '../keepalived/conf/sorry-servers.js';
import { CapabilitiesProbe } from '../keepalived/capabilities.js';
import { DumpSource } from '../keepalived/dump-source.js';
import { FifoSource } from '../keepalived/fifo-source.js';
import { HookSource } from '../keepalived/hook-source.js';
import { probeKeepalived, ProcessSource } from '../keepalived/process.js';
import { Mailer } from '../mail/mailer.js';
import { MailStats } from '../mail/stats.js';
import { ChunkBuffers, ipvsExposition } from '../metrics/ipvs.js';
import { createMetrics, OPTIONAL_PARTS, type Metrics, type OptionalPart } from '../metrics/registry.js';
import { AddressSource } from '../netlink/address-source.js';
import { PeerLink } from '../peer/link.js';
import { LAST_KNOWN_FILE, LastKnownState } from '../state/last-known.js';
import { SOURCE_NAMES, type Snapshot, type SourceName } from '../state/snapshot.js';
import { StateStore } from '../state/store.js';
import { VERSION } from '../version.js';
import { diagnose, type DiagnoseOptions, type Verdict } from '../watchdog/diagnose.js';
import { Fencer } from '../watchdog/fencer.js';
import type { JournalEntry } from '../watchdog/journal.js';
import { Watchdog, type WatchdogEvents } from '../watchdog/watchdog.js';
import { describeWitness, WitnessProbe } from '../watchdog/witness.js';
import { Preventer } from '../watchdog/preventer.js';
import { Drills } from '../drill/drills.js';
import { fencedInstances } from '../drill/report.js';
import { summarize, type DrillSummary } from '../drill/journal.js';
import { parseProbeTarget, type ProbeTarget } from '../core/probe-target.js';
import { writeApiToken } from '../core/api-token.js';
import { WireObserver } from '../vrrp/observer.js';
import { wireSummary } from '../peer/view.js';
import { connectListeners, type Listeners } from './fan-out.js';
import { Supervisor } from './supervisor.js';

const PROCESS_POLL_MS = 1000;

/** How often an interface the VRRP observer could not listen on is tried again, and forgotten speakers are let go. */
const WIRE_RETRY_MS = 10_000;

/**
 * Without peers there is no peer view to age and no second MASTER to confirm: both bounds are moot.
 * `wire`: the observer of the running configuration, whose summary is read at each diagnosis.
 */
function diagnoseOptions(config: Config, wire?: () => WireObserver | undefined): Omit<DiagnoseOptions, 'now'> {
  const bounds = config.peers ? { unreachableAfterMs: config.peers.unreachable_after, confirmAfterMs: config.peers.confirm_after } : { unreachableAfterMs: 0, confirmAfterMs: 0 };
  return {
    ...bounds,
    get wire() {
      const observer = wire?.();
      return observer && wireSummary(observer.view());
    },
  };
}

/** The configured probes, validated by the schema already. */
function probeTargets(probes: Record<string, string>): Record<string, ProbeTarget> {
  return Object.fromEntries(Object.entries(probes).flatMap(([instance, url]) => {
    const target = parseProbeTarget(url);
    return typeof target === 'string' ? [] : [[instance, target]];
  }));
}

/** The scheduled drill: every instance this director is MASTER of, one at a time; a refusal is reported like a failure. */
async function drillMastered(drills: Drills, instances: Snapshot['instances']): Promise<void> {
  const mastered = Object.values(instances).filter((i) => i.state === 'MASTER').map((i) => i.name).sort();
  if (mastered.length === 0) return;
  drills.request({ instances: mastered, mode: 'track', stay: false, dryRun: false, scheduled: true });
  await drills.idle();
}

/** Settings what outlives a reload was made from: a reload that changes one is refused. */
export const FIXED_AT_START = ['node_name', 'state_dir'] as const satisfies readonly (keyof Config)[];

const isSource = (name: string): name is SourceName => (SOURCE_NAMES as readonly string[]).includes(name);

/** A problem that keeps the daemon from starting at all (its HTTP listener); said in one line. */
export class StartupError extends Error {
  override name = 'StartupError';
}

export interface DaemonOptions {
  log: Logger;
  /** process_* / nodejs_* metrics; off in golden tests. */
  processMetrics?: boolean;
}

/** The parts of one configuration, in start order, and the ones the fan-out names. */
interface Built {
  parts: DaemonPart[];
  listeners: Omit<Listeners, 'history' | 'countTransition' | 'lastKnown'>;
  fencer: Fencer;
  drills: Drills;
  capabilities: CapabilitiesProbe;
  ipvs?: IpvsCollector;
  sorryServers?: SorryServerSource;
  wire?: WireObserver;
  preventer?: Preventer;
}

/**
 * The one wiring place: builds the context (store, metrics, HTTP app), connects the listeners of
 * state changes in their order (fan-out.ts), and starts the parts in order under the supervisor:
 * the mailer first, so it hears what the sources replay at start; the spooled hook events before
 * the FIFO and the dump, so a replay is never mistaken for news by a later dump; the peer link and
 * the watchdog once the sources have a view to share; the jobs last. They stop in reverse.
 */
export class Daemon {
  readonly store: StateStore;
  private readonly http: HttpServer;
  private readonly supervisor: Supervisor;
  /** Outlives reloads: what it connects to is looked up in `built` at each change. */
  readonly watchdogEvents: EventBus<WatchdogEvents>;
  /** What happened lately, for the digest and the status page; outlives reloads too. */
  private readonly history = new History();
  /** The IPVS exposition's chunk buffers, reused from one scrape to the next. */
  private readonly ipvsChunks = new ChunkBuffers();
  private readonly metrics: Metrics;
  /** Outlives reloads, so the mail counters never go back. */
  private readonly mailStats = new MailStats();
  /** The last known VRRP state in state_dir (read once at start: a reload keeps the running state). */
  private readonly lastKnown: LastKnownState;
  /** What keepalived did before this is learnt at start, not news to mail (a reload is no start). */
  private readonly startedAt = Date.now();
  private config: Config;
  private built?: Built;
  private apiToken?: string;
  /** Before the drills read their journal: nothing to show yet. */
  private static readonly NO_DRILLS: DrillSummary = summarize([]);

  constructor(config: Config, private readonly options: DaemonOptions) {
    this.config = config;
    const { log } = options;
    this.store = new StateStore(config.node_name, log);
    this.lastKnown = new LastKnownState(join(config.state_dir, LAST_KNOWN_FILE), log.child({ part: 'state' }));
    this.watchdogEvents = new EventBus<WatchdogEvents>(log);
    const verdicts = () => this.verdicts();
    const actions = () => this.actions;
    this.metrics = createMetrics(this.store, { version: VERSION, processMetrics: options.processMetrics ?? true, verdicts, actions, mail: this.mailStats, keepalivedCapabilities: () => this.built?.capabilities.current, drills: { summary: () => this.built?.drills.summary ?? Daemon.NO_DRILLS, scheduled: () => this.config.jobs.drill !== false }, wire: () => this.built?.wire, prevent: () => this.built?.preventer?.stats });
    this.supervisor = new Supervisor(this.metrics.registry, log.child({ part: 'supervisor' }), (part, error) => {
      if (isSource(part)) this.store.apply({ type: 'source-error', source: part, at: Date.now(), error });
    });
    this.http = new HttpServer(
      config.listen,
      createApp({
        store: this.store,
        registry: this.metrics.registry,
        version: VERSION,
        verdicts,
        actions,
        recent: () => this.history.since(0),
        streamedMetrics: () => this.ipvsMetrics(),
        recycleChunk: (chunk) => this.ipvsChunks.give(chunk),
        drills: () => this.built?.drills,
        apiToken: () => this.apiToken,
      }),
      log,
    );
    connectListeners(this.store, this.watchdogEvents, () => this.listeners(), log);
  }

  /** For the process's last-resort handlers: see Supervisor.contain. */
  contain(kind: 'exception' | 'rejection', err: unknown): void {
    this.supervisor.contain(kind, err);
  }

  /**
   * Who hears of a change now: a part only between the end of its start and the beginning of its
   * stop, so none acts on a change before it is ready (the dump source before it knows keepalived's
   * signal) or after it let go of what it holds.
   */
  private listeners(): Listeners {
    const running = <P extends DaemonPart>(part: P | undefined) => (part && this.supervisor.isUp(part) ? part : undefined);
    const l = this.built?.listeners;
    return { history: this.history, countTransition: this.metrics.countTransition, lastKnown: this.lastKnown, peers: running(l?.peers), dump: running(l?.dump), mailer: running(l?.mailer), watchdog: running(l?.watchdog) };
  }

  get listenAddress(): string | undefined {
    return this.http.address;
  }

  /** The watchdog's journal of actions, oldest first. */
  get actions(): readonly JournalEntry[] {
    return this.built?.fencer.entries ?? [];
  }

  /** The group's verdicts now, from this node's state and its peers' recent views. */
  verdicts(now = Date.now()): Verdict[] {
    return diagnose(this.store.snapshot, { now, ...diagnoseOptions(this.config, () => this.built?.wire) });
  }

  /** The IPVS series of a fresh read, with keepalived's checker verdicts next to them. */
  private async ipvsMetrics(): Promise<Iterable<Uint8Array> | undefined> {
    const { ipvs, sorryServers } = this.built ?? {};
    if (!ipvs) return undefined;
    const { table, health } = await ipvs.scrape();
    return ipvsExposition({ table, health, backendLabels: this.config.ipvs.backend_labels, backendRates: this.config.ipvs.backend_rates, checkers: Object.values(this.store.snapshot.checkers), sorryServers: await sorryServers?.current() }, this.ipvsChunks);
  }

  private build(config: Config): Built {
    const { log } = this.options;
    const { store } = this;
    const { hook, fifo, netlink, dump } = config.sources;
    const child = (part: string) => log.child({ part });
    const parts: DaemonPart[] = [];
    // Asked once per configuration (the binary may change with it) for every part that depends on the version.
    const capabilities = new CapabilitiesProbe(config.keepalived.binary);

    let peers: PeerLink | undefined;
    const mailer =
      config.mail &&
      new Mailer(config.mail, {
        node: config.node_name,
        outboxDir: config.mail.outbox_dir ?? join(config.state_dir, 'outbox'),
        store,
        stats: this.mailStats,
        log: child('mail'),
        unreachableAfterMs: config.peers?.unreachable_after,
        daemonStartedAt: this.startedAt,
        onConfirmed: () => peers?.announce(),
      });
    if (mailer) parts.push(mailer);
    // Before the spool's replay and the FIFO's buffered lines: what they tell is of the keepalived
    // running now, and one restarted while kawatch was down must first be seen to have stopped.
    const processSource = new ProcessSource(config.keepalived.pid_file, config.procfs, PROCESS_POLL_MS, store, child('process'));
    parts.push(processSource);
    const checkProcess = (): void => void processSource.poll();
    if (hook.enabled) parts.push(new HookSource(hook.spool_dir, store, child('hook'), checkProcess));
    if (fifo.enabled) parts.push(new FifoSource(fifo.paths, { create: fifo.create, checkIntervalMs: fifo.check_interval, capabilities, checkProcess }, store, child('fifo')));
    if (netlink.enabled) parts.push(new AddressSource(store, child('netlink')));

    let ipvs: IpvsCollector | undefined;
    let sorryServers: SorryServerSource | undefined;
    if (config.ipvs.enabled) {
      const { procfs } = config;
      const readers = { netlink: () => new NetlinkReader({ procfs }), procfs: () => new ProcfsReader(procfs, config.ipvs.kernel_hz) };
      parts.push((ipvs = new IpvsCollector(config.ipvs.path, readers, child('ipvs'))));
      sorryServers = new SorryServerSource(config.keepalived.config_file, child('ipvs'));
    }
    // Before the peer link, so its first view already tells what is heard on the wire.
    const wire =
      config.vrrp_wire.enabled &&
      new WireObserver({ interfaces: config.vrrp_wire.interfaces, configFile: config.keepalived.config_file, forgetAfterMs: config.vrrp_wire.forget_after, retryMs: WIRE_RETRY_MS, onChange: () => peers?.announce() }, child('vrrp-wire'));
    if (wire) parts.push(wire);
    const withWire = () => (wire && this.supervisor.isUp(wire) ? wire : undefined);

    const dumpSource =
      dump.enabled &&
      new DumpSource(
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
          configFile: config.keepalived.config_file,
          capabilities,
          checkProcess,
        },
        store,
        child('dump'),
      );
    if (dumpSource) parts.push(dumpSource);

    const w = config.watchdog;
    // What the last configuration's witness answered may not outlive it: the fencer reads an unreachable witness as isolation.
    store.apply({ type: 'witness-configured', target: w.witness && config.peers ? describeWitness(w.witness) : undefined });
    const witnessProbe =
      w.witness && config.peers
        ? new WitnessProbe(
            w.witness,
            // Under prevent a statement says the witness answers only within the bound: it is asked at the heartbeat's rate.
            { intervalMs: w.policy === 'prevent' ? w.prevent.heartbeat : config.peers.interval, timeoutMs: config.peers.timeout * 2, reportEveryMs: config.peers.interval },
            store,
            child('witness'),
          )
        : undefined;
    // policy prevent: before the peer link, so a hold the last run left is released before any statement arrives.
    const preventer =
      w.policy === 'prevent' && config.peers
        ? new Preventer(
            {
              boundMs: w.prevent.bound,
              intervalMs: w.prevent.heartbeat,
              maxHoldsPerHour: w.prevent.max_holds_per_hour,
              dryRun: w.dry_run,
              trackDir: w.track_dir,
              journalFile: join(config.state_dir, 'prevent.jsonl'),
              keepalivedUp: async () => probeKeepalived(config.keepalived.pid_file, config.procfs).up,
              witnessAnsweredAt: () => witnessProbe?.lastAnsweredAt(),
            },
            store,
            withWire,
            child('prevent'),
          )
        : undefined;
    if (preventer) parts.push(preventer);
    if (config.peers) {
      const { listen, secret_file, members, interval, timeout, max_skew } = config.peers;
      const mailSent = mailer ? () => mailer.confirmed() : undefined;
      const wireView = wire ? () => (withWire() ? wireSummary(wire.view()) : undefined) : undefined;
      const heartbeat = preventer && {
        intervalMs: w.prevent.heartbeat,
        timeoutMs: Math.min(timeout, w.prevent.bound),
        statement: () => preventer.statement(),
        onStatement: (peer: string, statement: Parameters<Preventer['onStatement']>[1], sentAt: number) => {
          if (this.supervisor.isUp(preventer)) preventer.onStatement(peer, statement, sentAt);
        },
      };
      parts.push((peers = new PeerLink({ listen, secretFile: secret_file, members, intervalMs: interval, timeoutMs: timeout, maxSkewMs: max_skew, mailSent, wire: wireView, heartbeat }, store, child('peers'))));
    } else {
      // The peer link names its peers as it starts; without one, none of the last configuration's may linger (kawatch_peer_up 0, their old views).
      store.apply({ type: 'peers-configured', peers: [] });
    }
    if (witnessProbe) parts.push(witnessProbe);

    const fencer = new Fencer(
      store,
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
        diagnose: diagnoseOptions(config, withWire),
        journalFile: join(config.state_dir, 'actions.jsonl'),
        trackDir: w.track_dir,
        stopCommand: w.stop_command,
      },
      child('fencer'),
      (entry) => this.watchdogEvents.emit('action', entry),
    );
    // Object.assign keeps the options' wire getter, read at each diagnosis.
    const watchdog = new Watchdog(store, Object.assign(diagnoseOptions(config, withWire), { tickMs: config.peers?.interval ?? 1000 }), child('watchdog'), fencer, this.watchdogEvents);
    parts.push(watchdog);
    // After the watchdog, so it stops first: a drill under way at SIGTERM restores while the watchdog still looks.
    const drills = new Drills(
      {
        node: config.node_name,
        members: config.peers?.members.map((m) => m.name) ?? [],
        journalFile: join(config.state_dir, 'drills.jsonl'),
        trackDir: w.track_dir,
        stopCommand: w.stop_command,
        startCommand: w.start_command,
        timeoutMs: config.drill.timeout,
        probeIntervalMs: config.drill.probe_interval,
        probes: probeTargets(config.drill.probes),
        exchangeMs: config.peers?.interval ?? 1000,
        diagnose: diagnoseOptions(config, withWire),
      },
      {
        store,
        verdicts: () => watchdog.verdicts(),
        fenced: () => fencedInstances(fencer.entries),
        keepalivedUp: async () => processSource.poll().up,
        report: mailer ? (subject, text) => mailer.queueReport(subject, text, 1) : undefined,
        log: child('drill'),
      },
    );
    parts.push(drills);
    parts.push(
      new Jobs(
        { node: config.node_name, digest: config.jobs.digest || undefined, audit: config.jobs.audit || undefined, drill: config.jobs.drill || undefined },
        {
          history: this.history,
          verdicts: () => this.verdicts(),
          reconcile: async () => (dumpSource ? dumpSource.request() : undefined),
          report: mailer ? (subject, text, count) => mailer.queueReport(subject, text, count) : undefined,
          audit: mailer ? (findings, at) => mailer.audit(findings, at) : undefined,
          drill: () => drillMastered(drills, store.snapshot.instances),
          log: child('jobs'),
        },
      ),
    );
    return { parts, listeners: { peers, dump: dumpSource || undefined, mailer: mailer || undefined, watchdog }, fencer, drills, capabilities, ipvs, sorryServers, wire: wire || undefined, preventer };
  }

  /**
   * Starts the parts, then listens: an API that answers means every part has had its start (the lab
   * and the tests wait on that). A busy port is the one start-up problem that ends the daemon.
   */
  async start(): Promise<void> {
    await this.restoreLastKnown();
    // Without its token the mutating routes refuse everyone; the rest of the daemon runs as before.
    this.apiToken = await writeApiToken(this.config.state_dir).catch((err: Error) => {
      this.options.log.error({ state_dir: this.config.state_dir, error: err.message }, 'cannot write the API token: drills cannot be requested');
      return undefined;
    });
    await this.startParts(this.config);
    try {
      await this.http.start();
    } catch (err) {
      await this.stopParts();
      throw new StartupError(`cannot listen on ${this.config.listen}: ${(err as Error).message}; is another kawatch running? Change \`listen\` or free the port.`);
    }
  }

  /** Before any source: a spooled hook replayed at start then moves from the state the last run knew. */
  private async restoreLastKnown(): Promise<void> {
    const { restore, problems } = await this.lastKnown.load();
    for (const problem of problems) this.options.log.warn({ part: 'state', problem }, 'last known VRRP state set aside');
    this.store.apply(restore);
  }

  private async startParts(config: Config): Promise<void> {
    const built = (this.built = this.build(config));
    // At every start of the parts, a reload's too: the families shown are those of the parts built.
    const present: Record<OptionalPart, unknown> = { mail: built.listeners.mailer, wire: built.wire, prevent: built.preventer };
    this.metrics.showParts(new Set(OPTIONAL_PARTS.filter((part) => present[part] !== undefined)));
    await this.supervisor.startAll(built.parts);
  }

  private async stopParts(): Promise<void> {
    await this.supervisor.stopAll();
    this.built = undefined;
  }

  /** Apply a new, already validated configuration; the state store (and so history) survives. */
  async reload(config: Config): Promise<void> {
    // What outlives reloads was made from these: the state store is this node's, the last known state and the API token are in state_dir.
    for (const key of FIXED_AT_START) {
      if (config[key] !== this.config[key]) throw new Error(`${key} cannot change on a reload (${this.config[key]} → ${config[key]}): restart kawatch to apply it`);
    }
    if (config.listen !== this.config.listen) {
      // Listen on the new address before letting go of anything: a busy port keeps the running configuration.
      await this.http.start(config.listen).catch((err: Error) => {
        throw new Error(`cannot listen on ${config.listen}: ${err.message}`);
      });
    }
    await this.stopParts();
    // The parts' loggers are children of this one: they follow its level.
    if (config.log_level !== this.config.log_level) this.options.log.level = config.log_level;
    this.config = config;
    await this.startParts(config);
  }

  async stop(): Promise<void> {
    await this.http.stop();
    await this.stopParts();
    await this.lastKnown.flush();
  }
}
