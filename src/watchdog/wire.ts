import type { PeerInstance, PeerView, PeerWire } from '../model/peer.js';
import { SILENT_AFTER_INTERVALS } from '../model/wire.js';

/**
 * What the directors' wire views (src/vrrp/observer.ts, exchanged in the peer views) say about a
 * VRID: routers sending adverts for it that are not directors of the group, and whether each
 * MASTER's adverts reach each other director. Pure.
 */

export interface ForeignSpeaker {
  intf: string;
  vrid: number;
  address: string;
  priority: number;
  /** The director that hears it. */
  heardBy: string;
}

/** The addresses the group's directors send adverts of a VRID from; undefined when a director's is not known. */
function directorAddresses(views: readonly PeerView[], vrid: number): Set<string> | undefined {
  const addresses = new Set<string>();
  for (const view of views) {
    for (const i of view.instances) {
      if (i.vrid !== vrid) continue;
      if (i.primaryAddress === undefined) return undefined;
      addresses.add(i.primaryAddress);
    }
  }
  return addresses;
}

/**
 * Speakers of the group's VRIDs that are none of its directors: another cluster reusing the VRID,
 * or a router configured with it. Only VRIDs some director runs count (other VRIDs on the segment
 * are other groups'), and only where every director's advert address is known.
 */
export function foreignSpeakers(views: readonly PeerView[]): ForeignSpeaker[] {
  const found: ForeignSpeaker[] = [];
  const vrids = new Set(views.flatMap((v) => v.instances.flatMap((i) => (i.vrid === undefined ? [] : [i.vrid]))));
  for (const view of views) {
    for (const heard of view.wire?.vrids ?? []) {
      if (!vrids.has(heard.vrid)) continue;
      const directors = directorAddresses(views, heard.vrid);
      if (!directors) continue;
      for (const s of heard.speakers) if (!directors.has(s.address)) found.push({ intf: heard.intf, vrid: heard.vrid, address: s.address, priority: s.priority, heardBy: view.node });
    }
  }
  return found;
}

/**
 * Whether a director hears the adverts sent from `address` for a VRID, by its wire view: heard
 * within SILENT_AFTER_INTERVALS of their interval, not heard (its observer listened that long and
 * got none), or unknown (no wire view, or one too young to say).
 */
export function hears(wire: PeerWire | undefined, vrid: number, address: string, intervalMs: number): boolean | undefined {
  if (!wire) return undefined;
  const within = SILENT_AFTER_INTERVALS * intervalMs;
  const speaker = wire.vrids.find((v) => v.vrid === vrid)?.speakers.find((s) => s.address === address);
  if (speaker && speaker.ageMs <= SILENT_AFTER_INTERVALS * speaker.intervalMs) return true;
  return wire.interfaces.some((i) => (i.listeningMs ?? 0) >= within) ? false : undefined;
}

export interface Reach {
  vrid: number;
  /** The MASTER whose adverts these are, and the address they come from. */
  master: string;
  address: string;
  listener: string;
  heard: boolean;
}

/** For each MASTER of an instance and each other director with a wire view: are its adverts heard there. */
export function masterReach(accounts: readonly { node: string; view: PeerView; instance: PeerInstance }[]): Reach[] {
  const found: Reach[] = [];
  for (const m of accounts) {
    const { vrid, primaryAddress: address } = m.instance;
    if (m.instance.state !== 'MASTER' || !m.view.keepalivedUp || vrid === undefined || address === undefined) continue;
    const intervalMs = (m.instance.advertInterval ?? 1) * 1000;
    for (const other of accounts) {
      if (other.node === m.node) continue;
      const heard = hears(other.view.wire, vrid, address, intervalMs);
      if (heard !== undefined) found.push({ vrid, master: m.node, address, listener: other.node, heard });
    }
  }
  return found;
}

/**
 * Probable causes of a split brain of one VRID that the wire views show: foreign speakers of the
 * VRID, and which MASTER's adverts do not reach which director.
 */
export function wireCauses(accounts: readonly { node: string; view: PeerView; instance: PeerInstance }[], vrid: number | undefined): string[] {
  if (vrid === undefined) return [];
  const views = [...new Map(accounts.map((a) => [a.node, a.view])).values()];
  const foreign = foreignSpeakers(views).filter((f) => f.vrid === vrid);
  const byAddress = new Map<string, ForeignSpeaker[]>();
  for (const f of foreign) byAddress.set(f.address, [...(byAddress.get(f.address) ?? []), f]);
  const causes = [...byAddress].map(
    ([address, seen]) =>
      `${address} (priority ${seen[0]!.priority}), not a director of this group, sends adverts for VRID ${vrid} (heard by ${[...new Set(seen.map((s) => `${s.heardBy} on ${s.intf}`))].sort().join(', ')}): another cluster or router reuses the VRID`,
  );
  for (const r of masterReach(accounts)) {
    if (!r.heard) causes.push(`adverts from ${r.master} (${r.address}) for VRID ${vrid} do not reach ${r.listener}: its observer hears none`);
  }
  return causes;
}

/**
 * Whether the wire views confirm a dual MASTER as a split brain at once: every MASTER's adverts are
 * known not to reach every other MASTER, by that one's own observer. A preemption never looks like
 * this (the newcomer takes over because it hears the MASTER it outranks), nor does a hand-over
 * (each hears the other's adverts); a view that cannot tell (no observer, one too young) confirms
 * nothing, and `confirm_after` applies as before.
 */
export function wireConfirmsSplit(masters: readonly { node: string; view: PeerView; instance: PeerInstance }[]): boolean {
  if (masters.length < 2) return false;
  const reach = masterReach(masters);
  return reach.length === masters.length * (masters.length - 1) && reach.every((r) => !r.heard);
}
