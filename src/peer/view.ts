import type { MailAck, PeerView } from '../model/peer.js';
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

/** `mailSent`: what this director's mailer confirms to the peers holding the same events. */
export function buildView(s: Snapshot, mailSent?: MailAck): PeerView {
  const present = s.addresses && new Set(s.addresses.map((a) => a.address));
  return {
    v: 1,
    node: s.node,
    keepalivedUp: s.keepalived.up,
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
  };
}
