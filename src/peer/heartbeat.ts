import { z } from 'zod';
import { PEER_NAME } from '../model/peer.js';
import { VRRP_STATES } from '../model/vrrp.js';
import { parseSigned } from './protocol.js';

/**
 * The prevent heartbeat (watchdog.policy prevent): a director asks each peer, many times a second,
 * what it is now, and the peer answers with a signed statement bound to that request's nonce. The
 * asker knows the statement is no older than the moment it sent the request, by its own clock alone:
 * a statement's age never depends on the clocks agreeing, and a captured one cannot be replayed.
 */
export const HEARTBEAT_PATH = '/peer/v2/heartbeat';
/** A statement lists a director's instances and three facts: a few KiB at most. */
export const MAX_STATEMENT_BYTES = 64 * 1024;

const name = z.string().regex(PEER_NAME);

export const statementSchema = z.strictObject({
  v: z.literal(1),
  node: name,
  /** keepalived's process runs, by /proc, checked as the statement was made. */
  keepalivedUp: z.boolean(),
  /** The witness on the primary segment answered this director's last probe, and that probe is recent. */
  witnessAnswers: z.boolean(),
  instances: z
    .array(
      z.strictObject({
        name,
        vrid: z.number().int().min(1).max(255).optional(),
        state: z.enum(VRRP_STATES),
        /** The address its adverts come from. */
        address: z.union([z.ipv4(), z.ipv6()]).optional(),
      }),
    )
    .max(1024),
});

export type Statement = z.infer<typeof statementSchema>;

/** A statement from the wire: JSON of the right shape, about the node that signed it. */
export function parseStatement(body: Buffer, signer: string): Statement {
  return parseSigned(body, signer, statementSchema, 'statement');
}

/** What the peer link needs to run heartbeats; absent unless the policy is prevent. */
export interface HeartbeatOptions {
  intervalMs: number;
  /** Longest a heartbeat waits for its answer: past the freshness bound an answer is worth nothing. */
  timeoutMs: number;
  /** This director's statement now, made for each answer. */
  statement: () => Promise<Statement>;
  /** A peer's statement, with the local time its request was sent (the statement is no older). */
  onStatement: (peer: string, statement: Statement, sentAt: number) => void;
}
