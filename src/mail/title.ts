import type { MailEvent } from './event.js';

/** What a mail calls an event: its subject line and the first line of each listed event. */

export function instanceLabel(name: string, vrid: number | undefined): string {
  return vrid === undefined ? name : `${name} (vrid ${vrid})`;
}

function verdictTitle(e: Extract<MailEvent, { kind: 'verdict' }>): string {
  const v = e.verdict;
  const instance = instanceLabel(v.iname, v.vrid);
  const raised = e.change === 'raised';
  switch (v.kind) {
    case 'split-brain':
      return raised ? `SPLIT BRAIN ${instance} on ${v.masters.join('+')}` : `split brain resolved: ${instance}`;
    case 'no-master':
      return raised ? `NO MASTER for ${instance}` : `no MASTER resolved: ${instance} has a MASTER again`;
    case 'vip-on-several-nodes':
      return raised ? `VIP ${v.address} of ${instance} on ${v.nodes.join('+')}` : `resolved: VIP ${v.address} of ${instance} on one node again`;
    case 'vip-absent-on-master':
      return raised ? `VIP ${v.address} of ${instance} missing on its MASTER ${v.node}` : `resolved: VIP ${v.address} of ${instance} back on ${v.node}`;
    case 'config-mismatch':
      return raised ? `CONFIG MISMATCH ${instance}: ${v.field} differs between ${Object.keys(v.values).join('+')}` : `resolved: ${v.field} of ${instance} matches again`;
    case 'equal-priority':
      return raised ? `${instance} has equal priority ${v.priority} on ${v.nodes.join('+')}` : `resolved: ${instance} priorities differ again`;
    case 'not-on-preferred-owner':
      return raised ? `${instance} runs on ${v.master}, not on its preferred ${v.preferred}` : `resolved: ${instance} back on its preferred director`;
  }
}

/** One line naming what happened; a mail's subject is its most important event's title. */
export function eventTitle(e: MailEvent): string {
  switch (e.kind) {
    case 'transition':
      return `${e.scope === 'group' ? `sync group ${e.name}` : instanceLabel(e.name, e.vrid)} ${e.from} -> ${e.to}`;
    case 'verdict':
      return verdictTitle(e);
    case 'action': {
      const a = e.entry;
      const instance = instanceLabel(a.iname, a.vrid);
      const verb = { demote: ['demoted', 'demote'], restore: ['restored', 'restore'], stop: ['stopped keepalived for', 'stop keepalived for'] }[a.action];
      return a.dryRun ? `[dry run] watchdog would ${verb[1]} ${instance} on ${e.node}` : `watchdog ${verb[0]} ${instance} on ${e.node}`;
    }
    case 'peer':
      return e.change === 'lost' ? `peer ${e.peer} unreachable from ${e.node}` : `peer ${e.peer} reachable again from ${e.node}`;
  }
}
