import { durationSeconds, interpolate, panelQueries, variablesOf, type BuiltinValues, type Dashboard, type DashboardVariable, type PanelQuery, type VariableValue } from './dashboard.js';

/** What a panel query gave: `empty` and `error` fail the check; `event-only` and `skipped` say why they are no failure. */
export type Outcome = 'data' | 'empty' | 'error' | 'event-only' | 'skipped';

export interface QueryResult {
  query: PanelQuery;
  /** The PromQL sent, variables substituted; absent when the query was skipped or could not be written. */
  sent?: string;
  outcome: Outcome;
  series: number;
  detail?: string;
}

export interface CheckOptions {
  /** Base URL of Prometheus, e.g. http://127.0.0.1:9090. */
  prometheus: string;
  builtins: BuiltinValues;
  /** Variable values given by the caller (name → values); the others take every value Prometheus knows ("All"). */
  overrides: ReadonlyMap<string, string[]>;
  /** Capabilities this Prometheus' targets lack: panels that need one are skipped with the panel's own reason. */
  without: ReadonlySet<string>;
  timeoutMs?: number;
}

/** The part of Prometheus' HTTP API the check uses; a real server in tests and in use. */
export interface PrometheusApi {
  query(expr: string): Promise<{ resultType: string; result: unknown }>;
  labelValues(label: string, match: string | undefined, startSeconds: number): Promise<string[]>;
}

export function prometheusApi(base: string, timeoutMs = 10_000): PrometheusApi {
  const get = async (path: string, params: [string, string][]): Promise<unknown> => {
    const url = `${base.replace(/\/$/, '')}${path}?${new URLSearchParams(params).toString()}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => undefined)) as { status?: string; data?: unknown; error?: string } | undefined;
    if (!body || body.status !== 'success') throw new Error(`${path} answered ${res.status}: ${body?.error ?? 'no JSON body'}`);
    return body.data;
  };
  return {
    query: async (expr) => (await get('/api/v1/query', [['query', expr]])) as { resultType: string; result: unknown },
    labelValues: async (label, match, startSeconds) =>
      (await get(`/api/v1/label/${encodeURIComponent(label)}/values`, [...(match ? ([['match[]', match]] as [string, string][]) : []), ['start', String(startSeconds)]])) as string[],
  };
}

const LABEL_VALUES = /^\s*label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*$/s;

/** A query variable's definition: the classic string, or the object newer Grafana versions write. */
function variableQuery(v: DashboardVariable): string {
  const q = v.query as string | { query?: string } | undefined;
  return typeof q === 'string' ? q : (q?.query ?? '');
}

/** Every value a variable can take here, as Grafana would offer them, earlier variables already chosen. */
async function variableValues(v: DashboardVariable, chosen: ReadonlyMap<string, VariableValue>, api: PrometheusApi, builtins: BuiltinValues, startSeconds: number): Promise<string[]> {
  switch (v.type) {
    case 'query': {
      const definition = variableQuery(v);
      const m = LABEL_VALUES.exec(definition);
      if (!m) throw new Error(`variable $${v.name}: only label_values(...) queries are supported, not ${JSON.stringify(definition)}`);
      const match = m[1] === undefined ? undefined : interpolate(m[1], chosen, builtins);
      return (await api.labelValues(m[2]!, match, startSeconds)).sort();
    }
    case 'custom':
      return variableQuery(v)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'constant':
    case 'textbox':
      return [variableQuery(v)];
    default:
      throw new Error(`variable $${v.name}: type ${v.type} is not supported`);
  }
}

/** Values for the dashboard's variables: the caller's, else all of them ("All") or the first. */
export async function resolveVariables(dashboard: Dashboard, api: PrometheusApi, options: Pick<CheckOptions, 'builtins' | 'overrides'>): Promise<Map<string, VariableValue>> {
  const chosen = new Map<string, VariableValue>();
  // Grafana offers the label values seen over the dashboard's time range.
  const startSeconds = Math.floor(Date.now() / 1000 - durationSeconds(options.builtins.range));
  for (const v of variablesOf(dashboard)) {
    if (v.type === 'datasource') continue;
    const multi = Boolean(v.multi || v.includeAll);
    const given = options.overrides.get(v.name);
    if (given) {
      chosen.set(v.name, { values: given, multi });
      continue;
    }
    const values = await variableValues(v, chosen, api, options.builtins, startSeconds);
    if (values.length === 0) throw new Error(`variable $${v.name} has no value here: ${JSON.stringify(variableQuery(v))} found nothing`);
    chosen.set(v.name, { values: multi ? values : values.slice(0, 1), multi });
  }
  return chosen;
}

function seriesCount(data: { resultType: string; result: unknown }): number {
  if (data.resultType === 'scalar' || data.resultType === 'string') return 1;
  return Array.isArray(data.result) ? data.result.length : 0;
}

async function checkQuery(query: PanelQuery, variables: ReadonlyMap<string, VariableValue>, api: PrometheusApi, options: CheckOptions): Promise<QueryResult> {
  const lacking = [...query.markers.needs].find(([capability]) => options.without.has(capability));
  if (lacking) return { query, outcome: 'skipped', series: 0, detail: `needs ${lacking[0]}: ${lacking[1]}` };
  let sent: string;
  try {
    sent = interpolate(query.expr, variables, options.builtins);
  } catch (err) {
    return { query, outcome: 'error', series: 0, detail: (err as Error).message };
  }
  try {
    const series = seriesCount(await api.query(sent));
    if (series > 0) return { query, sent, outcome: 'data', series };
    if (query.markers.eventOnly) return { query, sent, outcome: 'event-only', series, detail: query.markers.eventOnly };
    return { query, sent, outcome: 'empty', series, detail: 'no series' };
  } catch (err) {
    return { query, sent, outcome: 'error', series: 0, detail: (err as Error).message };
  }
}

/** Runs every panel query of the dashboard, variables substituted, against Prometheus. */
export async function checkDashboard(dashboard: Dashboard, options: CheckOptions, api: PrometheusApi = prometheusApi(options.prometheus, options.timeoutMs)): Promise<QueryResult[]> {
  const queries = panelQueries(dashboard);
  let variables: Map<string, VariableValue>;
  try {
    variables = await resolveVariables(dashboard, api, options);
  } catch (err) {
    return queries.map((query) => ({ query, outcome: 'error', series: 0, detail: (err as Error).message }));
  }
  const results: QueryResult[] = [];
  for (const query of queries) results.push(await checkQuery(query, variables, api, options));
  return results;
}

export function failures(results: readonly QueryResult[]): QueryResult[] {
  return results.filter((r) => r.outcome === 'empty' || r.outcome === 'error');
}

/** One line a query: dashboard, panel, target and what it gave; the sent PromQL for failures. */
export function formatResults(results: readonly QueryResult[]): string {
  const lines = results.map((r) => {
    const where = `${r.query.dashboard} / #${r.query.panelId ?? '?'} ${r.query.title} [${r.query.refId}]`;
    const what = r.outcome === 'data' ? `data (${r.series} series)` : `${r.outcome}${r.detail ? `: ${r.detail}` : ''}`;
    const sent = r.outcome === 'empty' || r.outcome === 'error' ? `\n      ${r.sent ?? r.query.expr}` : '';
    return `${r.outcome === 'empty' || r.outcome === 'error' ? 'FAIL' : 'ok  '} ${where}: ${what}${sent}`;
  });
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  lines.push(`${results.length} queries: ${count('data')} with data, ${count('event-only')} event-only without data, ${count('skipped')} skipped, ${count('empty')} empty, ${count('error')} errors`);
  return lines.join('\n');
}
