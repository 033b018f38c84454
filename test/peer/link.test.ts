import { connectListeners } from '../../src/daemon/fan-out.js';
import { EventBus } from '../../src/core/bus.js';
import { History } from '../../src/jobs/history.js';
import type { WatchdogEvents } from '../../src/watchdog/watchdog.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXCHANGE_PATH, sealHeaders } from '../../src/peer/protocol.js';
import { PeerLink } from '../../src/peer/link.js';
import type { MailAck } from '../../src/model/peer.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';


let dir: string;
let secretFile: string;
const stores: Record<string, StateStore> = {};
const links: PeerLink[] = [];
const ports: Record<string, number> = {};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-peer-'));
  secretFile = join(dir, 'peer.secret');
  writeFileSync(secretFile, 'a shared secret that is long enough\n', { mode: 0o600 });
});

/** What each node's mailer confirms, as the link reads it for every view it sends. */
const ledgers: Record<string, MailAck | undefined> = {};

async function startPair(intervalMs: number): Promise<void> {
  ports.lb1 = await freePort();
  ports.lb2 = await freePort();
  for (const [self, other] of [['lb1', 'lb2'], ['lb2', 'lb1']] as const) {
    stores[self] = new StateStore(self, silentLog);
    stores[self]!.apply({ type: 'report', source: 'fifo', at: 1, report: { kind: 'state', scope: 'instance', name: 'VI_1', state: self === 'lb1' ? 'MASTER' : 'BACKUP' } });
    const link = new PeerLink(
      { listen: `127.0.0.1:${ports[self]}`, secretFile, members: [{ name: other, address: `127.0.0.1:${ports[other]}` }], intervalMs, timeoutMs: 500, maxSkewMs: 5000, mailSent: () => ledgers[self] },
      stores[self]!,
      silentLog,
    );
    // The daemon's own fan-out tells the link of each change.
    connectListeners(stores[self]!, new EventBus<WatchdogEvents>(silentLog), () => ({ history: new History(), countTransition: () => {}, peers: link }), silentLog);
    links.push(link);
  }
  for (const link of links) await link.start();
}

afterEach(async () => {
  for (const link of links.splice(0)) await link.stop();
  for (const node of Object.keys(ledgers)) delete ledgers[node];
  rmSync(dir, { recursive: true, force: true });
});

const url = (node: string) => `http://127.0.0.1:${ports[node]}${EXCHANGE_PATH}`;

describe('PeerLink (two daemons on loopback)', () => {
  it('exchanges views both ways, and pushes a change at once', async () => {
    // No periodic exchange within the test: only the start and the change itself can carry views.
    await startPair(3_600_000);
    await waitFor(() => stores.lb1!.snapshot.peers.lb2?.view?.instances[0]?.state === 'BACKUP', 'lb1 sees lb2 BACKUP');
    await waitFor(() => stores.lb2!.snapshot.peers.lb1?.view?.instances[0]?.state === 'MASTER', 'lb2 sees lb1 MASTER');
    stores.lb2!.apply({ type: 'report', source: 'fifo', at: Date.now(), report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'MASTER' } });
    await waitFor(() => stores.lb1!.snapshot.peers.lb2?.view?.instances[0]?.state === 'MASTER', 'lb1 sees lb2 MASTER, pushed by the change');
  });

  it('refuses forged, replayed and malformed messages, counts them, and keeps working', async () => {
    await startPair(200);
    // Answers to lb1's own (periodic) exchanges carry a round-trip time; pushes from lb2 do not.
    await waitFor(() => (stores.lb1!.snapshot.peers.lb2?.rttMs ?? 0) > 0, 'a round-trip time');
    const body = Buffer.from(JSON.stringify({ v: 1, node: 'lb2', keepalivedUp: true, instances: [{ name: 'VI_1', state: 'MASTER', vips: [] }] }));
    const forged = sealHeaders(Buffer.from('not the shared secret, but long'), { method: 'POST', path: EXCHANGE_PATH, node: 'lb2', recipient: 'lb1', body }, Date.now());
    expect((await fetch(url('lb1'), { method: 'POST', headers: forged, body })).status).toBe(401);

    const genuine = sealHeaders(Buffer.from('a shared secret that is long enough'), { method: 'POST', path: EXCHANGE_PATH, node: 'lb2', recipient: 'lb1', body }, Date.now());
    expect((await fetch(url('lb1'), { method: 'POST', headers: genuine, body })).status).toBe(200);
    expect((await fetch(url('lb1'), { method: 'POST', headers: genuine, body })).status).toBe(401);

    const junk = Buffer.from('{"v":1,"node":"lb2","keepalivedUp":"yes"}');
    const signedJunk = sealHeaders(Buffer.from('a shared secret that is long enough'), { method: 'POST', path: EXCHANGE_PATH, node: 'lb2', recipient: 'lb1', body: junk }, Date.now());
    expect((await fetch(url('lb1'), { method: 'POST', headers: signedJunk, body: junk })).status).toBe(400);
    const huge = Buffer.alloc(300 * 1024, 'x');
    const hugeHeaders = sealHeaders(Buffer.from('a shared secret that is long enough'), { method: 'POST', path: EXCHANGE_PATH, node: 'lb2', recipient: 'lb1', body: huge }, Date.now());
    expect((await fetch(url('lb1'), { method: 'POST', headers: hugeHeaders, body: huge }).catch(() => ({ status: 413 }))).status).toBe(413);

    expect(stores.lb1!.snapshot.peerRejected).toMatchObject({ signature: 1, replay: 1, malformed: 1, 'too-large': 1 });
    const before = stores.lb1!.snapshot.peers.lb2!.lastExchange!;
    await waitFor(() => stores.lb1!.snapshot.peers.lb2!.lastExchange! > before, 'a genuine exchange after the attacks');
  });

  it("carries each mailer's confirmations both ways, and announces a new one at once", async () => {
    ledgers.lb1 = { seq: 1, ids: ['00000000000000aa'] };
    await startPair(3_600_000);
    await waitFor(() => stores.lb2!.snapshot.peers.lb1?.view?.mailSent?.seq === 1, 'lb2 seeing what lb1 mailed');
    expect(stores.lb1!.snapshot.peers.lb2?.view?.mailSent).toBeUndefined();
    ledgers.lb2 = { seq: 2, ids: ['00000000000000bb', '00000000000000cc'] };
    links[1]!.announce();
    await waitFor(() => stores.lb1!.snapshot.peers.lb2?.view?.mailSent?.ids.join() === '00000000000000bb,00000000000000cc', 'lb1 seeing what lb2 mailed, announced');
  });

  it('keeps the newest view when an older one arrives after it (an answer and a push crossing), and takes one from a clock stepped back', async () => {
    await startPair(3_600_000);
    await waitFor(() => stores.lb1!.snapshot.peers.lb2?.view !== undefined, 'first exchange');
    const secret = Buffer.from('a shared secret that is long enough');
    const push = async (state: string, sealedAt: number) => {
      const body = Buffer.from(JSON.stringify({ v: 1, node: 'lb2', keepalivedUp: true, instances: [{ name: 'VI_1', state, vips: [] }] }));
      const headers = sealHeaders(secret, { method: 'POST', path: EXCHANGE_PATH, node: 'lb2', recipient: 'lb1', body }, sealedAt);
      expect((await fetch(url('lb1'), { method: 'POST', headers, body })).status).toBe(200);
    };
    const now = Date.now();
    await push('BACKUP', now + 100);
    // Sealed 60 ms before the one held, and received after it: lb2 has left that state since.
    await push('MASTER', now + 40);
    expect(stores.lb1!.snapshot.peers.lb2!.view!.instances[0]?.state).toBe('BACKUP');
    await push('FAULT', now + 200);
    expect(stores.lb1!.snapshot.peers.lb2!.view!.instances[0]?.state).toBe('FAULT');
    // Older by more than an exchange can take (two timeouts of 500 ms): lb2's clock was stepped back.
    await push('BACKUP', now - 1_000);
    expect(stores.lb1!.snapshot.peers.lb2!.view!.instances[0]?.state).toBe('BACKUP');
  });

  it('refuses a signed view whose confirmations are malformed, and keeps the last good view', async () => {
    await startPair(3_600_000);
    await waitFor(() => stores.lb1!.snapshot.peers.lb2?.view !== undefined, 'first exchange');
    const body = Buffer.from(JSON.stringify({ v: 1, node: 'lb2', keepalivedUp: true, instances: [], mailSent: { seq: 1, ids: ['00000000000000aa', '00000000000000bb'] } }));
    const headers = sealHeaders(Buffer.from('a shared secret that is long enough'), { method: 'POST', path: EXCHANGE_PATH, node: 'lb2', recipient: 'lb1', body }, Date.now());
    expect((await fetch(url('lb1'), { method: 'POST', headers, body })).status).toBe(400);
    expect(stores.lb1!.snapshot.peerRejected.malformed).toBe(1);
    expect(stores.lb1!.snapshot.peers.lb2!.view!.mailSent).toBeUndefined();
    expect(stores.lb1!.snapshot.peers.lb2!.view!.instances[0]?.state).toBe('BACKUP');
  });

  it('notices a peer that stops answering', async () => {
    await startPair(200);
    await waitFor(() => stores.lb1!.snapshot.peers.lb2?.view !== undefined, 'first exchange');
    await links[1]!.stop();
    await waitFor(() => stores.lb1!.snapshot.peers.lb2!.lastError !== undefined, 'an exchange error');
    expect(stores.lb1!.snapshot.peers.lb2!.errors).toBeGreaterThan(0);
  });
});
