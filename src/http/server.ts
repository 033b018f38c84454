import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import { parseListen } from '../core/listen.js';
import { createLimitedServer, HTTP_LIMITS, SCRAPE_IDLE_TIMEOUT_MS, type ListenerLimits } from '../core/limited-server.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { DaemonPart } from '../core/daemon-part.js';
import type { HistoryEntry } from '../jobs/history.js';
import type { StateStore } from '../state/store.js';
import type { Verdict } from '../watchdog/diagnose.js';
import type { JournalEntry } from '../watchdog/journal.js';
import { renderStatusPage, STATUS_PAGE_HEADERS, type StatusView } from './status-page.js';
import { bearerMatches } from '../core/api-token.js';
import { acceptsGzip, createGzipStream } from './compression.js';
import type { Drills } from '../drill/drills.js';
import { parseDrillRequest, parseRestoreRequest } from '../drill/api.js';

export interface AppContext {
  store: StateStore;
  registry: Registry;
  version: string;
  verdicts: () => Verdict[];
  actions: () => readonly JournalEntry[];
  /** Series written after prom-client's, chunk by chunk: the IPVS table can be 100k backends. */
  streamedMetrics?: () => Promise<Iterable<string | Uint8Array> | undefined>;
  /** Takes back a streamed chunk once the socket has written it, so that its buffer serves the next. */
  recycleChunk?: (chunk: Uint8Array) => void;
  /** Recent transitions, verdicts and actions, oldest first: the status page's history. */
  recent: () => readonly HistoryEntry[];
  /** The failover drills of the running configuration. */
  drills?: () => Pick<Drills, 'request' | 'restore' | 'status' | 'summary'> | undefined;
  /** The bearer token the mutating routes require (state_dir/api.token); undefined: they refuse everyone. */
  apiToken?: () => string | undefined;
}

/** The largest request body a mutating route reads: a drill request is a few hundred bytes. */
const MAX_BODY = 16 * 1024;

/**
 * Writes the chunks as `out` takes them, so a large body is never held whole. A byte chunk goes to
 * `recycle` once written, never before; the one or two a cut connection held may not come back
 * (Node calls no callback for them) and are left to the collector.
 */
async function writeChunks(out: Writable, recycle: ((chunk: Uint8Array) => void) | undefined, parts: readonly Iterable<string | Uint8Array>[]): Promise<void> {
  for (const part of parts) {
    for (const chunk of part) {
      if (out.destroyed) return;
      const written = typeof chunk === 'string' || !recycle ? out.write(chunk) : out.write(chunk, () => recycle(chunk));
      if (!written) await drained(out);
    }
  }
  out.end();
}

/** Resolves when `out` has taken what was written, or has gone. */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done).off('close', done);
      resolve();
    };
    out.on('drain', done).on('close', done);
  });
}

/**
 * The exposition, gzipped when the scraper takes it (Prometheus asks by default; at 100k real
 * servers that is 21× fewer bytes on the wire), prom-client's series first. A byte chunk is
 * recycled once zlib has read it. A scraper that leaves mid-answer is no failure of the daemon's,
 * compressed or not.
 */
async function sendExposition(req: IncomingMessage, res: ServerResponse, type: string, body: string, streamed: Iterable<string | Uint8Array> | undefined, recycle?: (chunk: Uint8Array) => void): Promise<void> {
  const parts = streamed ? [[body], streamed] : [[body]];
  if (!acceptsGzip(req.headers['accept-encoding'])) {
    if (!streamed) return send(res, 200, type, body, VARY);
    res.writeHead(200, { ...VARY, 'Content-Type': type });
    return writeChunks(res, recycle, parts);
  }
  res.writeHead(200, { ...VARY, 'Content-Type': type, 'Content-Encoding': 'gzip' });
  const compressor = createGzipStream();
  const sent = pipeline(compressor, res).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  });
  await Promise.all([sent, writeChunks(compressor, recycle, parts)]);
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

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Readonly<Record<string, string>> = {}): void {
  send(res, status, JSON_TYPE, JSON.stringify(value), headers);
}

const CLOSE: Readonly<Record<string, string>> = { Connection: 'close' };
/** Caches must not give a gzipped exposition to a client that did not ask for one, nor the other way round. */
const VARY: Readonly<Record<string, string>> = { Vary: 'Accept-Encoding' };

/** The request's path without its query, one trailing slash ignored (`/healthz/` is `/healthz`). */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** A JSON request body of at most MAX_BODY bytes, or what is wrong with it (answered 400 or 413). */
async function readJsonBody(req: IncomingMessage): Promise<{ value: unknown } | { status: number; error: string }> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) return { status: 415, error: `expected Content-Type: application/json, got ${JSON.stringify(type)}` };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return { status: 413, error: `request body over ${MAX_BODY} bytes` };
    chunks.push(chunk);
  }
  try {
    return { value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch (err) {
    return { status: 400, error: `request body is not JSON: ${(err as Error).message}` };
  }
}

type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** What the status page shows of the drills. */
function drillView(drills: Pick<Drills, 'status' | 'summary'> | undefined): StatusView['drill'] {
  if (!drills) return undefined;
  const { running, reports } = drills.status;
  return { last: reports.at(-1), lastSuccessAt: drills.summary.lastSuccessAt, running: running && { instance: running.instance, step: running.step, since: running.since } };
}

/**
 * The metrics/API routes on Node's own HTTP server: a handful of routes need no framework, and one
 * would cost the daemon more memory than everything it serves. GET routes answer HEAD alike; the
 * POST routes (drills, which change the group) are for this director's root only: the token in
 * state_dir proves it.
 */
export function createApp({ store, registry, version, verdicts, actions, recent, streamedMetrics, recycleChunk, drills, apiToken }: AppContext): AppHandler {
  const withDrills =
    (answer: (part: NonNullable<ReturnType<NonNullable<AppContext['drills']>>>, body: unknown, res: ServerResponse) => void | Promise<void>): Route =>
    async (req, res) => {
      if (!bearerMatches(req.headers.authorization, apiToken?.())) {
        return sendJson(res, 401, { error: 'this route needs Authorization: Bearer <the token in state_dir/api.token>; run `kawatch drill` on the director itself' }, CLOSE);
      }
      const body = await readJsonBody(req);
      if ('error' in body) return sendJson(res, body.status, { error: body.error }, CLOSE);
      const part = drills?.();
      if (!part) return sendJson(res, 503, { error: 'drills are not running (the daemon is starting or reloading)' });
      await answer(part, body.value, res);
    };
  const get: Readonly<Record<string, Route>> = {
    '/metrics': async (req, res) => {
      req.socket.setTimeout(SCRAPE_IDLE_TIMEOUT_MS);
      const [body, streamed] = await Promise.all([registry.metrics(), streamedMetrics?.()]);
      await sendExposition(req, res, registry.contentType, body, streamed, recycleChunk);
    },
    '/': (_req, res) => {
      const page = renderStatusPage({ version, now: Date.now(), snapshot: store.snapshot, verdicts: verdicts(), actions: actions(), recent: recent(), drill: drillView(drills?.()) });
      send(res, 200, HTML_TYPE, page, STATUS_PAGE_HEADERS);
    },
    '/api/v1/state': (_req, res) => {
      sendJson(res, 200, { version, generatedAt: new Date().toISOString(), ...store.snapshot, verdicts: verdicts(), actions: actions() });
    },
    '/api/v1/drill': (_req, res) => {
      sendJson(res, 200, drills?.()?.status ?? { reports: [] });
    },
    '/healthz': (_req, res) => {
      const s = store.snapshot;
      const sources = Object.fromEntries(Object.entries(s.sources).filter(([, h]) => h.enabled).map(([name, h]) => [name, h.up ? 'up' : 'down']));
      sendJson(res, 200, { status: 'ok', keepalived: s.keepalived.up ? 'up' : 'down', sources });
    },
  };
  const post: Readonly<Record<string, Route>> = {
    '/api/v1/drill': withDrills((part, body, res) => {
      const request = parseDrillRequest(body);
      if (typeof request === 'string') return sendJson(res, 400, { error: `invalid drill request: ${request}` });
      const answer = part.request(request);
      sendJson(res, answer.status === 'refused' ? 409 : answer.status === 'started' ? 202 : 200, answer);
    }),
    '/api/v1/drill/restore': withDrills(async (part, body, res) => {
      const request = parseRestoreRequest(body);
      if (typeof request === 'string') return sendJson(res, 400, { error: `invalid restore request: ${request}` });
      await part.restore(request.instance, request.mode);
      sendJson(res, 200, { status: 'restored', instance: request.instance });
    }),
  };
  return async (req, res) => {
    const path = pathOf(req);
    const getRoute = Object.hasOwn(get, path) ? get[path] : undefined;
    const postRoute = Object.hasOwn(post, path) ? post[path] : undefined;
    // An answer that leaves the request's body unread closes the connection: Node would otherwise read
    // all of that body, until requestTimeout, before the next request on it.
    if (!getRoute && !postRoute) return send(res, 404, TEXT_TYPE, `no such page: ${path}; try /metrics, /healthz, /api/v1/state, /api/v1/drill or /\n`, CLOSE);
    if (req.method === 'POST' && postRoute) return postRoute(req, res);
    if ((req.method === 'GET' || req.method === 'HEAD') && getRoute) return getRoute(req, res);
    const allow = [...(getRoute ? ['GET', 'HEAD'] : []), ...(postRoute ? ['POST'] : [])].join(', ');
    send(res, 405, TEXT_TYPE, `${path} answers ${allow}, not ${req.method}\n`, { ...CLOSE, Allow: allow });
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
