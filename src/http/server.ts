import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import { parseListen } from '../core/listen.js';
import { createLimitedServer, HTTP_LIMITS, SCRAPE_IDLE_TIMEOUT_MS, type ListenerLimits } from '../core/limited-server.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
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

/** The listener's answer to one request; a rejection is answered 500 (or cuts a body already under way) and logged. */
export type AppHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const JSON_TYPE = 'application/json; charset=utf-8';
const HTML_TYPE = 'text/html; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

/** A whole body with its length, so a HEAD answer (Node drops its body) shows the length a GET gets. */
function send(res: ServerResponse, status: number, type: string, body: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The request's path without its query, one trailing slash ignored (`/healthz/` is `/healthz`). */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * The metrics/API routes on Node's own HTTP server: four GET routes (HEAD answered alike) need no
 * framework, and one would cost the daemon more memory than everything it serves.
 */
export function createApp({ store, registry, version, verdicts, actions, recent, streamedMetrics }: AppContext): AppHandler {
  const routes: Readonly<Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>>> = {
    '/metrics': async (req, res) => {
      req.socket.setTimeout(SCRAPE_IDLE_TIMEOUT_MS);
      const [body, streamed] = await Promise.all([registry.metrics(), streamedMetrics?.()]);
      if (!streamed) {
        send(res, 200, registry.contentType, body);
        return;
      }
      res.writeHead(200, { 'Content-Type': registry.contentType });
      await writeChunks(res, [body], streamed);
    },
    '/': (_req, res) => {
      const page = renderStatusPage({ version, now: Date.now(), snapshot: store.snapshot, verdicts: verdicts(), actions: actions(), recent: recent() });
      send(res, 200, HTML_TYPE, page, STATUS_PAGE_HEADERS);
    },
    '/api/v1/state': (_req, res) => {
      send(res, 200, JSON_TYPE, JSON.stringify({ version, generatedAt: new Date().toISOString(), ...store.snapshot, verdicts: verdicts(), actions: actions() }));
    },
    '/healthz': (_req, res) => {
      const s = store.snapshot;
      const sources = Object.fromEntries(Object.entries(s.sources).filter(([, h]) => h.enabled).map(([name, h]) => [name, h.up ? 'up' : 'down']));
      send(res, 200, JSON_TYPE, JSON.stringify({ status: 'ok', keepalived: s.keepalived.up ? 'up' : 'down', sources }));
    },
  };
  return async (req, res) => {
    const path = pathOf(req);
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) return send(res, 404, TEXT_TYPE, `no such page: ${path}; try /metrics, /healthz, /api/v1/state or /\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, TEXT_TYPE, `${path} answers GET and HEAD, not ${req.method}\n`, { Allow: 'GET, HEAD' });
    await route(req, res);
  };
}

/** The metrics/API listener. */
export class HttpServer implements DaemonPart {
  readonly name = 'http';
  private server?: Server;

  constructor(
    private listen: string,
    private readonly app: AppHandler,
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
      const s = createLimitedServer((req, res) => void this.app(req, res).catch((err: unknown) => this.failed(req, res, err)), this.limits);
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

  /** A route that threw: said in the log; the client gets a 500, or a cut connection when the body had begun. */
  private failed(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    this.log.error({ path: pathOf(req), error: (err as Error).message }, 'request failed');
    if (res.headersSent) res.destroy();
    else send(res, 500, TEXT_TYPE, 'internal error\n');
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
