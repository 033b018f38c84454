import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isolatedSince } from '../../src/watchdog/fencer.js';
import { probeWitness } from '../../src/watchdog/witness.js';
import { emptySnapshot } from '../../src/state/snapshot.js';

describe('probeWitness (tcp, on loopback)', () => {
  it('answers for a listening service and says why for a closed port', async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      expect(await probeWitness({ tcp: `127.0.0.1:${port}` }, 1000)).toBeUndefined();
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await probeWitness({ tcp: `127.0.0.1:${port}` }, 1000)).toMatch(/ECONNREFUSED/);
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
