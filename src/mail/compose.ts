import { verdictText } from '../watchdog/verdict-text.js';
import { entryOf } from '../core/dict.js';
import { formatTime } from '../core/time.js';
import { conditionOf, hintTopic, importance, instanceOf, type HintTopic, type MailEvent } from './event.js';
import type { PendingGroup } from './schedule.js';
import { eventTitle, instanceLabel } from './title.js';

export interface ComposeContext {
  /** This director. */
  node: string;
  subjectPrefix: string;
  version: string;
  maxPerHour: number;
  /** The hourly limit kept these events beyond their group window. */
  heldBack: boolean;
}

export interface ComposedMail {
  subject: string;
  text: string;
}

/** Instance names in the subject besides the headline's. */
const SUBJECT_INSTANCES = 3;


/** The directors a verdict is about. */
function verdictNodes(v: Extract<MailEvent, { kind: 'verdict' }>['verdict']): string {
  switch (v.kind) {
    case 'split-brain':
      return `${v.masters.join(', ')} (each MASTER)`;
    case 'vip-absent-on-master':
      return `${v.node} (MASTER)`;
    case 'config-mismatch':
      return Object.keys(v.values).join(', ');
    case 'not-on-preferred-owner':
      return `${v.master} (MASTER), ${v.preferred} (preferred)`;
    default:
      return v.nodes.join(', ');
  }
}

/** Why an instance probably moved, from the states and who saw it; undefined when nothing useful can be said. */
export function transitionReason(e: Extract<MailEvent, { kind: 'transition' }>): string | undefined {
  if (e.source === 'process' && e.to === 'STOP') return `keepalived is not running on ${e.node} any more (its process is gone)`;
  if ((e.from === 'INIT' || e.from === 'STOP') && (e.to === 'MASTER' || e.to === 'BACKUP')) return 'keepalived (re)started the instance';
  switch (e.to) {
    case 'FAULT':
      return 'an interface of the instance is down, or a tracked script or file reports a failure (a kawatch demotion shows as a watchdog action)';
    case 'STOP':
      return 'keepalived stopped the instance: a shutdown, or the instance left the configuration on a reload';
    case 'DELETED':
      return "the instance was removed from keepalived's configuration";
    case 'MASTER':
      return e.from === 'BACKUP'
        ? 'the MASTER stopped advertising (it went down or stopped, lowered its priority, or its adverts no longer arrive), or this director outranks it and took over (preemption)'
        : undefined;
    case 'BACKUP':
      if (e.from === 'MASTER') return 'a director with a higher priority took over (preemption), or this one lowered its priority (track script or file weight)';
      return e.from === 'FAULT' ? 'the fault cleared' : undefined;
    default:
      return undefined;
  }
}

type Detail = [label: string, value: string | undefined];

function details(e: MailEvent): Detail[] {
  switch (e.kind) {
    case 'transition':
      return [
        ['node', e.node],
        [e.scope === 'group' ? 'sync group' : 'instance', e.scope === 'group' ? e.name : instanceLabel(e.name, e.vrid)],
        ['VIPs', e.vips.join(', ') || undefined],
        ['state', `${e.from} -> ${e.to}`],
        ['reason', transitionReason(e) && `probably ${transitionReason(e)}`],
        ['seen by', e.source],
      ];
    case 'verdict':
      return [
        ['node', `${e.node} reports`],
        ['instance', instanceLabel(e.verdict.iname, e.verdict.vrid)],
        ['VIPs', e.vips.join(', ') || undefined],
        ['nodes', verdictNodes(e.verdict)],
        // verdictText() carries the probable causes the diagnosis found (a split brain's, for one).
        ['what', e.change === 'raised' ? verdictText(e.verdict) : `no longer: ${verdictText(e.verdict)}`],
      ];
    case 'action': {
      const a = e.entry;
      return [
        ['node', e.node],
        ['instance', instanceLabel(a.iname, a.vrid)],
        ['action', `${a.action}${a.dryRun ? ' (dry run: nothing was touched)' : ''}`],
        ['stays MASTER', a.winner],
        ['reason', a.reason],
      ];
    }
    case 'peer':
      return [
        ['node', e.node],
        ['peer', e.peer],
        ['last heard', e.lastExchange === undefined ? (e.change === 'lost' ? 'not since this daemon started' : undefined) : formatTime(e.lastExchange)],
        ['error', e.error],
      ];
    case 'audit':
      return [
        ['node', e.node],
        ['findings', e.findings.map(verdictText).join('; ')],
      ];
  }
}

const LABEL_WIDTH = 13;
const INDENT = 4;
/** Body lines are wrapped here so that mail clients do not; a longer single word stays whole. */
const LINE_WIDTH = 100;

/** Words of `text` on lines of at most `width` characters. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return line ? [...lines, line] : lines;
}

function renderEvent(e: MailEvent): string[] {
  const lines = [`${formatTime(e.at)}  ${eventTitle(e)}`];
  const margin = ' '.repeat(INDENT + LABEL_WIDTH);
  for (const [label, value] of details(e)) {
    if (value === undefined) continue;
    const [firstLine = '', ...rest] = wrap(value, LINE_WIDTH - margin.length);
    lines.push(`${' '.repeat(INDENT)}${`${label}:`.padEnd(LABEL_WIDTH)}${firstLine}`, ...rest.map((l) => margin + l));
  }
  return lines;
}

/** What an operator should look at first, per kind of problem. */
const HINTS: Record<HintTopic, { title: string; lines: string[] }> = {
  'split-brain': {
    title: 'split brain (several MASTERs for one VRID)',
    lines: [
      'VRRP (IP protocol 112) blocked between the directors: firewall rules on both (nft list ruleset,',
      '  iptables -S | grep -i vrrp), security groups, switch ACLs',
      'the segment between the directors: link, VLAN, switch; multicast to 224.0.0.18 filtered',
      '  (IGMP snooping), or unicast_peer addresses that do not match',
      'virtual_router_id or authentication (auth_type, auth_pass) differing between the directors:',
      '  keepalived drops such adverts (keepalived_authentication_mismatch_total, its log)',
      'keepalived_advertisements_received_total stops growing on a side that no longer hears the other',
    ],
  },
  'no-master': {
    title: 'no MASTER',
    lines: [
      'effective priorities lowered by track scripts or files on every director (keepalived_vrrp_effective_priority)',
      'a kawatch demotion still in force (kawatch_watchdog_demoted), or nopreempt everywhere after a restart',
    ],
  },
  vip: {
    title: 'VIP problems',
    lines: [
      'ip -br addr on each director; a VIP on two directors is usually a split brain or an address added by hand',
      'a VIP missing on its MASTER was removed outside keepalived (ip addr del, a network restart);',
      '  keepalived adds VIPs back only on a transition: reload keepalived',
    ],
  },
  config: {
    title: 'settings that differ between the directors',
    lines: [
      'make the setting identical in keepalived.conf on every director, then reload keepalived on one at a time;',
      '  a VRID or authentication mismatch makes each director ignore the other\'s adverts: a split brain',
    ],
  },
  fault: {
    title: 'FAULT',
    lines: ["keepalived's log names the failing interface or tracked script/file (journalctl -u keepalived)"],
  },
  priority: {
    title: 'priorities',
    lines: [
      'give each director its own priority per instance: with equal ones the higher primary address wins',
      'an instance away from its highest-priority director stays there with nopreempt or preempt_delay;',
      '  move it back in a quiet moment',
    ],
  },
  peer: {
    title: 'peer unreachable',
    lines: [
      'the secondary link (cable, NIC, addresses) and the peer\'s kawatch daemon (systemctl status kawatch)',
      'peers.secret_file identical on every director, clocks within peers.max_skew',
    ],
  },
};

/**
 * The event a mail is about: the most important one, the earliest of equals, with conditions
 * that came and went within the group ranked down (see `importance`). Chosen among the listed
 * events and the group's overall most important one: exact for a group of up to
 * LISTED_FIRST + LISTED_LAST events.
 */
function headlineOf(group: PendingGroup): MailEvent {
  const transient = new Set(group.transient);
  const rank = (e: MailEvent) => {
    const condition = conditionOf(e);
    return importance(e, condition !== undefined && transient.has(condition.key));
  };
  // Roughly in arrival order, so that the earliest of equals wins.
  const candidates = [...group.first, group.headline, ...group.last];
  return candidates.reduce((best, e) => (rank(e) < rank(best) ? e : best));
}

function subjectOf(group: PendingGroup, headline: MailEvent, ctx: ComposeContext): string {
  const others = group.instances.filter((name) => name !== instanceOf(headline));
  const also = others.length ? `, also ${others.slice(0, SUBJECT_INSTANCES).join(', ')}${others.length > SUBJECT_INSTANCES ? ', ...' : ''}` : '';
  const more = group.count > 1 ? ` (+${group.count - 1} more${also})` : '';
  return [ctx.subjectPrefix, `${ctx.node}: ${eventTitle(headline)}${more}`].filter(Boolean).join(' ');
}

/** One mail for a group of events: the subject headlines the most important one, the body lists them all. */
export function composeMail(group: PendingGroup, ctx: ComposeContext): ComposedMail {
  const headline = headlineOf(group);
  const listed = [...group.first, ...group.last];
  const times = listed.map((e) => e.at);
  const span = group.count === 1 ? `at ${formatTime(times[0]!)}` : `from ${formatTime(Math.min(...times))} to ${formatTime(Math.max(...times))}`;
  const text: string[] = [
    `kawatch on ${ctx.node} reports ${group.count === 1 ? '1 event' : `${group.count} events`}, ${span}.`,
    `Most important: ${eventTitle(headline)}`,
  ];
  if (ctx.heldBack) {
    text.push('', `The hourly mail limit (max_per_hour: ${ctx.maxPerHour}) held these events back; none was dropped.`);
  }
  if (group.count > 1) {
    text.push('', 'Summary:');
    // Most frequent first; equals stay in the order they first appeared (a stable sort of insertion order).
    const tally = Object.entries(group.tally).sort(([, x], [, y]) => y - x);
    for (const [title, n] of tally) text.push(`  ${`${n}x`.padStart(6)}  ${title}`);
  }
  const unlisted = group.count - listed.length;
  text.push('', unlisted > 0 ? `Events, the first ${group.first.length} and the last ${group.last.length} of ${group.count}:` : 'Events, in the order kawatch saw them:');
  for (const e of group.first) text.push('', ...renderEvent(e));
  if (unlisted > 0) text.push('', `  ... ${unlisted} more events, counted in the summary above ...`);
  for (const e of group.last) text.push('', ...renderEvent(e));
  text.push(...hintLines(group.topics), ...signature(ctx));
  return { subject: subjectOf(group, headline, ctx), text: `${text.join('\n')}\n` };
}

function hintLines(topics: readonly HintTopic[]): string[] {
  if (topics.length === 0) return [];
  const lines = ['', 'What to check:'];
  for (const topic of topics) {
    // Topics come back from the outbox on disk: only a hint of our own is shown.
    const hint = entryOf(HINTS, topic);
    if (!hint) continue;
    lines.push(`  ${hint.title}:`);
    for (const line of hint.lines) lines.push(line.startsWith('  ') ? `     ${line.trimStart()}` : `   - ${line}`);
  }
  return lines;
}

const signature = (ctx: Pick<ComposeContext, 'node' | 'version'>) => ['', '-- ', `kawatch ${ctx.version} on ${ctx.node}`];

/**
 * The scheduled audit's mail, one message of its own: the findings, and what to check for each
 * kind. Mailed by one director for those that hear it (see `chooseSender`).
 */
export function composeAudit(e: Extract<MailEvent, { kind: 'audit' }>, ctx: Pick<ComposeContext, 'node' | 'subjectPrefix' | 'version'>): ComposedMail {
  const topics = [...new Set(e.findings.flatMap((verdict) => hintTopic({ kind: 'verdict', at: e.at, node: e.node, change: 'raised', verdict, vips: [] }) ?? []))];
  const text = [
    `Audit of the group at ${formatTime(e.at)} by ${ctx.node}, after a fresh keepalived dump (one mail for the directors that hear each other):`,
    '',
    ...e.findings.map((f) => `  - ${verdictText(f)}`),
    ...hintLines(topics),
    ...signature(ctx),
  ];
  return { subject: [ctx.subjectPrefix, `${ctx.node}: ${eventTitle(e)}`].filter(Boolean).join(' '), text: `${text.join('\n')}\n` };
}
