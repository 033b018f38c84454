import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Authentication of the peer API: every request and every answer carries an HMAC-SHA256 over
 * what it says (method, path, sender, recipient, timestamp, nonce, body digest — and for an
 * answer, the nonce of the request it answers, so an answer cannot be replayed to another
 * request). The recipient is signed so that, in a group of three or more, a message captured on
 * its way to one director cannot be replayed to another.
 * Timestamps outside the allowed skew and nonces seen before are refused.
 */
export const HEADERS = {
  node: 'x-kawatch-node',
  timestamp: 'x-kawatch-timestamp',
  nonce: 'x-kawatch-nonce',
  signature: 'x-kawatch-signature',
} as const;

export interface Signed {
  /** `POST /peer/v1/exchange` for a request; `ANSWER /peer/v1/exchange` for its answer. */
  method: string;
  path: string;
  node: string;
  /** The node_name of the director the message is for. */
  recipient: string;
  timestamp: number;
  nonce: string;
  body: Buffer;
  /** Only in answers: the request's nonce. */
  requestNonce?: string;
}

function canonical(s: Signed): string {
  const digest = createHash('sha256').update(s.body).digest('hex');
  return [s.method, s.path, s.node, s.recipient, String(s.timestamp), s.nonce, digest, s.requestNonce ?? ''].join('\n');
}

export function sign(secret: Buffer, s: Signed): string {
  return createHmac('sha256', secret).update(canonical(s)).digest('hex');
}

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

export function signatureMatches(secret: Buffer, s: Signed, signature: string): boolean {
  const expected = Buffer.from(sign(secret, s), 'hex');
  const given = /^[0-9a-f]{64}$/.test(signature) ? Buffer.from(signature, 'hex') : Buffer.alloc(0);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Remembers nonces for as long as their timestamps are acceptable, so a captured message is
 * refused both as a replay (inside the window) and as stale (after it). Bounded: at most
 * `maxEntries` nonces are kept, which at one exchange per second per peer is hours of traffic.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxSkewMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  check(node: string, nonce: string, timestamp: number, now: number): 'ok' | 'stale' | 'replay' {
    if (!Number.isFinite(timestamp) || Math.abs(now - timestamp) > this.maxSkewMs) return 'stale';
    const key = `${node} ${nonce}`;
    if (this.seen.has(key)) return 'replay';
    if (this.seen.size >= this.maxEntries) this.evict(now);
    // Still full after eviction: refuse rather than forget a nonce that is still acceptable.
    if (this.seen.size >= this.maxEntries) return 'replay';
    this.seen.set(key, timestamp);
    return 'ok';
  }

  private evict(now: number): void {
    for (const [key, timestamp] of this.seen) if (Math.abs(now - timestamp) > this.maxSkewMs) this.seen.delete(key);
  }
}
