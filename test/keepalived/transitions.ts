import type { Sample } from '../support/metrics.js';

/**
 * The states keepalived's own log says an instance entered, in order: "(VI_1) Entering MASTER STATE"
 * (every version; "VRRP_Instance(VI_1) ..." in 1.3), and from 2.0 "(VI_1) entering FAULT state" for
 * an instance that starts in FAULT or follows its sync group there, "(VI_1): entering FAULT state (...)".
 */
export function enteredStates(log: string, instance: string): string[] {
  return [...log.matchAll(/\((\S+?)\):? (?:Entering (MASTER|BACKUP|FAULT) STATE|entering (FAULT) state)/g)].filter((m) => m[1] === instance).map((m) => (m[2] ?? m[3])!);
}

/** from->to counts of a run of states entered, the first from `start`. */
export function transitionCounts(states: readonly string[], start: string): Record<string, number> {
  const counted: Record<string, number> = {};
  states.forEach((to, i) => {
    const key = `${states[i - 1] ?? start}->${to}`;
    counted[key] = (counted[key] ?? 0) + 1;
  });
  return counted;
}

/** keepalived_vrrp_transitions_total of one instance, as from->to counts. */
export function countedTransitions(samples: readonly Sample[], instance: string): Record<string, number> {
  const counted: Record<string, number> = {};
  for (const s of samples) if (s.name === 'keepalived_vrrp_transitions_total' && s.labels.iname === instance && s.value > 0) counted[`${s.labels.from}->${s.labels.to}`] = s.value;
  return counted;
}
