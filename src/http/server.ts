import type { Server } from 'node:http';
import express from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import type { Part } from '../core/part.js';
import type { StateStore } from '../state/store.js';
import type { Verdict } from '../watchdog/diagnose.js';
import type { JournalEntry } from '../watchdog/journal.js';

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`invalid listen address ${JSON.stringify(listen)}, expected HOST:PORT`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

export interface AppContext {
  store: StateStore;
  registry: Registry;
  version: string;
  verdicts: () => Verdict[];
  actions: () => readonly JournalEntry[];
}

export function createApp({ store, registry, version, verdicts, actions }: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res, next) => {
    try {
      const body = await registry.metrics();
      res.type(registry.contentType).send(body);
    } catch (err) {
      next(err);
    }
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
export class HttpServer implements Part {
  readonly name = 'http';
  private server?: Server;

  constructor(
    private listen: string,
    private readonly app: express.Express,
    private readonly log: Logger,
  ) {}

  get address(): string | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : undefined;
  }

  async start(listen = this.listen): Promise<void> {
    this.listen = listen;
    const { host, port } = parseListen(listen);
    await new Promise<void>((resolve, reject) => {
      const server = this.app.listen(port, host);
      server.once('listening', () => resolve());
      server.once('error', reject);
      this.server = server;
    });
    this.log.info({ address: this.address }, 'listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }
}
