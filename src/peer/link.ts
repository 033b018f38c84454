import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { CoalescingTask } from '../core/coalescing-task.js';
import { parseListen } from '../core/listen.js';
import type { Change } from '../state/snapshot.js';
import type { StateStore } from '../state/store.js';
import { ReplayGuard } from './auth.js';
import { readSecret } from '../core/secret.js';
import { authenticate, EXCHANGE_PATH, MAX_BODY_BYTES, parseView, PeerRejected, readEnvelope, sealHeaders } from './protocol.js';
import { buildView } from './view.js';

export interface PeerLinkOptions {
  listen: string;
  secretFile: string;
  members: { name: string; address: string }[];
  intervalMs: number;
  timeoutMs: number;
  maxSkewMs: number;
}

/**
 * The secondary-link exchange with the other directors. One signed POST carries this node's
 * view and its answer carries the peer's: each exchange is both a push and a poll. Exchanges run
 * every interval and at once when the local state changes, so a second MASTER is known to both
 * sides within one round trip.
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
  private stopped = false;

  constructor(
    private readonly options: PeerLinkOptions,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {
    this.requestGuard = new ReplayGuard(options.maxSkewMs);
    this.answerGuard = new ReplayGuard(options.maxSkewMs);
    this.memberNames = new Set(options.members.map((m) => m.name));
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.secret = await readSecret(this.options.secretFile);
    this.store.apply({ type: 'peers-configured', peers: this.options.members });
    const { host, port } = parseListen(this.options.listen);
    const server = createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    for (const m of this.options.members) this.flights.set(m.name, new CoalescingTask(() => this.exchange(m)));
    this.timer = setInterval(() => this.exchangeAll(), this.options.intervalMs);
    this.exchangeAll();
    this.log.info({ listen: this.options.listen, peers: [...this.memberNames] }, 'peer API listening');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all([...this.flights.values()].map((f) => f.idle()));
    this.flights.clear();
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
    if (this.server && (c.type === 'transition' || c.type === 'addresses' || c.type === 'process')) this.exchangeAll();
  }

  private exchangeAll(): void {
    if (this.stopped) return;
    for (const flight of this.flights.values()) void flight.run();
  }

  private async exchange(member: { name: string; address: string }): Promise<void> {
    if (this.stopped) return;
    const body = Buffer.from(JSON.stringify(buildView(this.store.snapshot)));
    const self = this.store.snapshot.node;
    const headers = sealHeaders(this.secret, { method: 'POST', path: EXCHANGE_PATH, node: self, body }, Date.now());
    const started = performance.now();
    try {
      const res = await fetch(`http://${member.address}${EXCHANGE_PATH}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const answer = Buffer.from(await res.arrayBuffer());
      if (!res.ok) throw new Error(`answered ${res.status}: ${answer.toString('utf8').slice(0, 200)}`);
      if (answer.length > MAX_BODY_BYTES) throw new PeerRejected('too-large', `answer of ${answer.length} bytes`);
      const envelope = readEnvelope(res.headers);
      if (envelope.node !== member.name) throw new PeerRejected('unknown-node', `${member.address} answered as ${envelope.node}, expected ${member.name}`);
      authenticate(
        this.secret,
        envelope,
        { method: 'ANSWER', path: EXCHANGE_PATH, body: answer, requestNonce: headers['x-kawatch-nonce'] },
        { nodes: this.memberNames, guard: this.answerGuard, maxSkewMs: this.options.maxSkewMs, now: Date.now() },
      );
      const view = parseView(answer, member.name);
      const wasDown = this.store.snapshot.peers[member.name]?.lastError !== undefined;
      this.store.apply({ type: 'peer-view', at: Date.now(), peer: member.name, view, rttMs: performance.now() - started });
      if (wasDown) this.log.info({ peer: member.name }, 'peer reachable again');
    } catch (err) {
      if (err instanceof PeerRejected) this.store.apply({ type: 'peer-rejected', at: Date.now(), reason: err.reason });
      const error = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
      if (this.store.snapshot.peers[member.name]?.lastError === undefined) this.log.warn({ peer: member.name, error }, 'peer exchange failed');
      this.store.apply({ type: 'peer-error', at: Date.now(), peer: member.name, error });
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || req.url !== EXCHANGE_PATH) {
      res.writeHead(404).end();
      req.resume();
      return;
    }
    try {
      const body = await readBody(req);
      const envelope = readEnvelope(req.headers);
      authenticate(this.secret, envelope, { method: 'POST', path: EXCHANGE_PATH, body }, { nodes: this.memberNames, guard: this.requestGuard, maxSkewMs: this.options.maxSkewMs, now: Date.now() });
      const view = parseView(body, envelope.node);
      this.store.apply({ type: 'peer-view', at: Date.now(), peer: envelope.node, view });
      const answer = Buffer.from(JSON.stringify(buildView(this.store.snapshot)));
      const headers = sealHeaders(this.secret, { method: 'ANSWER', path: EXCHANGE_PATH, node: this.store.snapshot.node, body: answer, requestNonce: envelope.nonce }, Date.now());
      res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(answer);
    } catch (err) {
      const reason = err instanceof PeerRejected ? err.reason : 'malformed';
      this.store.apply({ type: 'peer-rejected', at: Date.now(), reason });
      this.log.warn({ reason, remote: req.socket.remoteAddress, error: (err as Error).message }, 'peer message refused');
      // The reason only, never the detail: a stranger learns nothing about the secret or the peers.
      res.writeHead(reason === 'too-large' ? 413 : reason === 'malformed' || reason === 'missing-header' ? 400 : 401, { 'content-type': 'text/plain' }).end(`refused: ${reason}\n`);
    }
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      req.destroy();
      throw new PeerRejected('too-large', `body larger than ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
