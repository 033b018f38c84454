import type { IncomingHttpHeaders } from 'node:http';
import { HEADERS, newNonce, ReplayGuard, sign, signatureMatches, type Signed } from './auth.js';
import { type RejectReason } from '../model/peer.js';
import { peerViewSchema, type PeerView } from '../model/peer.js';

export const EXCHANGE_PATH = '/peer/v1/exchange';
export const MAX_BODY_BYTES = 256 * 1024;

export class PeerRejected extends Error {
  constructor(
    readonly reason: RejectReason,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}

export interface Envelope {
  node: string;
  timestamp: number;
  nonce: string;
  signature: string;
}

/** Headers that authenticate `body` as sent by `node`. */
export function sealHeaders(secret: Buffer, s: Omit<Signed, 'timestamp' | 'nonce'>, now: number): Record<string, string> {
  const signed: Signed = { ...s, timestamp: now, nonce: newNonce() };
  return {
    [HEADERS.node]: signed.node,
    [HEADERS.timestamp]: String(signed.timestamp),
    [HEADERS.nonce]: signed.nonce,
    [HEADERS.signature]: sign(secret, signed),
  };
}

export function readEnvelope(headers: IncomingHttpHeaders | Headers): Envelope {
  const get = (name: string) => (headers instanceof Headers ? headers.get(name) : (headers[name] as string | undefined)) ?? undefined;
  const node = get(HEADERS.node);
  const timestamp = get(HEADERS.timestamp);
  const nonce = get(HEADERS.nonce);
  const signature = get(HEADERS.signature);
  if (!node || !timestamp || !nonce || !signature) throw new PeerRejected('missing-header', 'x-kawatch-node, -timestamp, -nonce and -signature are all required');
  if (!/^\d{1,16}$/.test(timestamp) || !/^[0-9a-f]{32}$/.test(nonce)) throw new PeerRejected('malformed', 'timestamp must be epoch ms, nonce 32 hex digits');
  return { node, timestamp: Number(timestamp), nonce, signature };
}

/**
 * Checks an envelope in the order that keeps the replay cache from being stuffed by strangers:
 * known sender, fresh timestamp, valid signature — and only then remembers the nonce.
 */
export function authenticate(
  secret: Buffer,
  envelope: Envelope,
  signed: Omit<Signed, 'node' | 'timestamp' | 'nonce'>,
  expect: { nodes: ReadonlySet<string>; guard: ReplayGuard; maxSkewMs: number; now: number },
): void {
  if (!expect.nodes.has(envelope.node)) throw new PeerRejected('unknown-node', `${JSON.stringify(envelope.node.slice(0, 64))} is not a configured peer`);
  if (Math.abs(expect.now - envelope.timestamp) > expect.maxSkewMs) {
    throw new PeerRejected('stale', `timestamp ${envelope.timestamp} is ${expect.now - envelope.timestamp} ms away from ours (max ${expect.maxSkewMs}); check both clocks (NTP)`);
  }
  if (!signatureMatches(secret, { ...signed, node: envelope.node, timestamp: envelope.timestamp, nonce: envelope.nonce }, envelope.signature)) {
    throw new PeerRejected('signature', `from ${envelope.node}: wrong signature (different secret_file contents?)`);
  }
  const fresh = expect.guard.check(envelope.node, envelope.nonce, envelope.timestamp, expect.now);
  if (fresh !== 'ok') throw new PeerRejected(fresh, `from ${envelope.node}: nonce ${envelope.nonce} ${fresh === 'replay' ? 'already seen' : 'expired'}`);
}

/** A view from the wire: JSON of the right shape, about the node that signed it. */
export function parseView(body: Buffer, signer: string): PeerView {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PeerRejected('malformed', `from ${signer}: body is not JSON`);
  }
  const parsed = peerViewSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PeerRejected('malformed', `from ${signer}: ${issue.path.join('.') || 'view'}: ${issue.message}`);
  }
  if (parsed.data.node !== signer) throw new PeerRejected('malformed', `view of ${JSON.stringify(parsed.data.node)} signed by ${signer}`);
  return parsed.data;
}
