import type { Agent, IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import { http } from '../core/http.js';
import { isIP } from 'node:net';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { CoalescingTask } from '../core/coalescing-task.js';
import { createLimitedServer, type ListenerLimits } from '../core/limited-server.js';
import { parseListen } from '../core/listen.js';
import { readSecret } from '../core/secret.js';
import type { MailAck, PeerView, PeerWire, RejectReason } from '../model/peer.js';
import type { Change } from '../state/snapshot.js';
import type { StateStore } from '../state/store.js';
import { HEADERS, ReplayGuard } from './auth.js';
import { admit, EXCHANGE_PATH, MAX_BODY_BYTES, parseView, PeerRejected, readCapped, readEnvelope, refuseCompressed, sealHeaders, verify, type Envelope } from './protocol.js';
import { buildView } from './view.js';
import { HEARTBEAT_PATH, MAX_STATEMENT_BYTES, parseStatement, type HeartbeatOptions } from './heartbeat.js';

export interface PeerLinkOptions {
  listen: string;
  secretFile: string;
  members: { name: string; address: string }[];
  intervalMs: number;
  timeoutMs: number;
  maxSkewMs: number;
  /** Refused messages are summed up in one warning per this interval. */
  refusalLogIntervalMs?: number;
  /** The mail this director sent for the group, told with every view (the mailer's ledger); absent without mail. */
  mailSent?: () => MailAck | undefined;
  /** What this director hears of VRRP (the observer's summary), told with every view; absent without the observer. */
  wire?: () => PeerWire | undefined;
  /** The prevent heartbeat (watchdog.policy prevent): asked of every peer this often, and answered. */
  heartbeat?: HeartbeatOptions;
}

/**
 * The peer listener serves a handful of directors, one exchange each per interval: a few
 * connections per source are plenty, and a peer that takes seconds to send a 256 KiB view is not
 * a peer worth waiting for.
 */
export const PEER_LIMITS: ListenerLimits = {
  maxConnections: 64,
  maxConnectionsPerSource: 8,
  headersTimeoutMs: 2000,
  requestTimeoutMs: 3000,
  keepAliveTimeoutMs: 5000,
  idleTimeoutMs: 3000,
};

const REFUSAL_LOG_INTERVAL_MS = 60_000;
/** Source addresses named in one refusal summary; the count covers the rest. */
const MAX_SOURCES_LOGGED = 8;

const STATUS_OF: Partial<Record<RejectReason, number>> = { 'too-large': 413, compressed: 415, malformed: 400, 'missing-header': 400 };

/**
 * Refusals come in floods when someone tries: one warning per interval with the count, the
 * reasons and a few source addresses — never what the stranger claimed to be or sent.
 */
class RefusalLog {
  private reasons = new Map<RejectReason, number>();
  private sources = new Set<string>();
  private total = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  note(reason: RejectReason, source: string): void {
    if (this.timer === undefined) {
      // The first refusal of a quiet spell is told at once; the rest wait for the summary.
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
      this.reasons.set(reason, 1);
      this.sources.add(source);
      this.total = 1;
      this.flush(false);
      return;
    }
    this.total++;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    if (this.sources.size < MAX_SOURCES_LOGGED) this.sources.add(source);
  }

  /** Writes what was counted; `endSpell` lets the next refusal be told at once again. */
  flush(endSpell = true): void {
    if (this.total > 0) this.log.warn({ refused: this.total, reasons: Object.fromEntries(this.reasons), sources: [...this.sources] }, 'peer messages refused');
    this.reasons = new Map();
    this.sources = new Set();
    this.total = 0;
    if (endSpell) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

interface Member {
  name: string;
  address: string;
}

/**
 * The secondary-link exchange with the other directors. One signed POST carries this node's
 * view and its answer carries the peer's: each exchange is both a push and a poll. Exchanges run
 * every interval and at once when the local state changes, so a second MASTER is known to both
 * sides within one round trip.
 *
 * Only the members' addresses may connect; a message is refused on its headers before its body
 * is read, and bodies both ways are read up to a byte cap and no further.
 */
export class PeerLink implements DaemonPart {
  readonly name = 'peers';
  private secret: Buffer = Buffer.alloc(0);
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private readonly flights = new Map<string, CoalescingTask>();
  private readonly requestGuard: ReplayGuard;
  private readonly answerGuard: ReplayGuard;
  private readonly memberNames: ReadonlySet<string>;
  private readonly refusals: RefusalLog;
  private allowedSources: ReadonlySet<string> = new Set();
  private stopped = false;
  private heartbeatTimer?: NodeJS.Timeout;
  /** Heartbeats reuse their connection: a fresh one every 100 ms would cost a handshake each. */
  private heartbeatAgent?: Agent;
  /** Members with a heartbeat under way: a slow one is not doubled, the next tick asks again. */
  private readonly beating = new Set<string>();
  /** Per member, when it sealed the view held now (its own clock): see `newestView`. */
  private readonly viewSealedAt = new Map<string, number>();

  constructor(
    private readonly options: PeerLinkOptions,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {
    this.requestGuard = new ReplayGuard(options.maxSkewMs);
    this.answerGuard = new ReplayGuard(options.maxSkewMs);
    this.memberNames = new Set(options.members.map((m) => m.name));
    this.refusals = new RefusalLog(log, options.refusalLogIntervalMs ?? REFUSAL_LOG_INTERVAL_MS);
  }

  async start(): Promise<void> {
    this.stopped = false;
    // Known before anything can fail: a link that cannot start still has its peers, unreachable, in kawatch_peer_up.
    this.store.apply({ type: 'peers-configured', peers: this.options.members });
    this.secret = await readSecret(this.options.secretFile);
    this.allowedSources = await memberSources(this.options.members);
    const { host, port } = parseListen(this.options.listen);
    const server = createLimitedServer((req, res) => void this.serve(req, res), PEER_LIMITS, {
      admit: (address) => this.allowedSources.has(address),
      onRefused: (reason, address) => this.refused(reason, address),
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const localAddress = isIP(host) && !['0.0.0.0', '::'].includes(host) ? host : undefined;
    for (const m of this.options.members) this.flights.set(m.name, new CoalescingTask(() => this.exchange(m, localAddress)));
    this.timer = setInterval(() => this.exchangeAll(), this.options.intervalMs);
    this.exchangeAll();
    const heartbeat = this.options.heartbeat;
    if (heartbeat) {
      this.heartbeatAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      this.heartbeatTimer = setInterval(() => {
        for (const m of this.options.members) if (!this.beating.has(m.name)) void this.heartbeat(m, localAddress, heartbeat);
      }, heartbeat.intervalMs);
    }
    this.log.info({ listen: this.options.listen, peers: [...this.memberNames] }, 'peer API listening');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.heartbeatTimer);
    this.heartbeatAgent?.destroy();
    this.heartbeatAgent = undefined;
    await Promise.all([...this.flights.values()].map((f) => f.idle()));
    this.flights.clear();
    this.refusals.flush();
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  /** What the peers' verdicts depend on changed here: tell them now rather than at the next poll. */
  onStateChange(c: Change): void {
    // A priority change moves the election the verdicts are drawn from: the peers hear it at once too.
    if (this.server && (c.type === 'transition' || c.type === 'priority' || c.type === 'addresses' || c.type === 'process')) this.exchangeAll();
  }

  /** Something the peers wait for changed here (the mail confirmed to them, a speaker heard or lost on the wire): tell them now. */
  announce(): void {
    if (this.server) this.exchangeAll();
  }

  private exchangeAll(): void {
    if (this.stopped) return;
    for (const flight of this.flights.values()) void flight.run();
  }

  private refused(reason: RejectReason, source: string): void {
    this.store.apply({ type: 'peer-rejected', at: Date.now(), reason });
    this.refusals.note(reason, source);
  }

  private ownView(): Buffer {
    return Buffer.from(JSON.stringify(buildView(this.store.snapshot, this.options.mailSent?.(), this.options.wire?.())));
  }

  private expectation(now: number) {
    return { nodes: this.memberNames, maxSkewMs: this.options.maxSkewMs, now };
  }

  /**
   * A member's views come two ways at once (its answers to our exchanges, its own pushes), so an
   * older one can arrive after a newer: one sealed before the view held now is dropped, or a
   * verdict would be drawn again from a state the member has left (a split brain raised anew on
   * a MASTER that just stepped down). Only within the time an exchange can be under way: a view
   * older by more is the member's clock stepped back, and is taken.
   */
  private newestView(member: string, sealedAt: number): boolean {
    const held = this.viewSealedAt.get(member);
    if (held !== undefined && sealedAt < held && held - sealedAt <= 2 * this.options.timeoutMs) return false;
    this.viewSealedAt.set(member, sealedAt);
    return true;
  }

  private applyView(member: string, sealedAt: number, view: PeerView, rttMs?: number): void {
    if (!this.newestView(member, sealedAt)) return;
    this.store.apply({ type: 'peer-view', at: Date.now(), peer: member, view, ...(rttMs !== undefined && { rttMs }) });
  }

  /**
   * One signed request to a member, and its answer's body with the time the member sealed it, once verified as the
   * member's answer to this very request. One deadline for the whole call, answer body included: a
   * peer that trickles is a peer that failed.
   */
  private async call(member: Member, path: string, body: Buffer, options: { localAddress?: string; timeoutMs: number; limit: number; agent?: Agent }): Promise<{ answer: Buffer; sealedAt: number }> {
    const self = this.store.snapshot.node;
    const headers = sealHeaders(this.secret, { method: 'POST', path, node: self, recipient: member.name, body }, Date.now());
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
    try {
      const res = await post(member.address, path, { ...headers, 'content-type': 'application/json', 'accept-encoding': 'identity' }, body, { localAddress: options.localAddress, signal: deadline.signal, agent: options.agent });
      let envelope: Envelope;
      let answer: Buffer;
      try {
        // The peer's words count only once signed: an error status is told by its number alone.
        if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}`);
        envelope = readEnvelope(res.headers);
        if (envelope.node !== member.name) throw new PeerRejected('unknown-node', `${member.address} answered as another node than ${member.name}`);
        admit(envelope, this.expectation(Date.now()));
        refuseCompressed(res.headers['content-encoding']);
        answer = await readCapped(res, options.limit, res.headers['content-length']);
      } finally {
        if (!res.complete) res.destroy();
      }
      verify(this.secret, envelope, { method: 'ANSWER', path, recipient: self, body: answer, requestNonce: headers[HEADERS.nonce] }, { ...this.expectation(Date.now()), guard: this.answerGuard });
      return { answer, sealedAt: envelope.timestamp };
    } catch (err) {
      if (deadline.signal.aborted && !(err instanceof PeerRejected)) throw new Error(`no complete answer within ${options.timeoutMs} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async exchange(member: Member, localAddress: string | undefined): Promise<void> {
    if (this.stopped) return;
    const started = performance.now();
    try {
      const { answer, sealedAt } = await this.call(member, EXCHANGE_PATH, this.ownView(), { localAddress, timeoutMs: this.options.timeoutMs, limit: MAX_BODY_BYTES });
      const view = parseView(answer, member.name);
      const wasDown = this.store.snapshot.peers[member.name]?.lastError !== undefined;
      this.applyView(member.name, sealedAt, view, performance.now() - started);
      if (wasDown) this.log.info({ peer: member.name }, 'peer reachable again');
    } catch (err) {
      if (err instanceof PeerRejected) this.store.apply({ type: 'peer-rejected', at: Date.now(), reason: err.reason });
      const error = describeError(err);
      if (this.store.snapshot.peers[member.name]?.lastError === undefined) this.log.warn({ peer: member.name, error }, 'peer exchange failed');
      this.store.apply({ type: 'peer-error', at: Date.now(), peer: member.name, error });
    }
  }

  /** Asks a member for its statement; one that does not come simply ages, as the exchange tells the link's health. */
  private async heartbeat(member: Member, localAddress: string | undefined, options: HeartbeatOptions): Promise<void> {
    if (this.stopped) return;
    this.beating.add(member.name);
    const sentAt = Date.now();
    try {
      const { answer } = await this.call(member, HEARTBEAT_PATH, Buffer.alloc(0), { localAddress, timeoutMs: options.timeoutMs, limit: MAX_STATEMENT_BYTES, agent: this.heartbeatAgent });
      if (!this.stopped) options.onStatement(member.name, parseStatement(answer, member.name), sentAt);
    } catch (err) {
      if (err instanceof PeerRejected) this.store.apply({ type: 'peer-rejected', at: Date.now(), reason: err.reason });
    } finally {
      this.beating.delete(member.name);
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const heartbeat = this.options.heartbeat;
    const path = req.url === EXCHANGE_PATH || (heartbeat && req.url === HEARTBEAT_PATH) ? req.url : undefined;
    if (req.method !== 'POST' || path === undefined) {
      refuse(res, 404, 'not found');
      return;
    }
    try {
      const envelope = readEnvelope(req.headers);
      admit(envelope, this.expectation(Date.now()));
      refuseCompressed(req.headers['content-encoding']);
      const body = await readCapped(req, path === EXCHANGE_PATH ? MAX_BODY_BYTES : 0, req.headers['content-length']);
      const self = this.store.snapshot.node;
      verify(this.secret, envelope, { method: 'POST', path, recipient: self, body }, { ...this.expectation(Date.now()), guard: this.requestGuard });
      let answer: Buffer;
      if (path === EXCHANGE_PATH) {
        this.applyView(envelope.node, envelope.timestamp, parseView(body, envelope.node));
        answer = this.ownView();
      } else {
        answer = Buffer.from(JSON.stringify(await heartbeat!.statement()));
      }
      const headers = sealHeaders(this.secret, { method: 'ANSWER', path, node: self, recipient: envelope.node, body: answer, requestNonce: envelope.nonce }, Date.now());
      res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(answer);
    } catch (err) {
      const reason = err instanceof PeerRejected ? err.reason : 'malformed';
      this.refused(reason, req.socket.remoteAddress ?? '');
      // The reason only, never the detail: a stranger learns nothing about the secret or the peers.
      refuse(res, STATUS_OF[reason] ?? 401, `refused: ${reason}`);
    }
  }
}

/**
 * Answers and closes: the rest of a refused body is never read (Node would otherwise drain it to
 * keep the connection alive).
 */
function refuse(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.once('finish', () => res.socket?.destroySoon());
  res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end(`${text}\n`);
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

/** The addresses the members connect from: those of their peer APIs, names resolved once at start. */
async function memberSources(members: readonly Member[]): Promise<ReadonlySet<string>> {
  const sources = new Set<string>();
  for (const member of members) {
    const { host } = parseListen(member.address);
    if (isIP(host)) {
      sources.add(host);
      continue;
    }
    // The resolver only for members named by host name: with addresses, the daemon never loads it.
    const { lookup } = await import('node:dns/promises');
    const found = await lookup(host, { all: true }).catch((err: Error) => {
      throw new Error(`peers.members ${member.name}: cannot resolve ${host}: ${err.message}`);
    });
    for (const a of found) sources.add(a.address);
  }
  return sources;
}

/**
 * A POST that resolves with the answer's head; the caller reads (or refuses) the body. A fresh
 * connection each time unless an agent is given: one exchange per interval is cheap, and nothing
 * is left half-read.
 */
function post(address: string, path: string, headers: OutgoingHttpHeaders, body: Buffer, options: { localAddress?: string; signal: AbortSignal; agent?: Agent }): Promise<IncomingMessage> {
  const { host, port } = parseListen(address);
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method: 'POST', path, headers: { ...headers, 'content-length': body.length }, agent: options.agent ?? false, localAddress: options.localAddress, signal: options.signal }, resolve);
    req.once('error', reject);
    req.end(body);
  });
}
