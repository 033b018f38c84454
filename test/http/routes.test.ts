import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, HttpServer } from '../../src/http/server.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';

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
