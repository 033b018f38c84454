import { Counter, Gauge, type Registry } from 'prom-client';
import type { PeerView } from '../model/peer.js';
import type { WireListener, WireSpeaker } from '../model/wire.js';
import { buildView, wireSummary } from '../peer/view.js';
import type { StateStore } from '../state/store.js';
import { foreignSpeakers, masterReach } from '../watchdog/wire.js';

/** This director's view with what it hears, and the last view of every peer: the group as far as it is known. */
function groupViews(store: StateStore, wire: WireListener | undefined): PeerView[] {
  const s = store.snapshot;
  return [buildView(s, undefined, wire && wireSummary(wire.view())), ...Object.values(s.peers).flatMap((p) => (p.view ? [p.view] : []))];
}

/**
 * The VRRP observer's view (src/vrrp/observer.ts), read at scrape time. Series per speaker are
 * bounded: at most 16 speakers per interface and VRID (the rest counted as overflow), and a
 * speaker silent for vrrp_wire.forget_after leaves them.
 */
export function registerWireMetrics(registry: Registry, store: StateStore, wire: () => WireListener | undefined): void {
  new Gauge({
    name: 'kawatch_vrrp_wire_listening',
    help: 'The VRRP observer listens on this interface (raw sockets for IP protocol 112 are open): 1, or 0 (see the log for why).',
    labelNames: ['intf'],
    registers: [registry],
    collect() {
      this.reset();
      for (const i of wire()?.view().interfaces ?? []) this.set({ intf: i.intf }, i.up ? 1 : 0);
    },
  });
  new Counter({
    name: 'kawatch_vrrp_wire_malformed_total',
    help: 'Datagrams of IP protocol 112 refused by the observer, by reason (truncated, checksum, ttl, version, ...).',
    labelNames: ['intf', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const i of wire()?.view().interfaces ?? []) for (const [reason, n] of Object.entries(i.malformed)) this.inc({ intf: i.intf, reason }, n);
    },
  });
  const speakers = () => (wire()?.view().vrids ?? []).flatMap((v) => v.speakers.map((s) => ({ labels: { intf: v.intf, vrid: v.vrid, speaker: s.address }, s })));
  for (const [name, help, value] of [
    ['kawatch_vrrp_wire_adverts_total', 'VRRP adverts heard on the wire from this speaker for this VRID.', (s: WireSpeaker) => s.adverts],
    ['kawatch_vrrp_wire_gaps_total', "Adverts from this speaker that came more than 3 advert intervals after its previous one (VRRP's master-down time).", (s: WireSpeaker) => s.gaps],
  ] as const) {
    new Counter({
      name,
      help,
      labelNames: ['intf', 'vrid', 'speaker'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, s } of speakers()) this.inc(labels, value(s));
      },
    });
  }
  for (const [name, help, value] of [
    ['kawatch_vrrp_wire_last_advert_timestamp_seconds', 'When the last advert from this speaker for this VRID was heard.', (s: WireSpeaker) => s.lastAdvert / 1000],
    ['kawatch_vrrp_wire_speaker_priority', 'The priority in the last advert from this speaker.', (s: WireSpeaker) => s.priority],
    ['kawatch_vrrp_wire_speaker_advert_interval_seconds', 'The advert interval in the last advert from this speaker.', (s: WireSpeaker) => s.intervalMs / 1000],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ['intf', 'vrid', 'speaker'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, s } of speakers()) this.set(labels, value(s));
      },
    });
  }
  new Gauge({
    name: 'kawatch_vrrp_wire_auth_mismatch',
    help: "1 when this speaker's VRRPv2 simple password differs from this host's for the VRID (the password itself is never exported).",
    labelNames: ['intf', 'vrid', 'speaker'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of wire()?.view().vrids ?? []) for (const s of v.speakers) if (s.authMatches !== undefined) this.set({ intf: v.intf, vrid: v.vrid, speaker: s.address }, s.authMatches ? 0 : 1);
    },
  });
  new Counter({
    name: 'kawatch_vrrp_wire_speakers_overflow_total',
    help: 'Adverts from speakers not tracked because the VRID already had 16 recently heard speakers on this interface.',
    labelNames: ['intf', 'vrid'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of wire()?.view().vrids ?? []) if (v.overflow > 0) this.inc({ intf: v.intf, vrid: v.vrid }, v.overflow);
    },
  });
  new Gauge({
    name: 'kawatch_vrrp_wire_foreign_speaker',
    help: "1 per router heard here sending adverts for one of the group's VRIDs that is none of its directors: another cluster or router reusing the VRID.",
    labelNames: ['intf', 'vrid', 'speaker'],
    registers: [registry],
    collect() {
      this.reset();
      const self = store.snapshot.node;
      for (const f of foreignSpeakers(groupViews(store, wire()))) if (f.heardBy === self) this.set({ intf: f.intf, vrid: f.vrid, speaker: f.address }, 1);
    },
  });
  new Gauge({
    name: 'kawatch_vrrp_wire_master_heard',
    help: "Whether the adverts of the MASTER of a VRID reach a director (1) or not (0), from that director's own observer, as last told over the peer link.",
    labelNames: ['vrid', 'master', 'listener'],
    registers: [registry],
    collect() {
      this.reset();
      const listener = wire();
      if (!listener) return;
      const views = groupViews(store, listener);
      for (const vrid of new Set(views.flatMap((v) => v.instances.flatMap((i) => (i.vrid === undefined ? [] : [i.vrid]))))) {
        const accounts = views.flatMap((view) => view.instances.filter((i) => i.vrid === vrid).map((instance) => ({ node: view.node, view, instance })));
        for (const r of masterReach(accounts)) this.set({ vrid, master: r.master, listener: r.listener }, r.heard ? 1 : 0);
      }
    },
  });
}
