/**
 * What must hold whatever faults a lab goes through, checked against ground truth: keepalived's
 * own log (each instance's state over time), the VIPs and track files seen in the namespaces, and
 * what the mail recorder received. Pure: the runner gathers the facts, these functions judge them,
 * so each judgement can be tested on hand-made timelines.
 */

export const INVARIANTS = [
  /** Every keepalived transition counted once by kawatch, with keepalived's own `from`. */
  'transition-counted-once',
  /** A split-brain verdict only while its MASTERs really were MASTER together. */
  'split-brain-needs-dual-master',
  /** No verdict drawn from a view that no longer holds (a VIP overlap or a missing MASTER that was not there). */
  'verdict-from-fresh-view',
  /** Under demote, kawatch's track files never leave a VRID without a MASTER for longer than an election. */
  'demotion-keeps-a-master',
  /** Once the schedule has healed and restores are due, no instance stays in FAULT. */
  'no-fault-after-heal',
  /** Every mail kawatch queued reaches the SMTP server exactly once. */
  'mail-delivered-once',
] as const;
export type InvariantName = (typeof INVARIANTS)[number];

export interface Violation {
  invariant: InvariantName;
  /** The schedule step during or after which it was seen; undefined before the first. */
  step?: number;
  at: number;
  node?: string;
  expected: string;
  seen: string;
}

export type TruthState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

/** One state keepalived entered (from its log), or STOP when its process went. */
export interface StateEvent {
  node: string;
  iname: string;
  state: TruthState;
  at: number;
}

/** One look at the namespaces: who holds each VIP, and whose track file demotes each instance. */
export interface Sample {
  at: number;
  /** VIP → nodes holding it on their primary interface. */
  vips: Record<string, string[]>;
  /** Instance name → nodes whose track file holds it in FAULT. */
  demoted: Record<string, string[]>;
}

/** What a daemon logs of a verdict it raised (src/watchdog/diagnose.ts `Verdict`: the fields judged here). */
export type LoggedVerdict =
  | { kind: 'split-brain'; iname: string; masters: string[] }
  | { kind: 'vip-on-several-nodes'; iname: string; address: string; nodes: string[] }
  | { kind: 'no-master'; iname: string }
  | { kind: 'other'; was: string };

/** A verdict a daemon logged as raised. */
export interface RaisedVerdict {
  node: string;
  at: number;
  verdict: LoggedVerdict;
}

/** The logged verdict object, narrowed to what the checkers judge; anything else is `other`. */
export function loggedVerdict(raw: unknown): LoggedVerdict {
  const v = (raw ?? {}) as Record<string, unknown>;
  const strings = (x: unknown) => (Array.isArray(x) && x.every((e) => typeof e === 'string') ? (x as string[]) : undefined);
  const iname = typeof v.iname === 'string' ? v.iname : undefined;
  if (v.kind === 'split-brain' && iname && strings(v.masters)) return { kind: 'split-brain', iname, masters: strings(v.masters)! };
  if (v.kind === 'vip-on-several-nodes' && iname && typeof v.address === 'string' && strings(v.nodes)) return { kind: 'vip-on-several-nodes', iname, address: v.address, nodes: strings(v.nodes)! };
  if (v.kind === 'no-master' && iname) return { kind: 'no-master', iname };
  return { kind: 'other', was: String(v.kind) };
}

/** keepalived's console log line for a state it enters, e.g. `(VI_1) Entering MASTER STATE (init)`. */
const ENTERING = /\((?<iname>[^)\s]+)\) Entering (?<state>MASTER|BACKUP|FAULT) STATE/;

/** The state a keepalived log line says an instance entered, if it says one. */
export function parseKeepalivedLine(line: string): { iname: string; state: TruthState } | undefined {
  const m = ENTERING.exec(line);
  return m ? { iname: m.groups!.iname!, state: m.groups!.state as TruthState } : undefined;
}

export type TransitionCounts = Map<string, number>;

export function transitionKey(iname: string, from: string, to: string): string {
  return `${iname} ${from}->${to}`;
}

/** `keepalived_vrrp_transitions_total` samples of an exposition, as counts by `transitionKey`. */
export function parseTransitionCounts(exposition: string): TransitionCounts {
  const counts: TransitionCounts = new Map();
  for (const line of exposition.split('\n')) {
    if (!line.startsWith('keepalived_vrrp_transitions_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (labels.iname && labels.from && labels.to && Number.isFinite(value)) counts.set(transitionKey(labels.iname, labels.from, labels.to), value);
  }
  return counts;
}

export function addCounts(into: TransitionCounts, more: TransitionCounts): TransitionCounts {
  const sum = new Map(into);
  for (const [key, n] of more) sum.set(key, (sum.get(key) ?? 0) + n);
  return sum;
}

/** Per transition, the larger of two accounts of one daemon's lifetime. */
export function maxCounts(a: TransitionCounts, b: TransitionCounts): TransitionCounts {
  const max = new Map(a);
  for (const [key, n] of b) max.set(key, Math.max(max.get(key) ?? 0, n));
  return max;
}

/** The instance transition a daemon's log line reports (it logs each one just before it counts it), with the pid that logged it. */
export function loggedTransition(entry: { type?: unknown; scope?: unknown; pid?: unknown; name?: unknown; from?: unknown; to?: unknown }): { pid: number; key: string } | undefined {
  const { type, scope, pid, name, from, to } = entry;
  if (type !== 'transition' || scope !== 'instance' || typeof pid !== 'number') return undefined;
  if (typeof name !== 'string' || typeof from !== 'string' || typeof to !== 'string') return undefined;
  return { pid, key: transitionKey(name, from, to) };
}

/** The transitions keepalived made on one node, as kawatch should count them: from INIT at the start. */
export function expectedTransitions(events: readonly StateEvent[], node: string): TransitionCounts {
  const counts: TransitionCounts = new Map();
  const current = new Map<string, string>();
  for (const e of byTime(events.filter((e) => e.node === node))) {
    const from = current.get(e.iname) ?? 'INIT';
    if (from === e.state) continue;
    current.set(e.iname, e.state);
    const key = transitionKey(e.iname, from, e.state);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** A transition kawatch counted another number of times than keepalived made it. */
export interface Miscount {
  key: string;
  expected: number;
  counted: number;
}

/** Each transition whose count differs between keepalived's log and kawatch's counters. */
export function miscounts(expected: TransitionCounts, counted: TransitionCounts): Miscount[] {
  const keys = [...new Set([...expected.keys(), ...counted.keys()])].sort();
  return keys.map((key) => ({ key, expected: expected.get(key) ?? 0, counted: counted.get(key) ?? 0 })).filter((m) => m.expected !== m.counted);
}

export function miscountViolation(node: string, m: Miscount, at: number, step?: number): Violation {
  return {
    invariant: 'transition-counted-once',
    step,
    at,
    node,
    expected: `${m.key} ×${m.expected} (keepalived's log)`,
    seen: `${m.key} ×${m.counted} (keepalived_vrrp_transitions_total, summed over the daemon's lifetimes)`,
  };
}

/**
 * The miscounts not reported yet: a miscount stays in the running totals, so each is reported
 * when it first appears and again only when it changes. `reported` (key → counted − expected) is updated.
 */
export function newMiscounts(node: string, found: readonly Miscount[], reported: Map<string, number>): Miscount[] {
  const fresh: Miscount[] = [];
  for (const m of found) {
    const key = `${node} ${m.key}`;
    const diff = m.counted - m.expected;
    if (reported.get(key) === diff) continue;
    reported.set(key, diff);
    fresh.push(m);
  }
  return fresh;
}

function byTime<T extends { at: number }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => a.at - b.at);
}

/** Each node's state of one instance at a time, by the events (in time order) up to it. */
export function statesAt(events: readonly StateEvent[], iname: string, at: number): Map<string, TruthState> {
  const states = new Map<string, TruthState>();
  for (const e of events) {
    if (e.at > at) break;
    if (e.iname === iname) states.set(e.node, e.state);
  }
  return states;
}

export interface GroundingOptions {
  /** How old the fact behind a verdict may be: the verdict is drawn from views this recent. */
  lookbackMs: number;
  /** How late ground truth may be seen: the runner reads the logs and namespaces in rounds. */
  slackMs: number;
}

/**
 * Whether the claim holds at some instant of [from, to]. The facts change only at events and
 * samples, so the claim is tried at the window's start and at each of those within it.
 */
function holdsSometime(from: number, to: number, times: readonly number[], claim: (at: number) => boolean): boolean {
  return [from, ...times.filter((t) => t > from && t <= to)].some(claim);
}

function sampleAt(samples: readonly Sample[], at: number): Sample | undefined {
  let found: Sample | undefined;
  for (const s of samples) {
    if (s.at > at) break;
    found = s;
  }
  return found;
}

/**
 * A split-brain verdict needs its MASTERs MASTER together; a VIP on several nodes needs each of
 * them holding it (or MASTER, which holds it but for a moment); no-master needs nobody MASTER —
 * each at some instant shortly before (or, as truth is read late, shortly after) it was raised.
 */
export function checkVerdicts(raised: readonly RaisedVerdict[], unsorted: readonly StateEvent[], samples: readonly Sample[], options: GroundingOptions, stepAt: (at: number) => number | undefined): Violation[] {
  const events = byTime(unsorted);
  const sorted = byTime(samples);
  const times = [...events.map((e) => e.at), ...sorted.map((s) => s.at)].sort((a, b) => a - b);
  const violations: Violation[] = [];
  for (const r of raised) {
    const v = r.verdict;
    const from = r.at - options.lookbackMs;
    const to = r.at + options.slackMs;
    if (v.kind === 'other') continue;
    const master = (at: number, node: string) => statesAt(events, v.iname, at).get(node) === 'MASTER';
    let claim: (at: number) => boolean;
    let invariant: InvariantName = 'verdict-from-fresh-view';
    let expected = '';
    switch (v.kind) {
      case 'split-brain':
        invariant = 'split-brain-needs-dual-master';
        claim = (at) => v.masters.every((n) => master(at, n));
        expected = `${v.masters.join(' and ')} MASTER of ${v.iname} together within ${options.lookbackMs} ms before the verdict`;
        break;
      case 'vip-on-several-nodes':
        claim = (at) => v.nodes.every((n) => master(at, n) || (sampleAt(sorted, at)?.vips[v.address] ?? []).includes(n));
        expected = `${v.address} on ${v.nodes.join(' and ')} together within ${options.lookbackMs} ms before the verdict`;
        break;
      case 'no-master':
        claim = (at) => ![...statesAt(events, v.iname, at).values()].includes('MASTER');
        expected = `no MASTER of ${v.iname} within ${options.lookbackMs} ms before the verdict`;
        break;
    }
    if (holdsSometime(from, to, times, claim)) continue;
    const states = [...statesAt(events, v.iname, r.at)].map(([n, s]) => `${n} ${s}`).join(', ');
    const vipHolders = v.kind === 'vip-on-several-nodes' ? `; ${v.address} on [${(sampleAt(sorted, r.at)?.vips[v.address] ?? []).join(', ')}]` : '';
    violations.push({ invariant, step: stepAt(r.at), at: r.at, node: r.node, expected, seen: `${v.kind} raised while keepalived's logs say ${states || 'nothing'}${vipHolders}` });
  }
  return violations;
}

/**
 * A demoted instance with no MASTER anywhere must be restored by the demoting daemon: an
 * episode longer than `boundMs` (an election plus the time to notice) is a violation.
 */
export function checkDemotions(samples: readonly Sample[], unsorted: readonly StateEvent[], instances: readonly string[], boundMs: number, stepAt: (at: number) => number | undefined): Violation[] {
  const events = byTime(unsorted);
  const violations: Violation[] = [];
  for (const iname of instances) {
    let since: { at: number; demoted: string[] } | undefined;
    let reported = false;
    for (const s of byTime(samples)) {
      const demoted = s.demoted[iname] ?? [];
      const hasMaster = [...statesAt(events, iname, s.at).values()].includes('MASTER');
      if (demoted.length === 0 || hasMaster) {
        since = undefined;
        reported = false;
        continue;
      }
      since ??= { at: s.at, demoted };
      if (!reported && s.at - since.at > boundMs) {
        reported = true;
        violations.push({
          invariant: 'demotion-keeps-a-master',
          step: stepAt(since.at),
          at: since.at,
          node: since.demoted.join(','),
          expected: `a MASTER of ${iname} within ${boundMs} ms, or the demotion on ${since.demoted.join(', ')} undone`,
          seen: `no MASTER of ${iname} for ${s.at - since.at} ms while ${demoted.join(', ')} held it demoted (track file 1)`,
        });
      }
    }
  }
  return violations;
}

/** At the end, healed and settled: no instance in FAULT, no track file left demoting one. */
export function checkHealed(unsorted: readonly StateEvent[], final: Sample, instances: readonly string[], step?: number): Violation[] {
  const events = byTime(unsorted);
  const violations: Violation[] = [];
  for (const iname of instances) {
    for (const [node, state] of statesAt(events, iname, final.at)) {
      if (state !== 'FAULT') continue;
      violations.push({ invariant: 'no-fault-after-heal', step, at: final.at, node, expected: `${iname} out of FAULT once the faults are healed`, seen: `${iname} in FAULT on ${node} (keepalived's log)` });
    }
    for (const node of final.demoted[iname] ?? []) {
      violations.push({ invariant: 'no-fault-after-heal', step, at: final.at, node, expected: `${iname} restored once the faults are healed`, seen: `${node}'s track file still demotes ${iname}` });
    }
  }
  return violations;
}

/** A message as kawatch queued it (its outbox id, per sending node). */
export interface QueuedMail {
  node: string;
  id: string;
  at: number;
  subject?: string;
}

/** A message the SMTP server stored, by its Message-ID header. */
export interface ReceivedMail {
  messageId: string;
  at: number;
}

/** kawatch's Message-ID is `<ID.NODE@DOMAIN>` (src/mail/smtp.ts): the key that ties a received message to its outbox id. */
export function mailKey(id: string, node: string): string {
  return `${id}.${node.replace(/[^A-Za-z0-9-]/g, '-')}`;
}

export function receivedKey(messageId: string): string {
  const inner = messageId.trim().replace(/^<|>$/g, '');
  return inner.slice(0, inner.lastIndexOf('@') >= 0 ? inner.lastIndexOf('@') : inner.length);
}

/** Each queued mail received once, after the outboxes drained. */
export function checkMail(queued: readonly QueuedMail[], received: readonly ReceivedMail[], at: number, stepAt: (at: number) => number | undefined): Violation[] {
  const copies = new Map<string, ReceivedMail[]>();
  for (const r of received) copies.set(receivedKey(r.messageId), [...(copies.get(receivedKey(r.messageId)) ?? []), r]);
  const violations: Violation[] = [];
  for (const q of queued) {
    const got = copies.get(mailKey(q.id, q.node)) ?? [];
    if (got.length === 1) continue;
    violations.push({
      invariant: 'mail-delivered-once',
      step: stepAt(q.at),
      at: got.length ? got[1]!.at : at,
      node: q.node,
      expected: `mail ${q.id}${q.subject ? ` ("${q.subject}")` : ''} received once`,
      seen: got.length === 0 ? 'never received, outboxes drained' : `received ${got.length} times (${got.map((g) => new Date(g.at).toISOString()).join(', ')})`,
    });
  }
  return violations;
}

export function describeViolation(v: Violation, seed: number): string {
  const where = `seed ${seed}, step ${v.step ?? '-'}${v.node ? `, ${v.node}` : ''}, ${new Date(v.at).toISOString()}`;
  return `[${v.invariant}] ${where}: expected ${v.expected}; seen ${v.seen}`;
}
