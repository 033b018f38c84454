import type { MailEvent, Standing } from './event.js';

/** What a mail calls an event: its subject line and the first line of each listed event. */

export function instanceLabel(name: string, vrid: number | undefined): string {
  return vrid === undefined ? name : `${name} (vrid ${vrid})`;
}

function verdictTitle(e: Extract<MailEvent, { kind: 'verdict' }>): string {
  const v = e.verdict;
  const instance = instanceLabel(v.iname, v.vrid);
  if (e.change === 'raised') {
    switch (v.kind) {
      case 'split-brain':
        return `SPLIT BRAIN ${instance} on ${v.masters.join('+')}`;
      case 'no-master':
        return `NO MASTER for ${instance}`;
      case 'vip-on-several-nodes':
        return `VIP ${v.address} of ${instance} on ${v.nodes.join('+')}`;
      case 'vip-absent-on-master':
        return `VIP ${v.address} of ${instance} missing on its MASTER ${v.node}`;
      case 'config-mismatch':
        return `CONFIG MISMATCH ${instance}: ${v.field} differs between ${Object.keys(v.values).join('+')}`;
      case 'equal-priority':
        return `${instance} has equal priority ${v.priority} on ${v.nodes.join('+')}`;
      case 'not-on-preferred-owner':
        return `${instance} runs on ${v.master}, not on its preferred ${v.preferred}`;
    }
  }
  return resolvedTitle(v, instance, e.standing);
}

/**
 * A resolution says where things stand when it cleared (`standing`), never where they stood when
 * it was raised: the VIP may have come back on another director than the one it went missing on.
 * Without a standing (an event from an older version) it names only what is over.
 */
function resolvedTitle(v: Extract<MailEvent, { kind: 'verdict' }>['verdict'], instance: string, standing: Standing | undefined): string {
  const masters = standing?.masters ?? [];
  const holders = standing?.holders ?? [];
  const onlyMaster = masters.length === 1 ? masters[0] : undefined;
  switch (v.kind) {
    case 'split-brain':
      return `split brain resolved: ${instance}${onlyMaster ? `, MASTER on ${onlyMaster}` : ''}`;
    case 'no-master':
      return masters.length ? `no MASTER resolved: ${instance} MASTER on ${masters.join('+')}` : `no MASTER resolved: ${instance}`;
    case 'vip-on-several-nodes':
      if (!standing) return `resolved: VIP ${v.address} of ${instance} no longer on ${v.nodes.join('+')}`;
      return holders.length ? `resolved: VIP ${v.address} of ${instance} on ${holders.join('+')} only` : `resolved: VIP ${v.address} of ${instance} on no director`;
    case 'vip-absent-on-master':
      return holders.length ? `resolved: VIP ${v.address} of ${instance} on ${holders.join('+')}` : `resolved: ${v.node} no longer a MASTER without VIP ${v.address} of ${instance}`;
    case 'config-mismatch':
      return `resolved: ${v.field} of ${instance} matches again`;
    case 'equal-priority':
      return `resolved: ${instance} priorities differ again`;
    case 'not-on-preferred-owner':
      return onlyMaster === v.preferred ? `resolved: ${instance} back on its preferred ${v.preferred}` : `resolved: ${instance} no longer on ${v.master} while ${v.preferred} waits`;
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
      const verb = { demote: ['demoted', 'demote'], restore: ['restored', 'restore'], stop: ['stopped keepalived for', 'stop keepalived for'], cancel: ['withdrew its demotion of', 'withdraw its demotion of'] }[a.action];
      return a.dryRun ? `[dry run] watchdog would ${verb[1]} ${instance} on ${e.node}` : `watchdog ${verb[0]} ${instance} on ${e.node}`;
    }
    case 'peer':
      return e.change === 'lost' ? `peer ${e.peer} unreachable from ${e.node}` : `peer ${e.peer} reachable again from ${e.node}`;
    case 'audit':
      return `audit: ${e.findings.length} finding${e.findings.length === 1 ? '' : 's'}`;
  }
}
