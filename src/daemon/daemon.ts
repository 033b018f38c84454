import type { Config } from '../config/schema.js';
import type { Logger } from '../core/log.js';
import { createApp, HttpServer } from '../http/server.js';
import { DumpSource } from '../keepalived/dump-source.js';
import { FifoSource } from '../keepalived/fifo-source.js';
import { HookSource } from '../keepalived/hook-source.js';
import { ProcessSource } from '../keepalived/process.js';
import { createRegistry } from '../metrics/registry.js';
import { AddressSource } from '../netlink/address-source.js';
import type { SourceName } from '../state/model.js';
import { StateStore } from '../state/store.js';
import type { Part } from '../core/part.js';

/** A part that feeds the store; its name is the source it reports health for. */
type SourcePart = Part & { readonly name: SourceName };
import { VERSION } from '../version.js';

const PROCESS_POLL_MS = 1000;

export interface DaemonOptions {
  log: Logger;
  /** process_* / nodejs_* metrics; off in golden tests. */
  processMetrics?: boolean;
}

/**
 * The one wiring place: builds the context (store, registry, HTTP app) and starts the parts in
 * order — spooled hook events first, so a replay is never mistaken for news by a later dump —
 * and stops them in reverse.
 */
export class Daemon {
  readonly store: StateStore;
  private readonly http: HttpServer;
  private sources: SourcePart[] = [];
  private config: Config;

  constructor(config: Config, private readonly options: DaemonOptions) {
    this.config = config;
    this.store = new StateStore(config.node_name, options.log);
    const registry = createRegistry(this.store, { version: VERSION, processMetrics: options.processMetrics ?? true });
    this.http = new HttpServer(config.listen, createApp(this.store, registry, VERSION), options.log);
    this.store.events.on('change', (change) => {
      if (change.type === 'transition') options.log.info({ part: 'state', ...change }, `${change.scope} ${change.name}: ${change.from} -> ${change.to}`);
    });
  }

  get listenAddress(): string | undefined {
    return this.http.address;
  }

  private buildSources(config: Config): SourcePart[] {
    const { log } = this.options;
    const { hook, fifo, netlink, dump } = config.sources;
    const parts: SourcePart[] = [];
    if (hook.enabled) parts.push(new HookSource(hook.spool_dir, this.store, log.child({ part: 'hook' })));
    if (fifo.enabled) parts.push(new FifoSource(fifo.paths, { create: fifo.create, checkIntervalMs: fifo.check_interval }, this.store, log.child({ part: 'fifo' })));
    if (netlink.enabled) parts.push(new AddressSource(this.store, log.child({ part: 'netlink' })));
    parts.push(new ProcessSource(config.keepalived.pid_file, config.procfs, PROCESS_POLL_MS, this.store, log.child({ part: 'process' })));
    if (dump.enabled) {
      parts.push(
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
          },
          this.store,
          log.child({ part: 'dump' }),
        ),
      );
    }
    return parts;
  }

  async start(): Promise<void> {
    await this.startSources(this.config);
    await this.http.start();
  }

  private async startSources(config: Config): Promise<void> {
    this.sources = this.buildSources(config);
    for (const part of this.sources) {
      try {
        await part.start();
      } catch (err) {
        // A source that cannot start is reported, not fatal: the others still tell the truth.
        this.options.log.error({ part: part.name, err }, 'source failed to start');
        this.store.apply({ type: 'source-error', source: part.name, at: Date.now(), error: (err as Error).message });
      }
    }
  }

  private async stopSources(): Promise<void> {
    for (const part of [...this.sources].reverse()) {
      await part.stop().catch((err: unknown) => this.options.log.error({ part: part.name, err }, 'stop failed'));
    }
    this.sources = [];
  }

  /** Apply a new, already validated configuration; the state store (and so history) survives. */
  async reload(config: Config): Promise<void> {
    await this.stopSources();
    const listenChanged = config.listen !== this.config.listen;
    this.config = config;
    await this.startSources(config);
    if (listenChanged) {
      await this.http.stop();
      await this.http.start(config.listen);
    }
  }

  async stop(): Promise<void> {
    await this.http.stop();
    await this.stopSources();
  }
}
