import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReplayGuard } from '../../src/peer/auth.js';
import { readSecret } from '../../src/core/secret.js';
import { authenticate, EXCHANGE_PATH, parseView, PeerRejected, readEnvelope, sealHeaders } from '../../src/peer/protocol.js';

const secret = Buffer.from('0123456789abcdef0123456789abcdef');
const NOW = 1_800_000_000_000;
const body = Buffer.from(JSON.stringify({ v: 1, node: 'lb2', keepalivedUp: true, instances: [] }));

function check(headers: Record<string, string>, opts: { body?: Buffer; now?: number; guard?: ReplayGuard; key?: Buffer; method?: string } = {}): string {
  try {
    authenticate(opts.key ?? secret, readEnvelope(headers), { method: opts.method ?? 'POST', path: EXCHANGE_PATH, recipient: 'lb1', body: opts.body ?? body }, {
      nodes: new Set(['lb2']),
      guard: opts.guard ?? new ReplayGuard(5000),
      maxSkewMs: 5000,
      now: opts.now ?? NOW,
    });
    return 'ok';
  } catch (err) {
    if (err instanceof PeerRejected) return err.reason;
    throw err;
  }
}

const sealed = (node = 'lb2', at = NOW) => sealHeaders(secret, { method: 'POST', path: EXCHANGE_PATH, node, recipient: 'lb1', body }, at);

describe('peer message authentication', () => {
  it('accepts a message signed with the shared secret, once', () => {
    const guard = new ReplayGuard(5000);
    const headers = sealed();
    expect(check(headers, { guard })).toBe('ok');
    expect(check(headers, { guard, now: NOW + 100 })).toBe('replay');
  });

  it.each([
    ['a tampered body', () => check(sealed(), { body: Buffer.from(body.toString().replace('true', 'false')) }), 'signature'],
    ['another secret', () => check(sealed(), { key: Buffer.from('another secret of enough length!') }), 'signature'],
    ['an answer replayed as a request', () => check(sealed(), { method: 'ANSWER' }), 'signature'],
    ['a stale timestamp', () => check(sealed('lb2', NOW - 6000)), 'stale'],
    ['a timestamp from the future', () => check(sealed('lb2', NOW + 6000)), 'stale'],
    ['an unknown sender', () => check(sealed('mallory')), 'unknown-node'],
    ['missing headers', () => check({ 'x-kawatch-node': 'lb2' }), 'missing-header'],
    ['a garbled nonce', () => check({ ...sealed(), 'x-kawatch-nonce': 'zz' }), 'malformed'],
  ])('refuses %s', (_what, attempt, reason) => {
    expect(attempt()).toBe(reason);
  });

  it('binds a message to its recipient: one sealed for lb1 does not authenticate at lb3', () => {
    const at = (recipient: string) => {
      try {
        authenticate(secret, readEnvelope(sealed()), { method: 'POST', path: EXCHANGE_PATH, recipient, body }, { nodes: new Set(['lb2']), guard: new ReplayGuard(5000), maxSkewMs: 5000, now: NOW });
        return 'ok';
      } catch (err) {
        return (err as PeerRejected).reason;
      }
    };
    expect(at('lb1')).toBe('ok');
    expect(at('lb3')).toBe('signature');
  });

  it('binds an answer to the request it answers', () => {
    const answer = sealHeaders(secret, { method: 'ANSWER', path: EXCHANGE_PATH, node: 'lb2', recipient: 'lb1', body, requestNonce: 'a'.repeat(32) }, NOW);
    const as = (requestNonce: string) => {
      try {
        authenticate(secret, readEnvelope(answer), { method: 'ANSWER', path: EXCHANGE_PATH, recipient: 'lb1', body, requestNonce }, { nodes: new Set(['lb2']), guard: new ReplayGuard(5000), maxSkewMs: 5000, now: NOW });
        return 'ok';
      } catch (err) {
        return (err as PeerRejected).reason;
      }
    };
    expect(as('a'.repeat(32))).toBe('ok');
    expect(as('b'.repeat(32))).toBe('signature');
  });

  it('parses only views of the right shape about their signer', () => {
    expect(parseView(body, 'lb2').node).toBe('lb2');
    expect(() => parseView(body, 'lb1')).toThrow(/signed by lb1/);
    expect(() => parseView(Buffer.from('{"v":1,"node":"lb2","keepalivedUp":true,"instances":[{"name":"VI_1","state":"BOSS","vips":[]}]}'), 'lb2')).toThrow(/instances\.0\.state/);
    expect(() => parseView(Buffer.from('not json'), 'lb2')).toThrow(PeerRejected);
  });

  it('keeps a bounded memory of nonces', () => {
    const guard = new ReplayGuard(1000, 3);
    expect(['a', 'b', 'c'].map((n) => guard.check('lb2', n, NOW, NOW))).toEqual(['ok', 'ok', 'ok']);
    expect(guard.check('lb2', 'd', NOW, NOW)).toBe('replay');
    expect(guard.check('lb2', 'e', NOW + 2000, NOW + 2000)).toBe('ok');
  });
});

describe('readSecret', () => {
  it('refuses a secret others can read, or a short one, saying how to fix it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kawatch-secret-'));
    try {
      const file = join(dir, 'peer.secret');
      writeFileSync(file, 'x'.repeat(40), { mode: 0o644 });
      await expect(readSecret(file)).rejects.toThrow(/chmod 600/);
      writeFileSync(join(dir, 'short'), 'short\n', { mode: 0o600 });
      await expect(readSecret(join(dir, 'short'))).rejects.toThrow(/shorter than 16 bytes/);
      writeFileSync(join(dir, 'good'), `${'k'.repeat(32)}\n`, { mode: 0o600 });
      expect((await readSecret(join(dir, 'good'))).toString()).toBe('k'.repeat(32));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
