import express from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import { parseListen } from '../core/listen.js';
import { createLimitedServer, HTTP_LIMITS, SCRAPE_IDLE_TIMEOUT_MS, type ListenerLimits } from '../core/limited-server.js';
import type { Server, ServerResponse } from 'node:http';
import type { DaemonPart } from '../core/daemon-part.js';
import type { HistoryEntry } from '../jobs/history.js';
import type { StateStore } from '../state/store.js';
import type { Verdict } from '../watchdog/diagnose.js';
import type { JournalEntry } from '../watchdog/journal.js';
import { renderStatusPage, STATUS_PAGE_HEADERS } from './status-page.js';
import { bearerMatches } from '../core/api-token.js';
import type { Drills } from '../drill/drills.js';
import { parseDrillRequest, parseRestoreRequest } from '../drill/api.js';

export interface AppContext {
  store: StateStore;
  registry: Registry;
  version: string;
  verdicts: () => Verdict[];
  actions: () => readonly JournalEntry[];
  /** Series written after prom-client's, chunk by chunk: the IPVS table can be 100k backends. */
  streamedMetrics?: () => Promise<Iterable<string> | undefined>;
  /** Recent transitions, verdicts and actions, oldest first: the status page's history. */
  recent: () => readonly HistoryEntry[];
  /** The failover drills of the running configuration. */
  drills?: () => Pick<Drills, 'request' | 'restore' | 'status'> | undefined;
  /** The bearer token the mutating routes require (state_dir/api.token); undefined: they refuse everyone. */
  apiToken?: () => string | undefined;
}

/** The largest request body a mutating route reads: a drill request is a few hundred bytes. */
const MAX_BODY = '16kb';

/** Writes the chunks as the client takes them, so a large body is never held whole. */
async function writeChunks(res: ServerResponse, ...parts: Iterable<string>[]): Promise<void> {
  for (const part of parts) {
    for (const chunk of part) {
      if (res.destroyed) return;
      if (!res.write(chunk)) await drained(res);
    }
  }
  res.end();
}

/** Resolves when the client has taken what was written, or has gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

export function createApp({ store, registry, version, verdicts, actions, recent, streamedMetrics, drills, apiToken }: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // What changes the group (a drill) is for this director's root only: the token in state_dir proves it.
  const local: express.RequestHandler = (req, res, next) => {
    if (bearerMatches(req.get('authorization'), apiToken?.())) next();
    else res.status(401).json({ error: 'this route needs Authorization: Bearer <the token in state_dir/api.token>; run `kawatch drill` on the director itself' });
  };
  const json = express.json({ limit: MAX_BODY, strict: true });
  app.get('/metrics', async (req, res, next) => {
    req.socket.setTimeout(SCRAPE_IDLE_TIMEOUT_MS);
    try {
      const [body, streamed] = await Promise.all([registry.metrics(), streamedMetrics?.()]);
      res.type(registry.contentType);
      if (!streamed) {
        res.send(body);
        return;
      }
      await writeChunks(res, [body], streamed);
    } catch (err) {
      next(err);
    }
  });
  app.get('/api/v1/drill', (_req, res) => {
    const part = drills?.();
    res.json(part ? part.status : { reports: [] });
  });
  app.post('/api/v1/drill', local, json, (req, res) => {
    const part = drills?.();
    if (!part) return void res.status(503).json({ error: 'drills are not running (the daemon is starting or reloading)' });
    const request = parseDrillRequest(req.body);
    if (typeof request === 'string') return void res.status(400).json({ error: `invalid drill request: ${request}` });
    const answer = part.request(request);
    res.status(answer.status === 'refused' ? 409 : answer.status === 'started' ? 202 : 200).json(answer);
  });
  app.post('/api/v1/drill/restore', local, json, async (req, res, next) => {
    const part = drills?.();
    if (!part) return void res.status(503).json({ error: 'drills are not running (the daemon is starting or reloading)' });
    const request = parseRestoreRequest(req.body);
    if (typeof request === 'string') return void res.status(400).json({ error: `invalid restore request: ${request}` });
    try {
      await part.restore(request.instance, request.mode);
      res.json({ status: 'restored', instance: request.instance });
    } catch (err) {
      next(err);
    }
  });
  app.get('/', (_req, res) => {
    const page = renderStatusPage({ version, now: Date.now(), snapshot: store.snapshot, verdicts: verdicts(), actions: actions(), recent: recent(), lastDrill: drills?.()?.status.reports.at(-1) });
    res.set(STATUS_PAGE_HEADERS).type('html').send(page);
  });
  app.get('/api/v1/state', (_req, res) => {
    res.json({ version, generatedAt: new Date().toISOString(), ...store.snapshot, verdicts: verdicts(), actions: actions() });
  });
  app.get('/healthz', (_req, res) => {
    const s = store.snapshot;
    const sources = Object.fromEntries(Object.entries(s.sources).filter(([, h]) => h.enabled).map(([name, h]) => [name, h.up ? 'up' : 'down']));
    res.json({ status: 'ok', keepalived: s.keepalived.up ? 'up' : 'down', sources });
  });
  return app;
}

/** The metrics/API listener. */
export class HttpServer implements DaemonPart {
  readonly name = 'http';
  private server?: Server;

  constructor(
    private listen: string,
    private readonly app: express.Express,
    private readonly log: Logger,
    private readonly limits: ListenerLimits = HTTP_LIMITS,
  ) {}

  get address(): string | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : undefined;
  }

  /** Listens on `listen`; when already listening elsewhere, lets go of the old address only once the new one is taken. */
  async start(listen = this.listen): Promise<void> {
    const { host, port } = parseListen(listen);
    const server = await new Promise<Server>((resolve, reject) => {
      const s = createLimitedServer(this.app, this.limits);
      s.once('listening', () => resolve(s));
      s.once('error', reject);
      s.listen(port, host);
    });
    const previous = this.server;
    this.server = server;
    this.listen = listen;
    if (previous) await close(previous);
    this.log.info({ address: this.address }, 'listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await close(server);
  }
}

function close(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
