import { VRRP_STATES, type KeepalivedReport, type VrrpState } from '../model/vrrp.js';

/**
 * What keepalived tells about itself through its notify hooks and FIFOs, validated.
 * Hook arguments and FIFO lines are untrusted: everything here is checked before it is used.
 */

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * keepalived reads a name as one word of a configuration line, and a line is at most MAXBUF - 1
 * (1023) characters (lib/parser.h): `vrrp_instance NAME` leaves 1009 for the name.
 */
export const NAME_MAX = 1023 - 'vrrp_instance '.length;

/** keepalived names are single tokens of printable characters; reject anything that could smuggle control bytes. */
export function checkName(name: string, what: string): string | undefined {
  if (name.length === 0) return `empty ${what} name`;
  if (name.length > NAME_MAX) return `${what} name of ${name.length} characters, longer than keepalived's ${NAME_MAX}`;
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f"]/.test(name)) return `${what} name ${JSON.stringify(name)} contains whitespace, quotes or control characters`;
  return undefined;
}

export function checkState(token: string): Parsed<VrrpState> {
  const upper = token.toUpperCase();
  if ((VRRP_STATES as readonly string[]).includes(upper)) return { ok: true, value: upper as VrrpState };
  return { ok: false, error: `unknown state ${JSON.stringify(token)}, expected one of ${VRRP_STATES.join(', ')}` };
}

export function checkPriority(token: string): Parsed<number> {
  if (!/^\d{1,3}$/.test(token) || Number(token) > 255) {
    return { ok: false, error: `priority ${JSON.stringify(token)} is not an integer 0..255` };
  }
  return { ok: true, value: Number(token) };
}

/** vrrp_notify.c notify_fifo(): the priority-change lines' "state" words (vrrp_notify_priority_changes). */
function priorityLineState(token: string): 'MASTER' | 'BACKUP' | undefined {
  return token === 'MASTER_PRIORITY' ? 'MASTER' : token === 'BACKUP_PRIORITY' ? 'BACKUP' : undefined;
}

/** `INSTANCE|GROUP NAME STATE [PRIORITY]`, shared by the generic notify hook and the FIFO. */
export function parseScopedState(scopeToken: string, name: string, stateToken: string, priorityToken?: string): Parsed<KeepalivedReport> {
  const scope = scopeToken === 'INSTANCE' ? 'instance' : scopeToken === 'GROUP' ? 'group' : undefined;
  if (!scope) return { ok: false, error: `unknown scope ${JSON.stringify(scopeToken)}, expected INSTANCE or GROUP` };
  const nameError = checkName(name, scope);
  if (nameError) return { ok: false, error: nameError };
  let priority: number | undefined;
  if (priorityToken !== undefined) {
    const p = checkPriority(priorityToken);
    if (!p.ok) return p;
    priority = p.value;
  }
  if (scope === 'instance' && stateToken === 'MASTER_RX_LOWER_PRI') {
    return { ok: true, value: { kind: 'master-rx-lower-priority', name, priority } };
  }
  const priorityOf = priorityLineState(stateToken);
  if (scope === 'instance' && priorityOf) {
    if (priority === undefined) return { ok: false, error: `${stateToken} of instance ${name} without the priority it changed to` };
    return { ok: true, value: { kind: 'priority', name, state: priorityOf, priority } };
  }
  const state = checkState(stateToken);
  if (!state.ok) return state;
  return { ok: true, value: { kind: 'state', scope, name, state: state.value, priority } };
}

/** IFNAMSIZ (16) less the terminating NUL: the longest name the kernel gives an interface. */
export const IFNAME_MAX = 15;

/** The kernel's dev_name_valid() (net/core/dev.c), which keepalived copies: what an interface name can be. */
export function checkInterfaceName(name: string): string | undefined {
  if (name.length === 0) return 'empty interface name';
  if (name.length > IFNAME_MAX) return `interface name of ${name.length} characters, longer than the kernel's ${IFNAME_MAX}`;
  if (name === '.' || name === '..') return `interface name ${JSON.stringify(name)} is not allowed by the kernel`;
  // eslint-disable-next-line no-control-regex
  if (/[/:\s\u0000-\u001f\u007f]/.test(name)) return `interface name ${JSON.stringify(name)} contains '/', ':', whitespace or control characters`;
  return undefined;
}

/**
 * The window a timestamp from keepalived or the spool must fall in: 2000-01-01 to 2100-01-01 (UTC).
 * Outside it the value is garbage (`1e20` would make Date#toISOString throw downstream), not a time.
 */
export const PLAUSIBLE_EPOCH_MS = { from: Date.UTC(2000, 0, 1), to: Date.UTC(2100, 0, 1) } as const;

export const isPlausibleEpochMs = (ms: number) => Number.isFinite(ms) && ms >= PLAUSIBLE_EPOCH_MS.from && ms <= PLAUSIBLE_EPOCH_MS.to;
