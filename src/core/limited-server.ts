import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { http } from './http.js';
import type { Socket } from 'node:net';

/**
 * What one listener grants its clients. The caps bound memory and file descriptors whatever
 * clients do (LimitNOFILE in the systemd unit is sized above the sum of all listeners' caps); the
 * timeouts recycle connections that send too slowly or sit idle.
 */
export interface ListenerLimits {
  /** At the cap, the oldest connection with no request in progress is closed for the newcomer. */
  maxConnections: number;
  maxConnectionsPerSource: number;
  /** Until the request headers are in. */
  headersTimeoutMs: number;
  /** Until the whole request is in; Node stops this clock once the request is received, so it never cuts an answer being streamed. */
  requestTimeoutMs: number;
  /** Between two requests on one connection. */
  keepAliveTimeoutMs: number;
  /** No byte moved either way for this long: the connection is dropped. A handler may grant its request longer. */
  idleTimeoutMs: number;
}

/** The metrics/API listener: scrapers, browsers, health checks. */
export const HTTP_LIMITS: ListenerLimits = {
  maxConnections: 512,
  maxConnectionsPerSource: 64,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 5000,
  keepAliveTimeoutMs: 5000,
  idleTimeoutMs: 5000,
};

/**
 * A scrape may be silent while the exposition is built (100k IPVS backends take seconds), and a
 * slow scraper may take a while per chunk: /metrics is granted this much idle time, no more.
 */
export const SCRAPE_IDLE_TIMEOUT_MS = 60_000;

/** Node checks the header and request timeouts this often; its default, 30 s, would make a 5 s timeout a 35 s one. */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** The peer's address as the socket reports it, IPv4-mapped IPv6 written as IPv4. */
export function remoteAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

export type ConnectionRefusal = 'busy' | 'source-address';

/**
 * An HTTP server under `limits`. `admit` may refuse a connection by its source before anything
 * is read from it; `onRefused` hears of every refused connection (never with what it sent).
 */
export function createLimitedServer(
  handler: RequestListener,
  limits: ListenerLimits,
  options: { admit?: (address: string) => boolean; onRefused?: (reason: ConnectionRefusal, address: string) => void } = {},
): Server {
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    handler,
  );
  server.timeout = limits.idleTimeoutMs;
  const perSource = new Map<string, number>();
  // Every open connection, oldest first: whether a request is being served on it, and whether one ever was.
  const open = new Map<Socket, { busy: boolean; served: boolean }>();
  server.on('connection', (socket: Socket) => {
    const address = remoteAddress(socket);
    if (options.admit && !options.admit(address)) {
      options.onRefused?.('source-address', address);
      socket.destroy();
      return;
    }
    const fromSource = (perSource.get(address) ?? 0) + 1;
    if (fromSource > limits.maxConnectionsPerSource) {
      options.onRefused?.('busy', address);
      socket.destroy();
      return;
    }
    if (open.size >= limits.maxConnections && !evictIdle()) {
      options.onRefused?.('busy', address);
      socket.destroy();
      return;
    }
    perSource.set(address, fromSource);
    open.set(socket, { busy: false, served: false });
    socket.once('close', () => {
      open.delete(socket);
      const left = (perSource.get(address) ?? 1) - 1;
      if (left > 0) perSource.set(address, left);
      else perSource.delete(address);
    });
  });
  /**
   * At the cap, a connection with no request in progress gives way to the newcomer — the oldest
   * that never completed its headers first, then the oldest idle keep-alive one: slow clients
   * cannot lock out a health check or a scrape (refusing newcomers, as `server.maxConnections`
   * does, would let them), and a scraper's kept-alive connection goes last.
   */
  function evictIdle(): boolean {
    for (const spare of [(c: { busy: boolean; served: boolean }) => !c.busy && !c.served, (c: { busy: boolean }) => !c.busy]) {
      for (const [socket, state] of open) {
        if (!spare(state)) continue;
        open.delete(socket);
        options.onRefused?.('busy', remoteAddress(socket));
        socket.destroy();
        return true;
      }
    }
    return false;
  }
  // Node arms the idle timeout once per connection and replaces it with the keep-alive timeout
  // between requests: every request gets it back, before its handler may grant itself more.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    req.socket.setTimeout(limits.idleTimeoutMs);
    const state = open.get(req.socket);
    if (!state) return;
    state.busy = true;
    state.served = true;
    res.once('close', () => (state.busy = false));
  });
  return server;
}
