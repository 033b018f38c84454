import type { Verdict } from './diagnose.js';

/** One line saying what a verdict found, with its probable causes: for logs, the digest, the status page and mails. */
export function verdictText(v: Verdict): string {
  switch (v.kind) {
    case 'split-brain':
      return `split brain on ${v.iname} (vrid ${v.vrid ?? '?'}): MASTER on ${v.masters.join(' and ')}; probable cause: ${v.causes.join('; ')}`;
    case 'no-master':
      return `no MASTER for ${v.iname} (vrid ${v.vrid ?? '?'}): ${v.nodes.join(', ')} all BACKUP`;
    case 'vip-on-several-nodes':
      return `VIP ${v.address} of ${v.iname} is on ${v.nodes.join(' and ')}`;
    case 'vip-absent-on-master':
      return `VIP ${v.address} of ${v.iname} is missing on its MASTER ${v.node}`;
    case 'peer-unreachable':
      return `peer ${v.peer} unreachable on the secondary link${v.error ? ` (${v.error})` : ''}`;
    case 'config-mismatch':
      return `${v.field} of ${v.iname} differs between directors: ${Object.entries(v.values).map(([n, value]) => `${n} ${value}`).join(', ')}`;
    case 'equal-priority':
      return `${v.iname} has priority ${v.priority} on ${v.nodes.join(' and ')}: the MASTER is chosen by address alone`;
    case 'not-on-preferred-owner':
      return `${v.iname} runs on ${v.master}, not on ${v.preferred} (its highest-priority director): failover without failback (nopreempt?)`;
  }
}
