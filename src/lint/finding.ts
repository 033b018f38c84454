import type { Severity } from '../core/severity.js';

export interface Place {
  file: string;
  line: number;
}

export interface Finding extends Place {
  severity: Severity;
  code: string;
  message: string;
  fix: string;
  /** Other places a finding spanning several files (directors) points at. */
  related?: Place[];
}

/** Every finding code, its severity and what it means: the README table is this list. */
export const CODES = {
  'parse-error': { severity: 'error', about: 'unbalanced braces, unreadable include, bad ~SEQ' },
  'unknown-keyword': { severity: 'error', about: 'keyword keepalived does not know in this section (ignored by it); nearest known keyword suggested' },
  'not-a-comment': { severity: 'warning', about: "'//' after a value: keepalived reads it as more values, not as a comment" },
  'deprecated-keyword': { severity: 'warning', about: 'keyword keepalived still reads but warns about; replacement given' },
  'invalid-value': { severity: 'error', about: 'unknown scheduler/forwarding method/protocol/state/auth type, number out of range, bad address or port' },
  'auth-pass-truncated': { severity: 'warning', about: 'auth_pass longer than 8 characters: keepalived uses only the first 8' },
  'vip-without-interface': { severity: 'error', about: 'virtual_ipaddress entry without dev in an instance without interface' },
  'missing-keyword': { severity: 'error', about: 'vrrp_instance without virtual_router_id or interface, virtual_server without real servers' },
  'nopreempt-master': { severity: 'warning', about: 'nopreempt with state MASTER: keepalived clears nopreempt' },
  'strict-mode-conflict': { severity: 'warning', about: 'vrrp_strict with authentication, unicast peers, no VIP, preempt_delay or MASTER below 255' },
  'unicast-without-peer': { severity: 'warning', about: 'unicast keyword without unicast_peer: keepalived falls back to multicast' },
  'duplicate-vrid': { severity: 'error', about: 'two instances of one director share a virtual_router_id on one interface' },
  'version-keyword': { severity: 'error', about: 'keyword the keepalived version linted for does not read there (kawatch lint --keepalived-version): what that version reads instead' },
  'version-range': { severity: 'error', about: "number outside the range the keepalived version linted for accepts (from that release's sources)" },
  'version-notify-arguments': { severity: 'error', about: 'notify command with arguments on keepalived 1.x: taken as one file name, not found, the script disabled; a wrapper script instead' },
  'cross-vrid-mismatch': { severity: 'error', about: 'one instance, different virtual_router_id on the directors: split brain' },
  'cross-vrid-collision': { severity: 'error', about: 'different instances use one virtual_router_id on the directors: they elect across each other' },
  'cross-auth-mismatch': { severity: 'error', about: 'one instance, different authentication on the directors: adverts dropped, split brain' },
  'cross-unicast-mismatch': { severity: 'error', about: 'one instance, unicast on some directors and multicast on others, or a unicast_src_ip missing from a peer’s unicast_peer: split brain' },
  'cross-advert-mismatch': { severity: 'error', about: 'one instance, different advert_int: adverts dropped, split brain' },
  'cross-vip-mismatch': { severity: 'error', about: 'one instance, different VIP sets on the directors' },
  'cross-pool-mismatch': { severity: 'warning', about: 'one virtual_server, different scheduler, method or real servers on the directors' },
  'cross-equal-priority': { severity: 'warning', about: 'one instance, equal priorities: the election falls to the highest IP address' },
  'cross-master-count': { severity: 'warning', about: 'several directors with state MASTER for one instance, or the state MASTER one without the highest priority' },
  'cross-notify-missing': { severity: 'warning', about: 'notify hooks on some directors of an instance only' },
  'cross-instance-missing': { severity: 'warning', about: 'an instance (or virtual_server) on some directors only' },
} as const satisfies Record<string, { severity: Severity; about: string }>;

export type Code = keyof typeof CODES;

export function finding(code: Code, at: Place, message: string, fix: string, related?: Place[]): Finding {
  const f: Finding = { file: at.file, line: at.line, severity: CODES[code].severity, code, message, fix };
  if (related && related.length > 0) f.related = related;
  return f;
}

/**
 * Masks every secret value of the configuration wherever it occurs in a finding's text, standing
 * alone (not inside a longer word): the last guard, whatever path a value took into a message.
 */
export function redactSecrets(f: Finding, secrets: ReadonlySet<string>): Finding {
  if (secrets.size === 0) return f;
  const mask = (text: string) => {
    let out = text;
    // Longest first, so a secret holding a shorter one is masked whole.
    for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
      let at = out.indexOf(secret);
      while (at >= 0) {
        const before = out[at - 1];
        const after = out[at + secret.length];
        const alone = (before === undefined || !/\w/.test(before)) && (after === undefined || !/\w/.test(after));
        if (alone) out = `${out.slice(0, at)}********${out.slice(at + secret.length)}`;
        at = out.indexOf(secret, at + (alone ? 8 : 1));
      }
    }
    return out;
  };
  return { ...f, message: mask(f.message), fix: mask(f.fix) };
}
