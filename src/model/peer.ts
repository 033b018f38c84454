import { z } from 'zod';
import { VRRP_STATES } from './vrrp.js';

/**
 * What directors tell each other over the secondary link: the wire format of a view, validated
 * where it enters, and why a message can be refused.
 */

/**
 * Names (nodes, instances) as keepalived and the config spell them: visible ASCII, no quotes or
 * backslashes, so a name from a peer can reach logs, labels and the status page as it is.
 */
export const PEER_NAME = /^[\x21\x23-\x26\x28-\x5b\x5d-\x7e]{1,128}$/;
const name = z.string().regex(PEER_NAME, { message: 'expected 1 to 128 visible ASCII characters without quotes or backslashes' });
const ip = z.union([z.ipv4(), z.ipv6()]);
/** Counters and times beyond what a number holds exactly are clamped, not refused: the rest of the view still counts. */
const clamped = (min: number, max: number) => z.number().transform((n) => Math.min(max, Math.max(min, Math.floor(n))));
const counter = clamped(0, Number.MAX_SAFE_INTEGER);

/**
 * A view and its instances take fields they do not know and drop them: a director of a newer
 * version is heard during a rolling upgrade (the view is authenticated; what it adds is optional).
 */
const instanceSchema = z.object({
  name,
  vrid: z.number().int().min(1).max(255).optional(),
  /**
   * Whether the settings below (vrid, VIPs, priorities, authentication, advert interval) are
   * keepalived's, from a dump: before its first dump a director knows an instance's state only,
   * and its empty VIP list says nothing. Absent in views from directors that predate it: then the
   * settings count as known when the vrid is (a dump always tells it).
   */
  settingsKnown: z.boolean().optional(),
  state: z.enum(VRRP_STATES),
  stateSince: counter.optional(),
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
  advertSent: counter.optional(),
  advertReceived: counter.optional(),
});

/** Most event ids one view acknowledges (the sender's newest). */
export const MAX_MAIL_ACKS = 512;

/**
 * The mails a director sent for its group, so the directors holding the same events for it know
 * they went out: a count of every event id it ever acknowledged, and its newest ids, oldest first.
 */
const mailAckSchema = z.strictObject({
  seq: counter,
  ids: z.array(z.string().regex(/^[0-9a-f]{16}$/)).max(MAX_MAIL_ACKS),
}).refine((ack) => ack.ids.length <= ack.seq, { message: 'more ids than the count of ids ever sent' });

/** Most VRIDs and speakers per VRID one view tells of what its director hears on the wire. */
export const MAX_WIRE_VRIDS = 256;
export const MAX_WIRE_SPEAKERS = 16;
const ifname = z.string().regex(/^[\x21\x23-\x26\x28-\x2e\x30-\x5b\x5d-\x7e]{1,15}$/, { message: 'expected an interface name' });

/**
 * What a director hears of VRRP on its interfaces (src/vrrp/observer.ts), bounded: per VRID the
 * speakers with how long ago each last advert came (ages, not times: the clocks may differ by up to
 * max_skew), and per interface for how long it has listened, so a speaker absent from a view that
 * listened long enough is one whose adverts do not arrive there.
 */
const wireSchema = z.strictObject({
  interfaces: z.array(z.strictObject({ intf: ifname, listeningMs: counter.optional() })).max(64),
  vrids: z
    .array(
      z.strictObject({
        intf: ifname,
        vrid: z.number().int().min(1).max(255),
        speakers: z
          .array(
            z.strictObject({
              address: ip,
              priority: z.number().int().min(0).max(255),
              /** VRRPv3 counts centiseconds up to 4095, VRRPv2 seconds up to 255. */
              intervalMs: z.number().int().min(10).max(255_000),
              ageMs: counter,
              adverts: counter,
            }),
          )
          .max(MAX_WIRE_SPEAKERS),
        overflow: counter,
      }),
    )
    .max(MAX_WIRE_VRIDS),
});

/** What one director tells its peers. Built from the state snapshot; never holds a secret. */
export const peerViewSchema = z.object({
  v: z.literal(1),
  node: name,
  keepalivedUp: z.boolean(),
  /**
   * How late this director may learn of its keepalived's transitions: next to nothing where the
   * FIFO tells them, the hook's bound where only the hook does (keepalived 1.3.5, FIFO off). Its
   * peers wait that long before they read a MASTER without its VIPs, or a VIP on a director still
   * BACKUP by its last report, as more than a transition in passing. Absent from older versions.
   */
  reportLagMs: clamped(0, 60_000).optional(),
  /** Absent from directors without mail, and from those that predate it. */
  mailSent: mailAckSchema.optional(),
  instances: z
    .array(instanceSchema)
    .max(1024)
    .superRefine((instances, ctx) => {
      const seen = new Set<string>();
      instances.forEach((i, index) => {
        if (seen.has(i.name)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `instance ${i.name} is listed twice` });
        seen.add(i.name);
      });
    }),
  /** The drill this director is running, if any: the peers agree that only one runs in the group at a time. */
  drill: z.strictObject({ instance: name, since: counter }).optional(),
  /** What it hears on the wire; absent without the observer, and from directors that predate it. */
  wire: wireSchema.optional(),
});

export type PeerView = z.infer<typeof peerViewSchema>;
export type PeerInstance = z.infer<typeof instanceSchema>;
export type MailAck = z.infer<typeof mailAckSchema>;
export type DrillMark = NonNullable<PeerView['drill']>;
export type PeerWire = z.infer<typeof wireSchema>;

export const REJECT_REASONS = ['unknown-node', 'missing-header', 'stale', 'replay', 'signature', 'malformed', 'too-large', 'compressed', 'source-address', 'busy'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
