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
}

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

export function createApp({ store, registry, version, verdicts, actions, recent, streamedMetrics }: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Every route is GET (or HEAD): another method is answered at once and its connection closed, its
  // body never read (express's 404 would wait for all of it, read until requestTimeout).
  app.use((req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      next();
      return;
    }
    res.set({ allow: 'GET, HEAD', connection: 'close' }).status(405).type('text').send('method not allowed\n');
  });
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
  app.get('/', (_req, res) => {
    const page = renderStatusPage({ version, now: Date.now(), snapshot: store.snapshot, verdicts: verdicts(), actions: actions(), recent: recent() });
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
