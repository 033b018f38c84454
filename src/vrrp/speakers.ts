import { SILENT_AFTER_INTERVALS, type WireSpeaker, type WireVrid } from '../model/wire.js';
import type { Advert } from './packet.js';

/** Speakers kept per interface and VRID: a LAN has two or three routers per VRID, a flood has thousands. */
export const MAX_SPEAKERS_PER_VRID = 16;
/** VRRP's master-down time is three advert intervals (plus a skew under a second). */
export const GAP_INTERVALS = 3;

interface Entry {
  intf: string;
  vrid: number;
  speakers: Map<string, WireSpeaker>;
  overflow: number;
}

/**
 * Every speaker heard per interface and VRID, from parsed adverts. Pure bookkeeping (the caller
 * gives the time): bounded to MAX_SPEAKERS_PER_VRID per VRID, where a newcomer replaces only a
 * speaker silent for longer than its master-down time, and is otherwise counted as overflow.
 */
export class SpeakerTable {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly forgetAfterMs: number) {}

  /** Notes one advert; says whether it added a speaker (the peers hear of new ones at once). */
  record(intf: string, advert: Advert, at: number): 'new' | 'known' | 'overflow' {
    const key = `${intf}|${advert.vrid}`;
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { intf, vrid: advert.vrid, speakers: new Map(), overflow: 0 }));
    const known = entry.speakers.get(advert.source);
    const auth = advert.auth && { auth: advert.auth.type, ...(advert.auth.matches !== undefined && { authMatches: advert.auth.matches }) };
    if (known) {
      const gap = at - known.lastAdvert > GAP_INTERVALS * known.intervalMs;
      entry.speakers.set(advert.source, { ...known, version: advert.version, priority: advert.priority, intervalMs: advert.intervalMs, lastAdvert: at, adverts: known.adverts + 1, gaps: known.gaps + (gap ? 1 : 0), addresses: advert.addresses, ...auth });
      return 'known';
    }
    if (entry.speakers.size >= MAX_SPEAKERS_PER_VRID) {
      const stale = [...entry.speakers.values()].filter((s) => at - s.lastAdvert > GAP_INTERVALS * s.intervalMs).sort((a, b) => a.lastAdvert - b.lastAdvert)[0];
      if (!stale) {
        entry.overflow++;
        return 'overflow';
      }
      entry.speakers.delete(stale.address);
    }
    entry.speakers.set(advert.source, { address: advert.source, version: advert.version, priority: advert.priority, intervalMs: advert.intervalMs, firstAdvert: at, lastAdvert: at, adverts: 1, gaps: 0, addresses: advert.addresses, ...auth });
    return 'new';
  }

  /** Forgets speakers silent for forgetAfterMs (a foreign router that left stops being reported); says whether any went. */
  expire(now: number): boolean {
    let removed = false;
    for (const [key, entry] of this.entries) {
      for (const [address, s] of entry.speakers) {
        if (now - s.lastAdvert > this.forgetAfterMs) {
          entry.speakers.delete(address);
          removed = true;
        }
      }
      if (entry.speakers.size === 0 && entry.overflow === 0) this.entries.delete(key);
    }
    return removed;
  }

  /** Forgets one interface's speakers (it stopped being listened to). */
  dropInterface(intf: string): void {
    for (const [key, entry] of this.entries) if (entry.intf === intf) this.entries.delete(key);
  }

  /** `INTF|VRID|ADDRESS` of every speaker not heard within SILENT_AFTER_INTERVALS of its interval. */
  silent(now: number): Set<string> {
    const out = new Set<string>();
    for (const e of this.entries.values()) for (const s of e.speakers.values()) if (now - s.lastAdvert > SILENT_AFTER_INTERVALS * s.intervalMs) out.add(`${e.intf}|${e.vrid}|${s.address}`);
    return out;
  }

  speakersOf(intf: string, vrid: number): WireSpeaker[] {
    return sorted(this.entries.get(`${intf}|${vrid}`)?.speakers.values() ?? []);
  }

  vrids(): WireVrid[] {
    return [...this.entries.values()]
      .map((e) => ({ intf: e.intf, vrid: e.vrid, speakers: sorted(e.speakers.values()), overflow: e.overflow }))
      .sort((a, b) => a.intf.localeCompare(b.intf) || a.vrid - b.vrid);
  }
}

function sorted(speakers: Iterable<WireSpeaker>): WireSpeaker[] {
  return [...speakers].sort((a, b) => b.lastAdvert - a.lastAdvert || a.address.localeCompare(b.address));
}
