import type { VrrpState } from '../model/vrrp.js';
import type { WireView } from '../model/wire.js';
import type { Statement } from '../peer/heartbeat.js';

/**
 * watchdog.policy prevent, the decision: hold a BACKUP's instance (its track file, as a demotion
 * does) before keepalived's master-down timer fires when the MASTER's adverts no longer arrive here
 * while the MASTER's sidecar says, freshly and signed, that it is MASTER, keepalived runs and its
 * witness on the primary segment answers — so keepalived never makes the second MASTER. Released
 * at once when the adverts arrive again, when the MASTER's sidecar stops confirming (its last
 * statement older than the bound) or says otherwise. Pure: facts in, holds and releases out.
 */

/**
 * How long the MASTER's adverts must be missing before a hold, in advert intervals: one advert lost
 * never holds (the next one is due at 2), two in a row do, and keepalived's master-down timer
 * (3 intervals plus a skew) is still half an interval away.
 */
export const HOLD_AFTER_INTERVALS = 2.5;

export interface LocalInstance {
  name: string;
  vrid?: number;
  state: VrrpState;
  /** The interface its adverts go over, when a dump told it. */
  intf?: string;
  advertIntervalMs: number;
}

/** A peer's statement, with the local time its heartbeat was sent: it is no older than that. */
export interface Heard {
  peer: string;
  sentAt: number;
  statement: Statement;
}

/** A hold in force: since when, and the MASTER it keeps. */
export interface Hold {
  since: number;
  master: string;
  /** The address the MASTER's adverts come from. */
  address: string;
}

export interface PreventInput {
  now: number;
  /** A statement older than this (by its heartbeat's send time) confirms nothing. */
  boundMs: number;
  instances: readonly LocalInstance[];
  /** The freshest statement of each peer. */
  statements: readonly Heard[];
  /** This director's wire view; without one nothing is held (nothing says the adverts are missing). */
  wire?: WireView;
  held: ReadonlyMap<string, Hold>;
  /** Holds made in the last hour, and the cap on them: releases are never capped. */
  holdsLastHour: number;
  maxHoldsPerHour: number;
}

export type PreventDecision =
  | { kind: 'hold'; iname: string; vrid: number; master: string; address: string; reason: string }
  | { kind: 'release'; iname: string; vrid?: number; master: string; reason: string }
  /** Held still; `until`: when the statement keeping it goes stale, the latest it may be kept without a fresher one. */
  | { kind: 'keep'; iname: string; master: string; until: number }
  /** Would hold but may not (the cap). */
  | { kind: 'wait'; iname: string; why: string };

/** The peers whose fresh statements say they are MASTER of `vrid` with keepalived up and the witness answering. */
function confirmedMasters(input: PreventInput, vrid: number): { heard: Heard; address: string }[] {
  return input.statements.flatMap((h) => {
    if (input.now - h.sentAt > input.boundMs || !h.statement.keepalivedUp || !h.statement.witnessAnswers) return [];
    const i = h.statement.instances.find((x) => x.vrid === vrid && x.state === 'MASTER');
    return i?.address === undefined ? [] : [{ heard: h, address: i.address }];
  });
}

/** Why a statement does not keep a hold on `vrid` for `master`; undefined when it does. */
function unconfirmed(input: PreventInput, vrid: number | undefined, master: string): string | undefined {
  const h = input.statements.find((s) => s.peer === master);
  if (!h) return `no statement from ${master}`;
  const age = input.now - h.sentAt;
  if (age > input.boundMs) return `${master} stopped confirming: its last statement is ${age} ms old (bound ${input.boundMs} ms)`;
  if (!h.statement.keepalivedUp) return `${master} says its keepalived is down`;
  if (!h.statement.witnessAnswers) return `${master} says its witness does not answer`;
  if (vrid === undefined || !h.statement.instances.some((i) => i.vrid === vrid && i.state === 'MASTER')) return `${master} no longer says it is MASTER of VRID ${vrid}`;
  return undefined;
}

/**
 * How long the adverts from `address` for `vrid` have been missing here, by the wire view: since
 * the last one heard, or since the observer began listening when none was; undefined when the view
 * cannot tell (not listening there).
 */
export function silentFor(wire: WireView | undefined, now: number, vrid: number, address: string, intf?: string): number | undefined {
  if (!wire) return undefined;
  const listening = wire.interfaces.filter((i) => i.up && i.since !== undefined && (intf === undefined || i.intf === intf));
  if (listening.length === 0) return undefined;
  const last = wire.vrids
    .filter((v) => v.vrid === vrid && listening.some((i) => i.intf === v.intf))
    .flatMap((v) => v.speakers.filter((s) => s.address === address).map((s) => s.lastAdvert));
  return now - Math.max(...last, ...listening.map((i) => i.since!));
}

export function decidePrevent(input: PreventInput): PreventDecision[] {
  const out: PreventDecision[] = [];
  let holds = input.holdsLastHour;
  const byName = new Map(input.instances.map((i) => [i.name, i]));
  for (const [iname, hold] of input.held) {
    const local = byName.get(iname);
    const silence = local?.vrid === undefined ? undefined : silentFor(input.wire, input.now, local.vrid, hold.address, local.intf);
    const why = !local
      ? `${iname} is no longer configured here`
      : (unconfirmed(input, local.vrid, hold.master) ??
        (silence === undefined ? 'the VRRP observer no longer listens' : silence < HOLD_AFTER_INTERVALS * local.advertIntervalMs ? `adverts from ${hold.master} arrive again` : undefined));
    if (why) out.push({ kind: 'release', iname, vrid: local?.vrid, master: hold.master, reason: why });
    else out.push({ kind: 'keep', iname, master: hold.master, until: input.statements.find((s) => s.peer === hold.master)!.sentAt + input.boundMs });
  }
  for (const local of input.instances) {
    if (input.held.has(local.name) || local.state !== 'BACKUP' || local.vrid === undefined) continue;
    const masters = confirmedMasters(input, local.vrid);
    // Two directors saying MASTER is a split already, or a hand-over: not for prevent to pick one.
    if (masters.length !== 1) continue;
    const { heard, address } = masters[0]!;
    const silence = silentFor(input.wire, input.now, local.vrid, address, local.intf);
    if (silence === undefined || silence < HOLD_AFTER_INTERVALS * local.advertIntervalMs) continue;
    if (holds >= input.maxHoldsPerHour) {
      out.push({ kind: 'wait', iname: local.name, why: `${holds} holds in the last hour, the cap is ${input.maxHoldsPerHour}: keepalived decides alone` });
      continue;
    }
    holds++;
    out.push({
      kind: 'hold',
      iname: local.name,
      vrid: local.vrid,
      master: heard.peer,
      address,
      reason: `no advert from ${heard.peer} (${address}) for VRID ${local.vrid} in ${silence} ms, while ${heard.peer} says, ${input.now - heard.sentAt} ms ago, it is MASTER with keepalived up and its witness answering`,
    });
  }
  return out;
}
