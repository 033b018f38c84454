import type { HistoryEntry } from '../jobs/history.js';
import type { Vip } from '../model/vrrp.js';
import type { VrrpState } from '../model/vrrp.js';
import type { PeerInstance } from '../model/peer.js';
import { SOURCE_NAMES, type InstanceView, type PeerState, type Snapshot } from '../state/snapshot.js';
import { entryOf } from '../core/dict.js';
import { formatTime, isShowableTime } from '../core/time.js';
import type { Verdict } from '../watchdog/diagnose.js';
import type { JournalEntry } from '../watchdog/journal.js';
import { verdictText } from '../watchdog/verdict-text.js';
import type { DrillReport } from '../drill/journal.js';
import { reportLine } from '../drill/report.js';

/** Everything the status page shows: the same facts as /api/v1/state, plus the recent history. */
export interface StatusView {
  version: string;
  /** Epoch ms the page is generated at; every "ago" is relative to it. */
  now: number;
  snapshot: Snapshot;
  verdicts: readonly Verdict[];
  actions: readonly JournalEntry[];
  /** Recent transitions, verdicts and actions, oldest first. */
  recent: readonly HistoryEntry[];
  /** This director's failover drills: the last report kept, when one last succeeded (over the whole journal), the one under way. */
  drill?: { last?: DrillReport; lastSuccessAt?: number; running?: { instance: string; step: string; since: number } };
}

export const REFRESH_SECONDS = 5;
const RECENT_HAPPENINGS = 40;
const RECENT_ACTIONS = 20;

/**
 * The page carries no script and loads nothing: the policy forbids everything but its inline
 * style and the empty inline icon, so even a name that slipped past escaping could not run.
 */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

// ---- escaping by construction --------------------------------------------------------------

/** Markup that is already safe; anything else interpolated into `html` is escaped. */
class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Part = Html | string | number | undefined | null | false | readonly Part[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function part(value: Part): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(part).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? part(values[i]!) : ''), ''));
}

// ---- small pieces ------------------------------------------------------------------------

export function ago(at: number, now: number): string {
  if (!isShowableTime(at) || !isShowableTime(now)) return '';
  const seconds = Math.round((now - at) / 1000);
  const magnitude = Math.abs(seconds);
  const amount =
    magnitude < 120 ? `${magnitude} s` : magnitude < 7200 ? `${Math.round(magnitude / 60)} min` : magnitude < 172_800 ? `${Math.round(magnitude / 3600)} h` : `${Math.round(magnitude / 86_400)} d`;
  return seconds >= 0 ? `${amount} ago` : `in ${amount}`;
}

/** A time as a `<time>` element; one no clock shows is said to be invalid, in words. */
function timeElement(at: number): Html {
  if (!isShowableTime(at)) return html`<span class="muted">${formatTime(at)}</span>`;
  return html`<time datetime="${formatTime(at)}">${formatTime(at, 's')}</time>`;
}

function when(at: number | undefined, now: number): Html {
  if (at === undefined) return html`<span class="muted">never</span>`;
  const since = ago(at, now);
  return html`${timeElement(at)}${since ? html` <span class="ago">${since}</span>` : ''}`;
}

const STATE_CLASS: Record<VrrpState, string> = { MASTER: 'ok', BACKUP: 'info', FAULT: 'bad', INIT: 'neutral', STOP: 'neutral', DELETED: 'neutral' };

function badge(text: string, tone: string): Html {
  return html`<span class="badge ${tone}">${text}</span>`;
}

const stateBadge = (state: VrrpState) => badge(state, STATE_CLASS[state]);

type Severity = 'critical' | 'warning' | 'notice';

const SEVERITY: Record<Verdict['kind'], Severity> = {
  'split-brain': 'critical',
  'no-master': 'critical',
  'vip-on-several-nodes': 'warning',
  'vip-absent-on-master': 'warning',
  'peer-unreachable': 'warning',
  'config-mismatch': 'warning',
  'equal-priority': 'notice',
  'not-on-preferred-owner': 'notice',
};
const SEVERITY_TONE: Record<Severity, string> = { critical: 'bad', warning: 'warn', notice: 'info' };
const SEVERITY_ORDER: Severity[] = ['critical', 'warning', 'notice'];

/** The verdict in one line; a split brain's probable causes are listed apart, under it. */
function headline(v: Verdict): string {
  return v.kind === 'split-brain' ? `split brain on ${v.iname} (vrid ${v.vrid ?? '?'}): MASTER on ${v.masters.join(' and ')}` : verdictText(v);
}

function table(caption: string, head: string[], rows: Html[], empty: string, compact = false): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<div class="scroll"><table${compact ? html` class="compact"` : ''}>
<caption class="sr">${caption}</caption>
<thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${rows}</tbody>
</table></div>`;
}

function section(id: string, title: string, body: Html, note?: Part): Html {
  return html`<section aria-labelledby="${id}"><h2 id="${id}">${title}${note ? html` <span class="note">${note}</span>` : ''}</h2>
${body}</section>
`;
}

// ---- sections ----------------------------------------------------------------------------

function banner(verdicts: readonly Verdict[]): Html {
  const critical = verdicts.filter((v) => SEVERITY[v.kind] === 'critical');
  if (critical.length === 0) return html``;
  return html`<div class="banner" role="alert"><strong>Critical — needs attention now</strong><ul>${critical.map((v) => html`<li>${headline(v)}</li>`)}</ul></div>
`;
}

function vipList(instance: InstanceView, present: ReadonlySet<string> | undefined): Html {
  if (instance.vips.length === 0) return html`<span class="muted">none</span>`;
  const master = instance.state === 'MASTER';
  const item = (vip: Vip) => {
    const here = present?.has(vip.address);
    // A VIP belongs on the MASTER and nowhere else: the unexpected case is the one to see.
    const [label, tone] = here === undefined ? ['unknown', 'neutral'] : here ? ['present', master ? 'ok' : 'bad'] : ['absent', master ? 'bad' : 'neutral'];
    const address = `${vip.address}${vip.prefix === undefined ? '' : `/${vip.prefix}`}${vip.dev && vip.dev !== instance.interface ? ` dev ${vip.dev}` : ''}`;
    return html`<li><code>${address}</code> ${badge(label, tone)}</li>`;
  };
  return html`<ul class="plain">${instance.vips.map(item)}</ul>`;
}

function priority(base: number | undefined, effective: number | undefined): Html {
  if (base === undefined && effective === undefined) return html`<span class="muted">?</span>`;
  // A tracked script or interface moved it: worth a look, since it decides who is MASTER.
  const delta = base !== undefined && effective !== undefined ? effective - base : 0;
  if (delta === 0) return html`${base ?? '?'} / ${effective ?? '?'}`;
  return html`${base} / <span class="adjusted">${effective}</span> <span class="note">(${delta > 0 ? '+' : ''}${delta})</span>`;
}

const sortedPeers = (s: Snapshot) => Object.values(s.peers).sort((a, b) => a.name.localeCompare(b.name));

function peerCell(peer: PeerState, instance: PeerInstance | undefined, reachable: boolean): Html {
  if (!peer.view) return html`<span class="muted">no view yet</span>`;
  if (!instance) return html`<span class="muted">not configured</span>`;
  const state = peer.view.keepalivedUp ? stateBadge(instance.state) : badge('keepalived down', 'bad');
  return html`${state} <span class="note">prio ${instance.effectivePriority ?? '?'}</span>${reachable ? '' : html` <span class="note">(last known)</span>`}`;
}

function instancesSection(view: StatusView, unreachable: ReadonlySet<string>): Html {
  const { snapshot: s, now } = view;
  const peers = sortedPeers(s);
  const present = s.addresses && new Set(s.addresses.map((a) => a.address));
  const names = new Set([...Object.keys(s.instances), ...peers.flatMap((p) => p.view?.instances.map((i) => i.name) ?? [])]);
  const rows = [...names].sort().map((name) => {
    const local = entryOf(s.instances, name);
    const remote = peers.map((p) => p.view?.instances.find((i) => i.name === name));
    const vrid = local?.vrid ?? remote.find((i) => i?.vrid !== undefined)?.vrid;
    // The states side by side first: a split brain reads as two MASTERs in one row, even on a phone.
    const state = local
      ? html`<td>${stateBadge(local.state)}${local.lowerPriorityAdverts ? html` <span class="note">${local.lowerPriorityAdverts}× lower-priority MASTER heard</span>` : ''}</td>`
      : html`<td class="muted">not configured here</td>`;
    const details = local
      ? html`<td>${local.interface ?? html`<span class="muted">?</span>`}</td><td>${local.stateSince === undefined ? html`<span class="muted">?</span>` : when(local.stateSince, now)}</td><td class="num">${priority(local.basePriority, local.effectivePriority)}</td><td>${vipList(local, present)}</td>`
      : html`<td colspan="4"></td>`;
    return html`<tr><th scope="row">${name}</th><td class="num">${vrid ?? '?'}</td>${state}${peers.map((p, i) => html`<td>${peerCell(p, remote[i], !unreachable.has(p.name))}</td>`)}${details}</tr>`;
  });
  const head = ['Instance', 'VRID', `State on ${s.node}`, ...peers.map((p) => `State on ${p.name}`), 'Interface', 'Since', 'Priority base / effective', 'VIPs here (netlink)'];
  const groups = Object.values(s.groups).sort((a, b) => a.name.localeCompare(b.name));
  const groupTable = groups.length
    ? html`<h3>Sync groups</h3>${table('Sync groups', ['Group', 'State', 'Since'], groups.map((g) => html`<tr><th scope="row">${g.name}</th><td>${stateBadge(g.state)}</td><td>${when(g.stateSince, now)}</td></tr>`), '', true)}`
    : '';
  const keepalived = s.keepalived.up ? html`keepalived ${badge('running', 'ok')} pid ${s.keepalived.pid ?? '?'}` : html`keepalived ${badge('not running', 'bad')}`;
  return section('instances', 'VRRP instances', html`<p class="lead">${keepalived}${s.addresses === undefined ? html` · <span class="muted">interface addresses not known yet</span>` : ''}</p>
${table('VRRP instances, their state here and on each peer', head, rows, 'No VRRP instance known yet: keepalived has not reported any, and no peer has.')}
${groupTable}`);
}

function verdictsSection(verdicts: readonly Verdict[], now: number): Html {
  const sorted = SEVERITY_ORDER.flatMap((sev) => verdicts.filter((v) => SEVERITY[v.kind] === sev));
  const items = sorted.map((v) => {
    const severity = SEVERITY[v.kind];
    const causes = v.kind === 'split-brain' && v.causes.length ? html`<div class="causes">Probable ${v.causes.length > 1 ? 'causes' : 'cause'}:<ul>${v.causes.map((c) => html`<li>${c}</li>`)}</ul></div>` : '';
    const since = v.kind === 'split-brain' && v.since !== undefined ? html` <span class="note">since ${when(v.since, now)}</span>` : '';
    return html`<li class="verdict ${severity}">${badge(severity, SEVERITY_TONE[severity])} <span class="kind">${v.kind}</span> ${headline(v)}${since}${causes}</li>`;
  });
  const body = items.length ? html`<ul class="verdicts">${items}</ul>` : html`<p class="empty">${badge('OK', 'ok')} Nothing wrong: no split brain, every instance has one MASTER, every peer answers.</p>`;
  return section('verdicts', 'Verdicts', body, verdicts.length ? `${verdicts.length}` : '');
}

function peersSection(view: StatusView, unreachable: ReadonlySet<string>): Html {
  const { snapshot: s, now } = view;
  const rows = sortedPeers(s)
    .map((p) => {
      const reach = unreachable.has(p.name) ? badge('unreachable', 'bad') : badge('reachable', 'ok');
      const keepalived = p.view === undefined ? html`<span class="muted">?</span>` : p.view.keepalivedUp ? badge('running', 'ok') : badge('not running', 'bad');
      return html`<tr><th scope="row">${p.name}</th><td><code>${p.address}</code></td><td>${reach}</td><td class="num">${p.rttMs === undefined ? '?' : `${p.rttMs.toFixed(1)} ms`}</td><td>${when(p.lastExchange, now)}</td><td>${keepalived}</td><td class="num">${p.errors}</td><td>${p.lastError ?? ''}</td></tr>`;
    });
  const rejected = Object.entries(s.peerRejected).filter(([, n]) => n);
  const w = s.witness;
  const witness = w
    ? html`<p>Witness <code>${w.target}</code>: ${w.unreachableSince === undefined ? html`${badge('reached', 'ok')} ${when(w.lastReached, now)}` : html`${badge('unreachable', 'bad')} since ${when(w.unreachableSince, now)}${w.error ? ` (${w.error})` : ''}`}</p>`
    : '';
  const refused = rejected.length ? html`<p class="note">Peer messages refused: ${rejected.map(([reason, n]) => `${reason} ${n}`).join(', ')}</p>` : '';
  return section(
    'peers',
    'Peers (secondary link)',
    html`${table('Peer directors', ['Peer', 'Address', 'Link', 'RTT', 'Last exchange', 'keepalived', 'Errors', 'Last error'], rows, 'No peer configured: verdicts use this node’s view alone.')}${witness}${refused}`,
  );
}

const KIND_TONE: Record<HistoryEntry['kind'], string> = { transition: 'info', verdict: 'warn', action: 'bad' };

/** A verdict that cleared is good news: it should not look like the one raised. */
const entryTone = (h: HistoryEntry) => (h.verdict === 'cleared' ? 'ok' : KIND_TONE[h.kind]);

function historySection(view: StatusView): Html {
  const recent = view.recent.slice(-RECENT_HAPPENINGS).reverse();
  const rows = recent.map((h) => html`<tr><td class="nowrap">${when(h.at, view.now)}</td><td>${badge(h.kind, entryTone(h))}</td><td>${h.text}</td></tr>`);
  const note = view.recent.length > recent.length ? `latest ${recent.length} of ${view.recent.length}` : '';
  return section('history', 'Recent transitions and verdicts', table('Recent recent, newest first', ['Time (UTC)', 'Kind', 'What'], rows, 'Nothing has happened since the daemon started.'), note);
}

function actionsSection(view: StatusView): Html {
  const recent = view.actions.slice(-RECENT_ACTIONS).reverse();
  const rows = recent.map(
    (a) =>
      html`<tr><td class="nowrap">${when(a.at, view.now)}</td><td>${badge(a.action, a.action === 'restore' || a.action === 'cancel' ? 'ok' : 'bad')}${a.dryRun ? html` ${badge('dry run', 'neutral')}` : ''}${a.isolation ? html` ${badge('isolated', 'warn')}` : ''}</td><th scope="row">${a.iname}${a.vrid === undefined ? '' : ` (vrid ${a.vrid})`}</th><td>${a.winner ?? ''}</td><td>${a.reason}${a.restoreAfterMs === undefined ? '' : html` <span class="note">restore after ${Math.round(a.restoreAfterMs / 1000)} s</span>`}</td></tr>`,
  );
  return section('actions', 'Watchdog actions', table('Watchdog actions, newest first', ['Time (UTC)', 'Action', 'Instance', 'Stays MASTER', 'Reason'], rows, 'The watchdog has taken no action.'));
}

const DRILL_TONE = { success: 'ok', aborted: 'bad', refused: 'warn' } as const;

function drillSection(view: StatusView): Html {
  const { last: d, lastSuccessAt, running } = view.drill ?? {};
  const seconds = (ms: number | undefined) => (ms === undefined ? '' : `${(ms / 1000).toFixed(3)} s`);
  const rows = [
    ...(running ? [html`<tr><td class="nowrap">${when(running.since, view.now)}</td><th scope="row">${running.instance}</th><td>${badge('running', 'info')}</td><td colspan="4">${running.step}</td></tr>`] : []),
    ...(d
      ? [
          html`<tr><td class="nowrap">${when(d.endedAt, view.now)}</td><th scope="row">${d.instance}</th><td>${badge(d.outcome, DRILL_TONE[d.outcome])}${d.reason ? html` <span class="note">${d.reason}</span>` : ''}</td><td>${d.from} → ${d.to} <span class="note">mode ${d.mode}</span></td><td class="num">${seconds(d.failoverMs)}${d.failoverMs === undefined ? '' : html` <span class="note">bound ${seconds(d.boundMs)}</span>`}</td><td class="num">${d.probe ? `${d.probe.failures}/${d.probe.attempts} failed, out ${seconds(d.probe.outageMs)}` : ''}</td><td>${reportLine(d)}${d.unexpected.length ? html`<ul class="plain">${d.unexpected.map((u) => html`<li>${u}</li>`)}</ul>` : ''}</td></tr>`,
        ]
      : []),
  ];
  // The alert asks whether a drill succeeded lately, whatever the last one did: said next to the title.
  const note = d || running ? html`last success: ${when(lastSuccessAt, view.now)}` : '';
  return section('drill', 'Last failover drill', table('The last failover drill', ['Ended (UTC)', 'Instance', 'Outcome', 'Move', 'Failover', 'Probe', 'Report'], rows, 'No drill has run on this director (kawatch drill INSTANCE, or jobs.drill).'), note);
}

function sourcesSection(view: StatusView): Html {
  const { snapshot: s, now } = view;
  const rows = SOURCE_NAMES.map((name) => {
    const h = s.sources[name];
    const status = !h.enabled ? badge('off', 'neutral') : h.up ? badge('up', 'ok') : badge('down', 'bad');
    const problem = h.lastError ?? (h.lastRejected && `refused: ${h.lastRejected}`);
    return html`<tr><th scope="row">${name}</th><td>${status}</td><td class="num">${h.events}</td><td class="num">${h.rejected}</td><td class="num">${h.errors}</td><td>${h.enabled ? when(h.lastSuccess, now) : ''}</td><td>${problem ?? ''}</td></tr>`;
  });
  return section('sources', 'Sources', table('Where kawatch learns keepalived’s state', ['Source', 'Status', 'Events', 'Refused', 'Errors', 'Last success', 'Last problem'], rows, ''));
}

function checkersSection(view: StatusView): Html {
  const checkers = Object.values(view.snapshot.checkers);
  if (checkers.length === 0) return html``;
  const rows = checkers
    .sort((a, b) => a.virtualServer.localeCompare(b.virtualServer) || (a.realServer ?? '').localeCompare(b.realServer ?? ''))
    .map((c) => html`<tr><td><code>${c.virtualServer}</code></td><td>${c.realServer ? html`<code>${c.realServer}</code>` : html`<span class="muted">quorum</span>`}</td><td>${c.up ? badge('up', 'ok') : badge('down', 'bad')}</td><td>${when(c.since, view.now)}</td></tr>`);
  return section('checkers', 'Health checkers', table('LVS health checkers', ['Virtual server', 'Real server', 'Status', 'Since'], rows, '', true));
}

const STYLE = `
:root{--bg:#f4f5f7;--card:#fff;--fg:#1d2330;--muted:#6b7385;--line:#e1e4ea;--head:#f8f9fb;
--ok:#137333;--ok-bg:#e6f4ea;--info:#1a56b0;--info-bg:#e8f0fe;--warn:#8a5300;--warn-bg:#fef3d6;--bad:#b3261e;--bad-bg:#fce8e6;--neutral:#4a5161;--neutral-bg:#eceef2}
@media (prefers-color-scheme:dark){:root{--bg:#12151b;--card:#1b2029;--fg:#e3e6ec;--muted:#9aa2b1;--line:#2c3340;--head:#212734;
--ok:#81c995;--ok-bg:#1e3526;--info:#8ab4f8;--info-bg:#1d2a44;--warn:#fdd663;--warn-bg:#3b3115;--bad:#f28b82;--bad-bg:#45201e;--neutral:#c0c6d1;--neutral-bg:#2c3340}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:var(--card);border-bottom:1px solid var(--line);padding:14px 20px}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px;max-width:1280px;margin:0 auto}
h1{font-size:20px;margin:0;font-weight:600}
h1 .product{color:var(--muted);font-weight:500}
.meta{color:var(--muted);font-size:13px;margin-left:auto}
main{max-width:1280px;margin:0 auto;padding:16px 20px 32px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:0 0 16px}
h2{font-size:15px;margin:0 0 10px;font-weight:600}
h3{font-size:13px;margin:14px 0 8px;font-weight:600}
.banner{background:var(--bad-bg);color:var(--bad);border:1px solid var(--bad);border-left-width:6px;border-radius:8px;padding:12px 16px;margin:0 0 16px;font-size:15px}
.banner ul{margin:4px 0 0;padding-left:20px}
.banner strong{text-transform:uppercase;letter-spacing:.04em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:7px 10px;border-bottom:1px solid var(--line)}
thead th{background:var(--head);color:var(--muted);font-size:12px;font-weight:600;text-transform:uppercase;letter-spacing:.03em;white-space:nowrap}
tbody tr:last-child>*{border-bottom:0}
tbody th{font-weight:600}
table.compact{width:auto;min-width:50%}
.num{white-space:nowrap;font-variant-numeric:tabular-nums}
.nowrap{white-space:nowrap}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap;border:1px solid currentColor}
.ok{color:var(--ok);background:var(--ok-bg)}.info{color:var(--info);background:var(--info-bg)}.warn{color:var(--warn);background:var(--warn-bg)}
.bad{color:var(--bad);background:var(--bad-bg)}.neutral{color:var(--neutral);background:var(--neutral-bg)}
.muted,.note,.ago{color:var(--muted)}.note,.ago{font-size:12px}
.adjusted{color:var(--warn);font-weight:600}
.plain{list-style:none;margin:0;padding:0}.plain li{white-space:nowrap}
.lead{margin:0 0 10px}
.empty{margin:4px 0;color:var(--muted)}
.verdicts{list-style:none;margin:0;padding:0}
.verdict{padding:9px 10px;border-left:4px solid var(--line);margin:0 0 6px;background:var(--head);border-radius:4px}
.verdict.critical{border-left-color:var(--bad)}.verdict.warning{border-left-color:var(--warn)}.verdict.notice{border-left-color:var(--info)}
.kind{font:12px ui-monospace,Menlo,Consolas,monospace;color:var(--muted)}
.causes{margin:6px 0 0;font-size:13px}.causes ul{margin:2px 0 0;padding-left:20px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
footer{max-width:1280px;margin:0 auto;padding:0 20px 24px;color:var(--muted);font-size:12px}
@media (max-width:640px){header,main{padding-left:10px;padding-right:10px}section{padding:10px}th,td{padding:6px}.meta{margin-left:0}.nowrap{white-space:normal}table.compact{width:100%}}
`;

/** The on-call's page: this director, its peers and what is wrong, as plain server-rendered HTML. */
export function renderStatusPage(view: StatusView): string {
  const { snapshot: s, verdicts, now } = view;
  const unreachable = new Set(verdicts.flatMap((v) => (v.kind === 'peer-unreachable' ? [v.peer] : [])));
  const worst = SEVERITY_ORDER.find((sev) => verdicts.some((v) => SEVERITY[v.kind] === sev));
  const overall = worst === undefined ? badge('healthy', 'ok') : badge(worst, SEVERITY_TONE[worst]);
  const title = `${worst === 'critical' ? 'CRITICAL · ' : ''}${s.node} · kawatch`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>${title}</title>
<style>${new Html(STYLE)}</style>
</head>
<body>
<header><div class="top"><h1><span class="product">kawatch</span> ${s.node}</h1>${overall}
<div class="meta">generated ${timeElement(now)} · refreshes every ${REFRESH_SECONDS} s · kawatch ${view.version}</div></div></header>
<main>
${banner(verdicts)}${verdictsSection(verdicts, now)}${instancesSection(view, unreachable)}${peersSection(view, unreachable)}${historySection(view)}${actionsSection(view)}${drillSection(view)}${sourcesSection(view)}${checkersSection(view)}</main>
<footer>The same facts as JSON: <a href="/api/v1/state">/api/v1/state</a> · metrics: <a href="/metrics">/metrics</a></footer>
</body>
</html>
`.text;
}
