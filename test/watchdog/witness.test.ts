import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isolatedSince } from '../../src/watchdog/fencer.js';
import { connectWitness, isEchoReply, WitnessProbe, type WitnessTarget } from '../../src/watchdog/witness.js';
import { emptySnapshot } from '../../src/state/snapshot.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

async function listening(port = 0): Promise<Server> {
  const server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return server;
}
const closed = (server: Server) => new Promise((r) => server.close(r));

describe('connectWitness (tcp, on loopback)', () => {
  it('answers for a listening service and says why for a closed port', async () => {
    const server = await listening();
    const { port } = server.address() as { port: number };
    try {
      expect(await connectWitness(`127.0.0.1:${port}`, 1000)).toBeUndefined();
    } finally {
      await closed(server);
    }
    expect(await connectWitness(`127.0.0.1:${port}`, 1000)).toMatch(/ECONNREFUSED/);
  });
});

describe('isEchoReply', () => {
  it("takes ping's reply lines, and neither its banner, its errors nor its summary", () => {
    expect(isEchoReply('64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.040 ms')).toBe(true);
    expect(isEchoReply('64 bytes from fe80::1%lb0: icmp_seq=12 ttl=64 time=0.2 ms')).toBe(true);
    for (const line of ['PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.', 'From 10.0.0.2 icmp_seq=3 Destination Host Unreachable', '3 packets transmitted, 3 received, 0% packet loss, time 2003ms', '']) expect(isEchoReply(line)).toBe(false);
  });
});

describe('WitnessProbe', () => {
  let store: StateStore;
  let reports: { error?: string }[];
  let probe: WitnessProbe | undefined;
  beforeEach(() => {
    store = new StateStore('lb1', silentLog);
    reports = [];
    let last: unknown;
    store.events.on('snapshot', (s: { witness?: { error?: string } }) => {
      if (s.witness === last) return;
      last = s.witness;
      reports.push({ error: s.witness?.error });
    });
  });
  afterEach(async () => {
    await probe?.stop();
    probe = undefined;
  });
  const start = async (target: WitnessTarget, intervalMs: number) => {
    probe = new WitnessProbe(target, { intervalMs, timeoutMs: 200, reportEveryMs: 60_000 }, store, silentLog);
    await probe.start();
    return probe;
  };

  it('tells the store of a change of verdict at once, and of a witness that still answers only every reportEveryMs (tcp on loopback)', async () => {
    const server = await listening();
    const { port } = server.address() as { port: number };
    const witness = await start({ tcp: `127.0.0.1:${port}` }, 50);
    expect(store.snapshot.witness).toMatchObject({ target: `tcp 127.0.0.1:${port}`, lastReached: witness.lastAnsweredAt() });
    const first = witness.lastAnsweredAt()!;
    await waitFor(() => witness.lastAnsweredAt()! > first + 100, 'answers to later tries');
    expect(reports).toEqual([{ error: undefined }]);

    await closed(server);
    await waitFor(() => store.snapshot.witness?.unreachableSince, 'the witness unreachable once it stops answering', 2000);
    expect(store.snapshot.witness?.error).toMatch(/ECONNREFUSED/);
    const unreachable = reports.length;
    const again = await listening(port);
    try {
      await waitFor(() => store.snapshot.witness?.error === undefined, 'the witness reachable again', 2000);
      // One report per change: reachable, unreachable, reachable — none per try.
      expect(reports.map((r) => r.error === undefined)).toEqual([true, false, true]);
      expect(unreachable).toBe(2);
    } finally {
      await closed(again);
    }
  });
});

describeWithPrereqs('WitnessProbe (ping on loopback)', { root: true, commands: ['ping'] }, () => {
  it('keeps one ping running at the probe interval, answers as fresh as it, and stops it', async () => {
    const store = new StateStore('lb1', silentLog);
    const witness = new WitnessProbe({ ping: '127.0.0.1' }, { intervalMs: 100, timeoutMs: 200, reportEveryMs: 60_000 }, store, silentLog);
    await witness.start();
    const pings = () => execFileSync('ps', ['--ppid', String(process.pid), '-o', 'args='], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('ping -n -i 0.1 -- 127.0.0.1'));
    try {
      expect(store.snapshot.witness).toEqual({ target: 'ping 127.0.0.1', lastReached: witness.lastAnsweredAt() });
      const first = witness.lastAnsweredAt()!;
      // Five answers, so five tries, all from the one ping.
      await waitFor(() => witness.lastAnsweredAt()! >= first + 400, 'four more answers at 100 ms', 5000);
      expect(pings()).toHaveLength(1);
    } finally {
      await witness.stop();
    }
    expect(pings()).toEqual([]);
  });
});

describe('isolatedSince', () => {
  const NOW = 1_800_000_000_000;
  const base = { ...emptySnapshot('lb2'), peers: { lb1: { name: 'lb1', address: 'x:1', lastExchange: NOW - 10_000, errors: 3 } } };

  it('needs every peer lost and the witness unreachable', () => {
    expect(isolatedSince({ ...base, witness: { target: 'tcp x', unreachableSince: NOW - 4000, error: 'down' } }, NOW, 3500)).toBe(NOW - 4000);
    expect(isolatedSince({ ...base, witness: { target: 'tcp x', lastReached: NOW } }, NOW, 3500)).toBeUndefined();
    expect(isolatedSince(base, NOW, 3500)).toBeUndefined();
    const heard = { ...base, peers: { lb1: { ...base.peers.lb1, lastExchange: NOW - 100 } } };
    expect(isolatedSince({ ...heard, witness: { target: 'tcp x', unreachableSince: NOW - 4000, error: 'down' } }, NOW, 3500)).toBeUndefined();
  });
});
