/**
 * Grafana dashboards as data: the panels, their PromQL targets and the template variables, read
 * from the JSON Grafana exports, and the substitution Grafana applies before a query reaches
 * Prometheus. Pure, so every dashboard can be checked without Grafana.
 */

export interface DashboardTarget {
  refId?: string;
  expr?: string;
  datasource?: unknown;
}

export interface DashboardPanel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: unknown;
  targets?: DashboardTarget[];
  /** A collapsed row keeps its panels inside it. */
  panels?: DashboardPanel[];
}

export interface DashboardVariable {
  name: string;
  type: string;
  query?: unknown;
  multi?: boolean;
  includeAll?: boolean;
  datasource?: unknown;
}

export interface Dashboard {
  uid?: string;
  title?: string;
  description?: string;
  panels?: DashboardPanel[];
  templating?: { list?: DashboardVariable[] };
}

/**
 * Markers a panel's (or the dashboard's) description carries, one a line:
 *   `Event-only: WHY`   — the panel shows data only around events (an action taken, a VIP lost);
 *   `Needs CAPABILITY: WHY` — it shows data only where the daemon has that capability:
 *     `kawatch` (kawatch's own metrics, absent with mehdy/keepalived-exporter), `mail` (a mail section),
 *     `ipvs` (the IPVS collector), `ipvs-netlink` (its netlink path), `ipvs-backend-rates` (the
 *     estimator rates per real server, `ipvs.backend_rates`), `checker` (keepalived's health
 *     checkers report on real servers), `sorry-server` (a sorry_server in keepalived.conf).
 * A dashboard's own markers apply to each of its panels.
 */
export interface PanelMarkers {
  eventOnly?: string;
  needs: Map<string, string>;
}

const EVENT_ONLY = /^Event-only:\s*(.+)$/;
const NEEDS = /^Needs ([a-z][a-z0-9-]*):\s*(.+)$/;

export function parseMarkers(description: string | undefined): PanelMarkers {
  const markers: PanelMarkers = { needs: new Map() };
  for (const line of (description ?? '').split('\n').map((l) => l.trim())) {
    const event = EVENT_ONLY.exec(line);
    if (event) markers.eventOnly = event[1]!;
    const needs = NEEDS.exec(line);
    if (needs) markers.needs.set(needs[1]!, needs[2]!);
  }
  return markers;
}

export interface PanelQuery {
  dashboard: string;
  panelId: number | undefined;
  title: string;
  refId: string;
  expr: string;
  markers: PanelMarkers;
}

/** Every panel, those inside rows included, in the order Grafana shows them. */
export function panelsOf(dashboard: Dashboard): DashboardPanel[] {
  const all: DashboardPanel[] = [];
  const visit = (panels: DashboardPanel[] | undefined) => {
    for (const p of panels ?? []) {
      all.push(p);
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  return all;
}

/** Every PromQL target of every panel, with the panel's markers merged with the dashboard's. */
export function panelQueries(dashboard: Dashboard): PanelQuery[] {
  const board = parseMarkers(dashboard.description);
  const name = dashboard.title ?? dashboard.uid ?? '(untitled)';
  return panelsOf(dashboard).flatMap((panel) => {
    const own = parseMarkers(panel.description);
    const markers: PanelMarkers = { eventOnly: own.eventOnly ?? board.eventOnly, needs: new Map([...board.needs, ...own.needs]) };
    return (panel.targets ?? [])
      .filter((t) => typeof t.expr === 'string' && t.expr.trim() !== '')
      .map((t) => ({ dashboard: name, panelId: panel.id, title: panel.title ?? '', refId: t.refId ?? '', expr: t.expr!, markers }));
  });
}

export function variablesOf(dashboard: Dashboard): DashboardVariable[] {
  return dashboard.templating?.list ?? [];
}

// Grafana's spellings: $name, ${name}, ${name:format}, [[name]].
const VARIABLE_REFERENCE = /\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]/g;

/** Names of the variables a text refers to (built-ins such as `__rate_interval` included). */
export function referencedVariables(text: string): string[] {
  return [...new Set([...text.matchAll(VARIABLE_REFERENCE)].map((m) => (m[1] ?? m[2] ?? m[4])!))];
}

/** The built-in variables Grafana fills from the time range and the panel's resolution. */
export interface BuiltinValues {
  interval: string;
  rateInterval: string;
  range: string;
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };

/** A Prometheus duration (`90s`, `1h30m`) in seconds. */
export function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new Error(`invalid duration ${JSON.stringify(text)}: expected numbers with units ms, s, m, h, d, w or y, such as 90s or 1h30m`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_SECONDS[p[2]!]!, 0);
}

function builtin(name: string, values: BuiltinValues): string | undefined {
  const range = durationSeconds(values.range);
  switch (name) {
    case '__interval':
      return values.interval;
    case '__interval_ms':
      return String(Math.round(durationSeconds(values.interval) * 1000));
    case '__rate_interval':
      return values.rateInterval;
    case '__range':
      return `${Math.round(range)}s`;
    case '__range_s':
      return String(Math.round(range));
    case '__range_ms':
      return String(Math.round(range * 1000));
    default:
      return undefined;
  }
}

/** Grafana's escaping of one value inside a Prometheus regex matcher (`=~"..."`). */
function regexEscape(value: string): string {
  return value.replace(/\\/g, '\\\\\\\\').replace(/[\^$*+?.()|{}[\]']/g, '\\\\$&');
}

/** What a template variable currently stands for: its selected values, and how Grafana formats them. */
export interface VariableValue {
  values: string[];
  /** Multi-value or with "All": Grafana writes the values as a regex alternation. */
  multi: boolean;
}

function format(variable: VariableValue, fmt: string | undefined): string {
  const { values, multi } = variable;
  if (fmt === 'regex' || (fmt === undefined && multi)) {
    const escaped = values.map(regexEscape);
    return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
  }
  if (fmt === 'pipe') return values.join('|');
  if (fmt === undefined || fmt === 'csv' || fmt === 'raw') return values.join(',');
  throw new Error(`unsupported variable format :${fmt}: expected regex, pipe, csv or raw`);
}

/**
 * The query as Grafana sends it: variables replaced by their values (multi-value ones as a regex
 * alternation, as Grafana's Prometheus data source writes them), built-ins by the given durations.
 * An undefined variable is an error, not left in place for Prometheus to reject.
 */
export function interpolate(expr: string, variables: ReadonlyMap<string, VariableValue>, builtins: BuiltinValues): string {
  return expr.replace(VARIABLE_REFERENCE, (_all, plain?: string, braced?: string, fmt?: string, bracketed?: string) => {
    const name = (plain ?? braced ?? bracketed)!;
    const fixed = builtin(name, builtins);
    if (fixed !== undefined) return fixed;
    const variable = variables.get(name);
    if (!variable) throw new Error(`the query refers to $${name}, which the dashboard does not define`);
    return format(variable, fmt);
  });
}

// PromQL words that look like metric names but are not.
const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2']);

/**
 * Metric names a PromQL expression selects: identifiers outside label matchers, strings and
 * grouping clauses that are not function calls or keywords. Durations in brackets are skipped.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, word, call] = m;
    if (call || PROMQL_KEYWORDS.has(word!.toLowerCase()) || /^\d/.test(word!)) continue;
    // A number's exponent (1e3) or a duration suffix is no name.
    const before = stripped[m.index! - 1];
    if (before !== undefined && /[\d.]/.test(before)) continue;
    names.add(word!);
  }
  return [...names];
}

/** The metric names mehdy/keepalived-exporter exports: the overview's core panels work from these alone. */
export const MEHDY_METRICS: readonly string[] = [
  'keepalived_up',
  'keepalived_vrrp_state',
  'keepalived_advertisements_received_total',
  'keepalived_advertisements_sent_total',
  'keepalived_become_master_total',
  'keepalived_release_master_total',
  'keepalived_packet_length_errors_total',
  'keepalived_advertisements_interval_errors_total',
  'keepalived_ip_ttl_errors_total',
  'keepalived_invalid_type_received_total',
  'keepalived_address_list_errors_total',
  'keepalived_authentication_invalid_total',
  'keepalived_authentication_mismatch_total',
  'keepalived_authentication_failure_total',
  'keepalived_priority_zero_received_total',
  'keepalived_priority_zero_sent_total',
  'keepalived_gratuitous_arp_delay_total',
];
