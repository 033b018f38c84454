import type { DaemonPart } from '../core/daemon-part.js';
import type { Logger } from '../core/log.js';
import { parseKeepalivedConf } from '../keepalived/conf/parse.js';
import type { WireInterface, WireListener, WireSpeaker, WireView } from '../model/wire.js';
import { wireConfOf } from './conf.js';
import { parseDatagram, type MalformedReason } from './packet.js';
import { SpeakerTable } from './speakers.js';
import { listen } from './socket.js';

export interface WireObserverOptions {
  /** The interfaces to listen on; empty: those of keepalived.conf's vrrp_instances. */
  interfaces: readonly string[];
  /** Read for the default interfaces and the simple passwords adverts are checked against. */
  configFile: string;
  /** A speaker silent this long is forgotten. */
  forgetAfterMs: number;
  /** How often an interface that could not be listened on is tried again. */
  retryMs: number;
  /** Something the peers should hear of at once: a speaker appeared, fell silent, was heard again or was forgotten. */
  onChange?: () => void;
  now?: () => number;
}

/** How often speakers are looked at for having fallen silent: a small part of the shortest advert interval keepalived allows in practice. */
const SILENCE_CHECK_MS = 100;

interface Listening {
  state: { up: boolean; since?: number; lastError?: string };
  malformed: Map<MalformedReason, number>;
  close: (() => void)[];
}

/**
 * The passive VRRP observer: raw sockets for IP protocol 112 (IPv4 and IPv6) on each VRRP
 * interface, every advert parsed and checked (packet.ts), every speaker kept per interface and VRID
 * (speakers.ts). It never sends. An interface it cannot listen on (missing, no CAP_NET_RAW) is said
 * once, shown in kawatch_vrrp_wire_listening and tried again every `retryMs`; the others go on.
 */
export class WireObserver implements DaemonPart, WireListener {
  readonly name = 'vrrp-wire';
  private readonly table: SpeakerTable;
  private readonly listening = new Map<string, Listening>();
  private passwords = new Map<string, Uint8Array>();
  private timer?: NodeJS.Timeout;
  private silenceTimer?: NodeJS.Timeout;
  /** The speakers silent at the last look, to tell the peers when one falls silent. */
  private silentBefore = new Set<string>();
  private readonly now: () => number;

  constructor(
    private readonly options: WireObserverOptions,
    private readonly log: Logger,
  ) {
    this.table = new SpeakerTable(options.forgetAfterMs);
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    const conf = await parseKeepalivedConf(this.options.configFile).then(wireConfOf, (err: Error) => {
      this.log.warn({ config_file: this.options.configFile, error: err.message }, 'cannot read keepalived.conf: adverts are not checked against its passwords');
      return { interfaces: [], passwords: new Map<string, Uint8Array>() };
    });
    this.passwords = conf.passwords;
    const interfaces = this.options.interfaces.length > 0 ? this.options.interfaces : conf.interfaces;
    if (interfaces.length === 0) this.log.warn({ config_file: this.options.configFile }, 'no interface to listen on: set vrrp_wire.interfaces, or give keepalived.conf vrrp_instances');
    for (const intf of interfaces) this.listening.set(intf, { state: { up: false }, malformed: new Map(), close: [] });
    this.openMissing();
    this.timer = setInterval(() => this.tick(), this.options.retryMs);
    this.timer.unref();
    this.silenceTimer = setInterval(() => this.lookForSilence(), SILENCE_CHECK_MS);
    this.silenceTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.silenceTimer);
    this.timer = this.silenceTimer = undefined;
    for (const [intf, l] of this.listening) {
      l.close.forEach((close) => close());
      this.table.dropInterface(intf);
    }
    this.listening.clear();
  }

  private tick(): void {
    this.openMissing();
    if (this.table.expire(this.now())) this.options.onChange?.();
  }

  /** A speaker falling silent is news the moment it happens (a cut link shows within about one advert interval). */
  private lookForSilence(): void {
    const silent = this.table.silent(this.now());
    const fell = [...silent].some((key) => !this.silentBefore.has(key));
    this.silentBefore = silent;
    if (fell) this.options.onChange?.();
  }

  private openMissing(): void {
    for (const [intf, l] of this.listening) {
      if (l.state.up) continue;
      try {
        // IPv4 is required; IPv6 may be switched off on the interface, and then only its adverts are missed.
        l.close.push(listen(intf, 4, (data, source, destination, _ifindex, ttl) => this.receive(intf, l, { family: 4, data, source, destination, hopLimit: ttl })));
        try {
          l.close.push(listen(intf, 6, (data, source, destination, _ifindex, ttl) => this.receive(intf, l, { family: 6, data, source, destination, hopLimit: ttl })));
        } catch (err) {
          this.log.info({ intf, error: (err as Error).message }, 'no IPv6 VRRP listener on this interface: IPv4 only');
        }
        l.state = { up: true, since: this.now() };
        this.log.info({ intf }, 'listening to VRRP adverts');
      } catch (err) {
        const error = (err as Error).message;
        l.close.forEach((close) => close());
        l.close = [];
        if (l.state.lastError !== error) this.log.warn({ intf, error }, 'cannot listen to VRRP adverts on this interface (tried again later)');
        l.state = { up: false, lastError: error };
      }
    }
  }

  private receive(intf: string, l: Listening, datagram: Parameters<typeof parseDatagram>[0]): void {
    const parsed = parseDatagram(datagram, { passwordFor: (vrid) => this.passwords.get(`${intf}|${vrid}`) });
    if (!parsed.ok) {
      l.malformed.set(parsed.reason, (l.malformed.get(parsed.reason) ?? 0) + 1);
      return;
    }
    const outcome = this.table.record(intf, parsed.advert, this.now());
    // A speaker heard again after falling silent is news as much as a new one: the peers' verdicts change with it.
    const key = `${intf}|${parsed.advert.vrid}|${parsed.advert.source}`;
    if (outcome === 'new' || this.silentBefore.delete(key)) this.options.onChange?.();
  }

  speakersOf(intf: string, vrid: number): readonly WireSpeaker[] {
    return this.table.speakersOf(intf, vrid);
  }

  view(now = this.now()): WireView {
    const interfaces: WireInterface[] = [...this.listening].map(([intf, l]) => ({ intf, ...l.state, malformed: Object.fromEntries(l.malformed) }));
    return { at: now, interfaces, vrids: this.table.vrids() };
  }
}
