import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, HttpServer } from '../../src/http/server.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { waitFor } from '../support/wait.js';
import { getRaw } from './support.js';

// The metrics/API routes on a real listener on loopback.
describe('the metrics/API routes', () => {
  const store = new StateStore('lb1', silentLog);
  let failNext = false;
  const streamed = async () => {
    if (failNext) throw new Error('the IPVS table went away');
    return ['kawatch_ipvs_up 1\n', 'ipvs_backend_weight{remote_address="10.0.0.1"} 3\n'];
  };
  const server = new HttpServer('127.0.0.1:0', createApp({ store, registry: new Registry(), version: '1.2.3', verdicts: () => [], actions: () => [], recent: () => [], streamedMetrics: streamed }), silentLog);
  let base: string;
  beforeAll(async () => {
    await server.start();
    base = `http://${server.address}`;
  });
  afterAll(() => server.stop());

  it('answers /healthz with JSON, with a query string and with a trailing slash alike', async () => {
    for (const path of ['/healthz', '/healthz?x=1', '/healthz/']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await res.json()).toEqual({ status: 'ok', keepalived: 'down', sources: {} });
    }
  });

  it('serves the state with the version and the verdicts', async () => {
    const body = (await (await fetch(`${base}/api/v1/state`)).json()) as { version: string; verdicts: unknown[]; node: string };
    expect(body.version).toBe('1.2.3');
    expect(body.verdicts).toEqual([]);
  });

  it("streams the exposition after prom-client's, in Prometheus' content type", async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toBe(new Registry().contentType);
    expect(await res.text()).toMatch(/kawatch_ipvs_up 1\nipvs_backend_weight\{remote_address="10\.0\.0\.1"\} 3\n$/);
  });

  it('gzips the exposition for a scraper that asks as Prometheus does, and for no other', async () => {
    const raw = (acceptEncoding?: string) => getRaw(`${base}/metrics`, acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding });
    const plain = await raw();
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toBe('Accept-Encoding');
    const gzipped = await raw('gzip');
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.headers.vary).toBe('Accept-Encoding');
    expect(gunzipSync(gzipped.body).toString()).toBe(plain.body.toString());
    expect((await raw('gzip;q=0, deflate')).headers['content-encoding']).toBeUndefined();
  });

  it('answers HEAD like GET, without the body', async () => {
    const res = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(10);
    expect(await res.text()).toBe('');
  });

  it('refuses other methods with 405 and the allowed ones, and unknown paths with 404', async () => {
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const missing = await fetch(`${base}/nothing-here`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('/metrics');
    expect((await fetch(`${base}/__proto__`)).status).toBe(404);
  });

  it('answers 500 when a route fails, and goes on serving', async () => {
    failNext = true;
    const res = await fetch(`${base}/metrics`);
    failNext = false;
    expect(res.status).toBe(500);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });
});

// A streamed exposition too big for the socket's buffers, of bytes that do not compress: a scraper
// that stops reading holds the daemon at what the socket and zlib take, and one that leaves is no failure.
describe('a streamed exposition and the scrapers that leave it', () => {
  const CHUNKS = 200;
  const handedOut = new Set<Uint8Array>();
  const recycled = new Set<Uint8Array>();
  const logged: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(line) });
  const chunks = function* () {
    for (let i = 0; i < CHUNKS; i++) {
      const chunk = randomBytes(64 * 1024);
      handedOut.add(chunk);
      yield chunk;
    }
  };
  const app = createApp({ store: new StateStore('lb1', silentLog), registry: new Registry(), version: '1', verdicts: () => [], actions: () => [], recent: () => [], streamedMetrics: async () => chunks(), recycleChunk: (c) => recycled.add(c) });
  const server = new HttpServer('127.0.0.1:0', app, log);
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  it.each(['gzip', 'identity'])('stops making an answer (%s) its scraper stopped reading, and lets it go when the scraper leaves', async (encoding) => {
    handedOut.clear();
    recycled.clear();
    const request = get(`http://${server.address}/metrics`, { headers: { 'accept-encoding': encoding } });
    const stalled = new Promise<void>((resolve) => request.on('response', (res) => res.once('data', () => (res.pause(), resolve()))));
    request.on('error', () => {});
    await stalled;
    // The daemon stops handing out chunks once the socket and zlib hold all they take.
    let seen = -1;
    await waitFor(() => {
      const settled = handedOut.size === seen;
      seen = handedOut.size;
      return settled && seen > 0;
    }, 'the answer to wait on the scraper', 10_000);
    expect(handedOut.size).toBeLessThan(CHUNKS);
    request.destroy();
    // Written chunks come back; the one or two a cut connection held are left to the collector.
    await waitFor(() => recycled.size >= handedOut.size - 2, 'the written chunks to come back', 10_000);
    expect([...recycled].every((c) => handedOut.has(c))).toBe(true);
    expect((await fetch(`http://${server.address}/healthz`)).status).toBe(200);
    expect(logged.filter((l) => l.includes('request failed'))).toEqual([]);
  });
});
