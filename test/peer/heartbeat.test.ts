import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HEARTBEAT_PATH, type Statement } from '../../src/peer/heartbeat.js';
import { PeerLink } from '../../src/peer/link.js';
import { sealHeaders } from '../../src/peer/protocol.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';

let dir: string;
let secretFile: string;
const links: PeerLink[] = [];
const ports: Record<string, number> = {};
const secret = 'a shared secret that is long enough\n';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-heartbeat-'));
  secretFile = join(dir, 'peer.secret');
  writeFileSync(secretFile, secret, { mode: 0o600 });
});

afterEach(async () => {
  for (const link of links.splice(0)) await link.stop();
  rmSync(dir, { recursive: true, force: true });
});

const statementOf = (node: string): Statement => ({ v: 1, node, keepalivedUp: true, witnessAnswers: true, instances: [{ name: 'VI_1', vrid: 51, state: node === 'lb1' ? 'MASTER' : 'BACKUP', address: '198.18.0.1' }] });

/** Two links on loopback; only `withHeartbeat` run the prevent heartbeat. Returns what each heard. */
async function startPair(withHeartbeat: readonly string[]): Promise<Record<string, { peer: string; statement: Statement; sentAt: number }[]>> {
  ports.lb1 = await freePort();
  ports.lb2 = await freePort();
  const heard: Record<string, { peer: string; statement: Statement; sentAt: number }[]> = { lb1: [], lb2: [] };
  for (const [self, other] of [['lb1', 'lb2'], ['lb2', 'lb1']] as const) {
    const heartbeat = withHeartbeat.includes(self)
      ? { intervalMs: 20, timeoutMs: 300, statement: async () => statementOf(self), onStatement: (peer: string, statement: Statement, sentAt: number) => void heard[self]!.push({ peer, statement, sentAt }) }
      : undefined;
    links.push(new PeerLink({ listen: `127.0.0.1:${ports[self]}`, secretFile, members: [{ name: other, address: `127.0.0.1:${ports[other]}` }], intervalMs: 3_600_000, timeoutMs: 500, maxSkewMs: 5000, heartbeat }, new StateStore(self, silentLog), silentLog));
  }
  for (const link of links) await link.start();
  return heard;
}

describe('the prevent heartbeat over the peer link', () => {
  it("asks each peer again and again, and hears its signed statement with the local time of the request", async () => {
    const heard = await startPair(['lb1', 'lb2']);
    await waitFor(() => heard.lb2!.length >= 3 && heard.lb1!.length >= 3, 'three statements each way');
    expect(heard.lb2![0]!.statement).toEqual(statementOf('lb1'));
    expect(heard.lb1![0]!.statement).toEqual(statementOf('lb2'));
    const times = heard.lb2!.map((h) => h.sentAt);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times.every((t) => t <= Date.now())).toBe(true);
  });

  it('is not served by a director whose policy is not prevent', async () => {
    await startPair(['lb2']);
    const res = await fetch(`http://127.0.0.1:${ports.lb1}${HEARTBEAT_PATH}`, { method: 'POST', body: '' });
    expect(res.status).toBe(404);
  });

  it('answers a signed request once: the same request again is a replay, and an unsigned one is refused', async () => {
    await startPair(['lb1', 'lb2']);
    const headers = sealHeaders(Buffer.from(secret.trim()), { method: 'POST', path: HEARTBEAT_PATH, node: 'lb2', recipient: 'lb1', body: Buffer.alloc(0) }, Date.now());
    const post = (h: Record<string, string>) => fetch(`http://127.0.0.1:${ports.lb1}${HEARTBEAT_PATH}`, { method: 'POST', headers: h, body: '' });
    const first = await post(headers);
    expect(first.status, await first.clone().text()).toBe(200);
    expect(((await first.json()) as Statement).node).toBe('lb1');
    expect((await post(headers)).status).toBe(401);
    expect((await post({})).status).toBe(400);
  });
});
