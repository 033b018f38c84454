import { createHash } from 'node:crypto';
import { MAX_MAIL_ACKS, type MailAck } from '../model/peer.js';
import { verdictKey } from '../watchdog/diagnose.js';
import type { MailEvent } from './event.js';

/**
 * One mail per group event: which director of those that hear each other mails an event, and
 * what the others do with it meanwhile. Pure: the mailer feeds it the peers it hears and the
 * acknowledgements their views carry.
 */

/** Events a director holds for its group's sender at most; beyond, the oldest are mailed here. */
export const MAX_HELD_EVENTS = 1000;

/**
 * What makes two directors' events the same group event: their content, never when each saw it.
 * A verdict is its kind, instance, VRID, what it concerns (address, setting) and the directors
 * involved — not a split brain's `since`: each director draws it from the views it had when it
 * raised the verdict, which a later dump refines, so two directors can tell one split with
 * different times. One split of an instance is told from the next by the sender's ledger (only
 * ids it adds after a hold began confirm it). A lost or returning peer is that peer and the direction; a transition
 * or a watchdog action is the director that made it, the instance, the states and keepalived's
 * time for it, as that director's view tells its peers. An audit is the time its schedule fired
 * for and what it found: directors that found otherwise each mail theirs.
 */
export function eventIdentity(e: MailEvent): string {
  switch (e.kind) {
    case 'verdict': {
      const v = e.verdict;
      const concerns = v.kind === 'vip-on-several-nodes' || v.kind === 'vip-absent-on-master' ? v.address : v.kind === 'config-mismatch' ? v.field : '';
      return JSON.stringify(['verdict', e.change, v.kind, v.iname, v.vrid ?? '', concerns, involvedOf(e) ?? []]);
    }
    case 'peer':
      return JSON.stringify(['peer', e.change, e.peer]);
    case 'transition':
      return JSON.stringify(['transition', e.node, e.scope, e.name, e.from, e.to, e.at]);
    case 'action':
      return JSON.stringify(['action', e.node, e.entry.action, e.entry.iname, e.entry.at]);
    case 'audit':
      return JSON.stringify(['audit', e.at, e.findings.map((f) => verdictKey(f)).sort()]);
  }
}

/** The identity as it travels in acknowledgements: 64 bits of its SHA-256, in hex. */
export function eventId(e: MailEvent): string {
  return createHash('sha256').update(eventIdentity(e)).digest('hex').slice(0, 16);
}

export const EVENT_ID = /^[0-9a-f]{16}$/;

/**
 * The directors an event is about, who each draw it from their own state: a verdict's MASTERs,
 * holders or differing directors; the director of a transition or an action (no other sees it
 * happen). Undefined: any director that hears of it (a lost peer is news to all the others).
 */
export function involvedOf(e: MailEvent): string[] | undefined {
  switch (e.kind) {
    case 'verdict': {
      const v = e.verdict;
      switch (v.kind) {
        case 'split-brain':
          return [...v.masters].sort();
        case 'vip-absent-on-master':
          return [v.node];
        case 'config-mismatch':
          return Object.keys(v.values).sort();
        case 'not-on-preferred-owner':
          return [...new Set([v.master, v.preferred])].sort();
        default:
          return [...v.nodes].sort();
      }
    }
    case 'transition':
    case 'action':
      return [e.node];
    case 'peer':
    case 'audit':
      return undefined;
  }
}

/**
 * Who mails an event, as `self` sees the group: the first by name among the involved directors
 * that `self` hears (itself included), else among every director it hears; never the peer a
 * peer event is about. Directors that hear each other compute the same sender; a director that
 * hears none of them is its own. With a partition, each side has its own sender, so both mail.
 */
export function chooseSender(e: MailEvent, self: string, heard: ReadonlySet<string>): string {
  const reach = [...new Set([self, ...heard])].filter((d) => e.kind !== 'peer' || d !== e.peer).sort();
  const involved = involvedOf(e);
  const candidates = involved ? reach.filter((d) => involved.includes(d)) : reach;
  return candidates[0] ?? reach[0] ?? self;
}

/**
 * A director's record of the event ids it mailed, as its peer view carries it: `seq` counts every
 * id ever added; `ids` are the newest MAX_MAIL_ACKS, oldest first, `ids[i]` added as number
 * `seq - ids.length + i + 1`.
 */
export type SentLedger = MailAck;

export function emptyLedger(): SentLedger {
  return { seq: 0, ids: [] };
}

export function recordSent(ledger: SentLedger, ids: readonly string[]): SentLedger {
  if (ids.length === 0) return ledger;
  return { seq: ledger.seq + ids.length, ids: [...ledger.ids, ...ids].slice(-MAX_MAIL_ACKS) };
}

/** The ids of a ledger added after number `after`: what a sender confirmed since a hold began. */
export function sentSince(ledger: SentLedger, after: number): Set<string> {
  const first = ledger.seq - ledger.ids.length + 1;
  return new Set(ledger.ids.filter((_, i) => first + i > after));
}

/** An event this director keeps because another director of the group is to mail it. */
export interface HeldEvent {
  id: string;
  event: MailEvent;
  sender: string;
  /** When the hold began, by this director's clock. */
  heldAt: number;
  /** The sender's ledger `seq` when the hold began: only ids it adds later confirm this event. */
  after: number;
}

/** How the sender of a held event stands, as this director knows it now. */
export interface SenderStanding {
  /** Its last exchange failed and it is not heard: it may be down, so may its mail. */
  lost: boolean;
  ledger?: SentLedger;
}

export type HeldRelease = 'sender-lost' | 'unconfirmed';

export interface HeldReview {
  keep: HeldEvent[];
  /** The sender mailed them: done. */
  confirmed: HeldEvent[];
  /** To mail here after all: the sender was lost, or did not confirm within the bound. */
  released: { held: HeldEvent; why: HeldRelease }[];
  /** When to look again at the latest, if anything is still held. */
  nextAt?: number;
}

/**
 * What becomes of each held event now: confirmed by its sender's ledger, released because the
 * sender is lost or `confirmWithinMs` passed without its confirmation, or still kept. Never
 * drops an event without a confirmation: every event is mailed once by someone, or by this one.
 */
export function reviewHeld(held: readonly HeldEvent[], now: number, confirmWithinMs: number, standing: (sender: string) => SenderStanding): HeldReview {
  const review: HeldReview = { keep: [], confirmed: [], released: [] };
  const confirmedIds = new Map<string, Set<string>>();
  for (const h of held) {
    const s = standing(h.sender);
    const sent = s.ledger && (confirmedIds.get(`${h.sender}|${h.after}`) ?? sentSince(s.ledger, h.after));
    if (s.ledger && sent) confirmedIds.set(`${h.sender}|${h.after}`, sent);
    if (sent?.has(h.id)) review.confirmed.push(h);
    else if (s.lost) review.released.push({ held: h, why: 'sender-lost' });
    else if (now >= h.heldAt + confirmWithinMs) review.released.push({ held: h, why: 'unconfirmed' });
    else {
      review.keep.push(h);
      review.nextAt = Math.min(review.nextAt ?? Infinity, h.heldAt + confirmWithinMs);
    }
  }
  return review;
}
