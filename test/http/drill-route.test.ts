import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Drills } from '../../src/drill/drills.js';
import { createApp } from '../../src/http/server.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';

// The drill routes of the API in-process, on loopback, with a real Drills part over an empty
// state: every drill it is asked for is refused (no keepalived, no peers), which is what the
// routes' checks need.
describe('POST /api/v1/drill', () => {
  const TOKEN = 'a'.repeat(64);
  let dir: string;
  let server: Server;
  let base: string;
  let drills: Drills;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-drill-api-'));
    const store = new StateStore('lb1', silentLog);
    drills = new Drills(
      { node: 'lb1', members: ['lb2'], journalFile: join(dir, 'drills.jsonl'), trackDir: dir, stopCommand: ['false'], timeoutMs: 1000, probeIntervalMs: 100, probes: {}, exchangeMs: 100, diagnose: { unreachableAfterMs: 3500, confirmAfterMs: 150 } },
      { store, verdicts: () => [], fenced: () => [], log: silentLog },
    );
    await drills.start();
    const app = createApp({ store, registry: new Registry(), version: '0', verdicts: () => [], actions: () => [], recent: () => [], drills: () => drills, apiToken: () => TOKEN });
    server = createServer((req, res) => void app(req, res)).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await drills.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (body: unknown, token?: string) => {
    const res = await fetch(`${base}/api/v1/drill`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as { error?: string; status?: string; reasons?: string[] } };
  };

  it('answers nobody without the token, and nobody with another', async () => {
    expect((await post({ instances: ['VI_1'] })).status).toBe(401);
    expect((await post({ instances: ['VI_1'] }, 'b'.repeat(64))).status).toBe(401);
    expect((await post({ instances: ['VI_1'] }, TOKEN.slice(1))).status).toBe(401);
  });

  it('says what is wrong with a bad request', async () => {
    const { status, json } = await post({ instances: ['VI_1'], probe: 'udp://198.18.0.50:53' }, TOKEN);
    expect(status).toBe(400);
    expect(json.error).toMatch(/^invalid drill request: probe: .*scheme udp: is not probed/);
  });

  it('refuses a drill the group is not ready for, with the reasons, and keeps the refusal for GET', async () => {
    const { status, json } = await post({ instances: ['VI_1'], dry_run: false }, TOKEN);
    expect(status).toBe(409);
    expect(json.reasons).toContain('VI_1: peer lb2 is not heard on the secondary link: the group cannot watch the drill');
    await expect.poll(async () => ((await (await fetch(`${base}/api/v1/drill`)).json()) as { reports: { outcome: string }[] }).reports.map((r) => r.outcome)).toEqual(['refused']);
  });
});
