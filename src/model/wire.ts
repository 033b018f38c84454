/**
 * What a director hears of VRRP on its own interfaces (src/vrrp/): per interface and VRID every
 * router sending adverts, with the time of its last one. The observer builds it; the metrics, the
 * peer view's summary and the watchdog's probable causes read it.
 */

/**
 * A speaker whose last advert is older than this many of its intervals is not heard now: a MASTER
 * sends one every interval, so one and a half tells a lost stream within about one interval while
 * the few milliseconds of a timer's jitter never do. (A gap, VRRP's master-down time, is three.)
 */
export const SILENT_AFTER_INTERVALS = 1.5;

/** One router heard sending adverts for a VRID on an interface. */
export interface WireSpeaker {
  address: string;
  version: 2 | 3;
  priority: number;
  /** The interval its adverts announce, in milliseconds. */
  intervalMs: number;
  /** Epoch ms of its first and last advert heard. */
  firstAdvert: number;
  lastAdvert: number;
  adverts: number;
  /** Adverts that came more than 3 × its interval after the one before (VRRP's master-down time). */
  gaps: number;
  /** VRRPv2: its authentication type, and whether a simple password matched this host's (never the password). */
  auth?: 'none' | 'simple' | 'ah' | 'unknown';
  authMatches?: boolean;
  /** The virtual addresses its adverts list. */
  addresses: readonly string[];
}

export interface WireVrid {
  intf: string;
  vrid: number;
  /** Most recently heard first. */
  speakers: readonly WireSpeaker[];
  /** Speakers not tracked because the VRID already had the most this host keeps per VRID. */
  overflow: number;
}

export interface WireInterface {
  intf: string;
  /** Listening now (its sockets are open). */
  up: boolean;
  /** Since when it has been listening, epoch ms; unset while it is not. */
  since?: number;
  lastError?: string;
  /** Datagrams refused, by reason (src/vrrp/packet.ts MALFORMED_REASONS). */
  malformed: Readonly<Record<string, number>>;
}

/** The whole of what this host hears, at one moment. */
export interface WireView {
  at: number;
  interfaces: readonly WireInterface[];
  vrids: readonly WireVrid[];
}

/** The source of a wire view: the observer, or nothing when it is switched off. */
export interface WireListener {
  view(now?: number): WireView;
  /** Every speaker of one VRID on one interface, with the time of its last advert. */
  speakersOf(intf: string, vrid: number): readonly WireSpeaker[];
}
