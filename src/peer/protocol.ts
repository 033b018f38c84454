import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { HEADERS, newNonce, ReplayGuard, sign, signatureMatches, type Signed } from './auth.js';
import { peerViewSchema, type PeerView, type RejectReason } from '../model/peer.js';

/** Version 2 signs the recipient: a director still on version 1 is told 404 by the path it asks for. */
export const EXCHANGE_PATH = '/peer/v2/exchange';
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

/** Not `instanceof Headers`: the first read of that global loads Node's fetch (undici), as core/http.ts says. */
const isFetchHeaders = (headers: IncomingHttpHeaders | Headers): headers is Headers => typeof headers.get === 'function';

export function readEnvelope(headers: IncomingHttpHeaders | Headers): Envelope {
  const get = (name: string) => (isFetchHeaders(headers) ? headers.get(name) : (headers[name] as string | undefined)) ?? undefined;
  const node = get(HEADERS.node);
  const timestamp = get(HEADERS.timestamp);
  const nonce = get(HEADERS.nonce);
  const signature = get(HEADERS.signature);
  if (!node || !timestamp || !nonce || !signature) throw new PeerRejected('missing-header', 'x-kawatch-node, -timestamp, -nonce and -signature are all required');
  if (!/^\d{1,16}$/.test(timestamp) || !/^[0-9a-f]{32}$/.test(nonce)) throw new PeerRejected('malformed', 'timestamp must be epoch ms, nonce 32 hex digits');
  return { node, timestamp: Number(timestamp), nonce, signature };
}

export interface Expectation {
  nodes: ReadonlySet<string>;
  guard: ReplayGuard;
  maxSkewMs: number;
  now: number;
}

/**
 * What the headers alone can refuse, before a byte of the body is read: a sender that is not a
 * configured peer, a timestamp outside the skew. The detail never repeats what the stranger
 * claimed: refusals are logged, and nothing unauthenticated is kept.
 */
export function admit(envelope: Envelope, expect: Omit<Expectation, 'guard'>): void {
  if (!expect.nodes.has(envelope.node)) throw new PeerRejected('unknown-node', 'the sender is not a configured peer');
  if (Math.abs(expect.now - envelope.timestamp) > expect.maxSkewMs) {
    throw new PeerRejected('stale', `timestamp ${expect.now - envelope.timestamp} ms away from ours (max ${expect.maxSkewMs}); check both clocks (NTP)`);
  }
}

/** The signature over the body, and only then the nonce: strangers cannot stuff the replay cache. */
export function verify(secret: Buffer, envelope: Envelope, signed: Omit<Signed, 'node' | 'timestamp' | 'nonce'>, expect: Expectation): void {
  if (!signatureMatches(secret, { ...signed, node: envelope.node, timestamp: envelope.timestamp, nonce: envelope.nonce }, envelope.signature)) {
    throw new PeerRejected('signature', 'wrong signature (different secret_file contents, or a message meant for another director)');
  }
  const fresh = expect.guard.check(envelope.node, envelope.nonce, envelope.timestamp, expect.now);
  if (fresh !== 'ok') throw new PeerRejected(fresh, `nonce ${fresh === 'replay' ? 'already seen' : 'expired'}`);
}

/** Both checks, for a message whose body is at hand. */
export function authenticate(secret: Buffer, envelope: Envelope, signed: Omit<Signed, 'node' | 'timestamp' | 'nonce'>, expect: Expectation): void {
  admit(envelope, expect);
  verify(secret, envelope, signed, expect);
}

/**
 * Peers send plain JSON: a compressed body would make the byte cap a cap on the compressed size.
 * Node's HTTP parts never decompress on their own; refusing here keeps it that way.
 */
export function refuseCompressed(contentEncoding: string | undefined): void {
  if (contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== 'identity') throw new PeerRejected('compressed', 'content-encoding other than identity');
}

/**
 * Reads a body of at most `limit` bytes. A declared length over the cap is refused before
 * reading; a stream that goes past it is destroyed at the cap, so a sender never makes us hold
 * more than `limit` bytes for it.
 */
export async function readCapped(stream: Readable, limit: number, declaredLength?: string): Promise<Buffer> {
  if (declaredLength !== undefined && !(/^\d{1,16}$/.test(declaredLength) && Number(declaredLength) <= limit)) {
    // Nothing read yet: the caller may still answer (413) before it closes.
    throw new PeerRejected('too-large', `declared length over ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new PeerRejected('too-large', `body larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** A signed body from the wire: JSON of `schema`'s shape, about the node that signed it (`what`: "view", "statement"). */
export function parseSigned<T extends { node: string }>(body: Buffer, signer: string, schema: z.ZodType<T>, what: string): T {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PeerRejected('malformed', `from ${signer}: body is not JSON`);
  }
  const parsed = schema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PeerRejected('malformed', `from ${signer}: ${issue.path.join('.').slice(0, 128) || what}: ${issue.message.slice(0, 200)}`);
  }
  if (parsed.data.node !== signer) throw new PeerRejected('malformed', `${what} of another node signed by ${signer}`);
  return parsed.data;
}

/** A view from the wire: JSON of the right shape, about the node that signed it. */
export function parseView(body: Buffer, signer: string): PeerView {
  return parseSigned(body, signer, peerViewSchema, 'view');
}
