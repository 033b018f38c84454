import { MAX_WIRE_SPEAKERS, MAX_WIRE_VRIDS, type MailAck, type PeerView, type PeerWire } from '../model/peer.js';
import type { WireView } from '../model/wire.js';
import { SAME_TRANSITION_MS } from '../state/identity.js';
import type { InstanceView, Snapshot } from '../state/snapshot.js';

/** The first address on the instance's interface that is not one of its VIPs: the advert source. */
function primaryAddress(s: Snapshot, instance: InstanceView): string | undefined {
  const vips = new Set(instance.vips.map((v) => v.address));
  const family = instance.vips[0]?.address.includes(':') ? 6 : 4;
  return s.addresses?.find((a) => a.ifname === instance.interface && a.family === family && !vips.has(a.address))?.address;
}

/** Only a dump sets an instance's settings, and every dumped instance has its vrid: an instance known from the hook or FIFO alone has none. */
function fromDump(instance: InstanceView): boolean {
  return instance.vrid !== undefined;
}

/** The bounded summary of a wire view the peers get: ages at `view.at`, most recently heard first. */
export function wireSummary(view: WireView): PeerWire {
  return {
    interfaces: view.interfaces.slice(0, 64).map((i) => ({ intf: i.intf, ...(i.up && i.since !== undefined && { listeningMs: Math.max(0, view.at - i.since) }) })),
    vrids: view.vrids.slice(0, MAX_WIRE_VRIDS).map((v) => ({
      intf: v.intf,
      vrid: v.vrid,
      speakers: v.speakers.slice(0, MAX_WIRE_SPEAKERS).map((sp) => ({ address: sp.address, priority: sp.priority, intervalMs: sp.intervalMs, ageMs: Math.max(0, view.at - sp.lastAdvert), adverts: sp.adverts })),
      overflow: v.overflow + Math.max(0, v.speakers.length - MAX_WIRE_SPEAKERS),
    })),
  };
}

/**
 * How late this director may learn of a transition its keepalived made (PeerView.reportLagMs):
 * the FIFO's lines come as keepalived writes them, once the FIFO has shown it is written to;
 * otherwise the hook tells, after a fork and an exec that load can stretch.
 */
export function reportLagMs(s: Pick<Snapshot, 'sources'>): number {
  const fifo = s.sources.fifo;
  return fifo.enabled && fifo.events > 0 ? 0 : SAME_TRANSITION_MS;
}

/** `mailSent`: what this director's mailer confirms to the peers holding the same events; `wire`: what it hears of VRRP. */
export function buildView(s: Snapshot, mailSent?: MailAck, wire?: PeerWire): PeerView {
  const present = s.addresses && new Set(s.addresses.map((a) => a.address));
  return {
    v: 1,
    node: s.node,
    keepalivedUp: s.keepalived.up,
    reportLagMs: reportLagMs(s),
    ...(mailSent && { mailSent }),
    instances: Object.values(s.instances).map((i) => ({
      name: i.name,
      vrid: i.vrid,
      settingsKnown: fromDump(i),
      state: i.state,
      stateSince: i.stateSince,
      basePriority: i.basePriority,
      effectivePriority: i.effectivePriority,
      advertInterval: i.advertInterval,
      authDigest: i.authDigest,
      nopreempt: i.nopreempt,
      primaryAddress: primaryAddress(s, i),
      vips: i.vips.map((v) => v.address),
      // Which VIPs are present means something only once the instance's VIPs are known.
      vipsPresent: present && fromDump(i) ? i.vips.map((v) => v.address).filter((a) => present.has(a)) : undefined,
      advertSent: i.stats?.advert_sent,
      advertReceived: i.stats?.advert_rcvd,
    })),
    drill: s.drill,
    ...(wire && { wire }),
  };
}
