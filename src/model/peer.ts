import { z } from 'zod';
import { VRRP_STATES } from './vrrp.js';

/**
 * What directors tell each other over the secondary link: the wire format of a view, validated
 * where it enters, and why a message can be refused.
 */

const name = z.string().min(1).max(128);
const ip = z.string().min(2).max(45);

const instanceSchema = z.strictObject({
  name,
  vrid: z.number().int().min(1).max(255).optional(),
  state: z.enum(VRRP_STATES),
  stateSince: z.number().nonnegative().optional(),
  basePriority: z.number().int().min(0).max(255).optional(),
  effectivePriority: z.number().int().min(0).max(255).optional(),
  /** Seconds between adverts. */
  advertInterval: z.number().positive().max(3600).optional(),
  /** Keyed digest of the authentication settings (never the password itself). */
  authDigest: z.string().regex(/^[0-9a-f]{16}$/).optional(),
  nopreempt: z.boolean().optional(),
  /** The address VRRP adverts come from (RFC 5798 breaks priority ties with it). */
  primaryAddress: ip.optional(),
  vips: z.array(ip).max(1024),
  /** Which of the VIPs are on this node's interfaces now (netlink); absent when unknown. */
  vipsPresent: z.array(ip).max(1024).optional(),
  advertSent: z.number().int().nonnegative().optional(),
  advertReceived: z.number().int().nonnegative().optional(),
});

/** What one director tells its peers. Built from the state snapshot; never holds a secret. */
export const peerViewSchema = z.strictObject({
  v: z.literal(1),
  node: name,
  keepalivedUp: z.boolean(),
  instances: z.array(instanceSchema).max(1024),
});

export type PeerView = z.infer<typeof peerViewSchema>;
export type PeerInstance = z.infer<typeof instanceSchema>;

export const REJECT_REASONS = ['unknown-node', 'missing-header', 'stale', 'replay', 'signature', 'malformed', 'too-large'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
