import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { knownMetrics } from '../support/known-metrics.js';
import { MEHDY_METRICS, interpolate, metricNames, panelQueries, panelsOf, parseMarkers, referencedVariables, variablesOf, type Dashboard, type VariableValue } from '../../src/dashboards/dashboard.js';

const root = new URL('../../', import.meta.url).pathname;
const dashboardDir = join(root, 'dashboards');
const files = readdirSync(dashboardDir).filter((f) => f.endsWith('.json')).sort();
const dashboards = files.map((f) => [f, JSON.parse(readFileSync(join(dashboardDir, f), 'utf8')) as Dashboard & Record<string, unknown>] as const);

const BUILTINS = new Set(['__interval', '__interval_ms', '__rate_interval', '__range', '__range_s', '__range_ms']);
const CAPABILITIES = new Set(['kawatch', 'mail', 'ipvs', 'ipvs-netlink', 'ipvs-backend-rates', 'checker', 'sorry-server']);

it('ships the three dashboards', () => {
  expect(files).toEqual(['kawatch-ipvs.json', 'kawatch-overview.json', 'kawatch-watchdog.json']);
  const uids = dashboards.map(([, d]) => d.uid);
  expect(new Set(uids).size).toBe(uids.length);
});

describe.each(dashboards)('%s', (file, dashboard) => {
  const panels = panelsOf(dashboard);
  const variables = variablesOf(dashboard);
  const queries = panelQueries(dashboard);

  it('is importable: uid, title, the DS_PROMETHEUS input and a schema version', () => {
    expect(dashboard.uid).toBe(file.replace(/\.json$/, ''));
    expect(dashboard.title).toMatch(/^kawatch \/ /);
    expect(dashboard.id).toBeNull();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
  });

  it('has a Prometheus data source variable, and job and instance variables over it', () => {
    const byName = new Map(variables.map((v) => [v.name, v]));
    expect(byName.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of ['job', 'instance']) {
      const v = byName.get(name);
      expect(v, name).toMatchObject({ type: 'query', multi: true, includeAll: true, datasource: { type: 'prometheus', uid: '${datasource}' } });
      expect(JSON.stringify(v!.query), name).toMatch(new RegExp(`label_values\\(\\w+(\\{job=~\\\\"\\$job\\\\"\\})?, ${name}\\)`));
    }
    expect(variables.map((v) => v.name)).toEqual(['datasource', 'job', 'instance']);
  });

  it('gives every panel a unique id and a place on the 24-column grid', () => {
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels as (typeof panels[number] & { gridPos: { x: number; y: number; w: number; h: number } })[]) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.gridPos.w * p.gridPos.h, p.title).toBeGreaterThan(0);
    }
  });

  it('queries through the data source variable in every panel and target', () => {
    const dataPanels = panels.filter((p) => p.type !== 'row');
    expect(dataPanels.length).toBeGreaterThan(5);
    for (const p of dataPanels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) {
        expect(t.datasource, `${p.title} ${t.refId}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(t.expr?.trim(), `${p.title} ${t.refId}`).toBeTruthy();
      }
    }
  });

  it('refers only to variables it defines, and every query interpolates', () => {
    const defined = new Set(variables.map((v) => v.name));
    const texts = [...queries.map((q) => q.expr), ...variables.map((v) => JSON.stringify(v.query ?? ''))];
    for (const text of texts) for (const name of referencedVariables(text)) expect(defined.has(name) || BUILTINS.has(name), `$${name} in ${text}`).toBe(true);
    const values = new Map<string, VariableValue>([
      ['job', { values: ['kawatch'], multi: true }],
      ['instance', { values: ['lb1:9650', 'lb2:9650'], multi: true }],
    ]);
    for (const q of queries) expect(() => interpolate(q.expr, values, { interval: '15s', rateInterval: '1m', range: '1h' }), q.title).not.toThrow();
  });

  it('queries only metrics kawatch exports', () => {
    const known = knownMetrics();
    for (const q of queries) {
      const names = metricNames(q.expr);
      expect(names.length, `${q.title}: ${q.expr}`).toBeGreaterThan(0);
      for (const name of names) expect(known.has(name), `${q.title}: ${name}`).toBe(true);
    }
  });

  it('marks what a panel needs: the documented capabilities, and kawatch wherever the mehdy metrics cannot serve', () => {
    for (const p of [dashboard, ...panels]) {
      for (const line of (p.description ?? '').split('\n')) if (/^\s*Needs /.test(line)) expect([...parseMarkers(line).needs.keys()], line).toHaveLength(1);
    }
    for (const q of queries) {
      for (const capability of q.markers.needs.keys()) expect(CAPABILITIES.has(capability), `${q.title}: Needs ${capability}`).toBe(true);
      const names = metricNames(q.expr);
      const needsKawatch = [...q.markers.needs.keys()].some((c) => c !== 'checker');
      // Without a "Needs" marker, a query must also work from mehdy/keepalived-exporter's metrics alone.
      if (!needsKawatch) expect(names.some((n) => MEHDY_METRICS.includes(n)), `${q.title}: ${q.expr}`).toBe(true);
      if (q.markers.needs.has('kawatch')) expect(names.some((n) => !MEHDY_METRICS.includes(n)), `${q.title} needs kawatch but queries only mehdy metrics`).toBe(true);
    }
  });
});

it('the overview keeps a core that works with mehdy/keepalived-exporter alone', () => {
  const overview = dashboards.find(([f]) => f === 'kawatch-overview.json')![1];
  const core = panelQueries(overview).filter((q) => q.markers.needs.size === 0);
  const titles = core.map((q) => q.title);
  expect(titles).toEqual(expect.arrayContaining(['State matrix: VRRP instance × director', 'MASTERs per VRRP instance', 'VRRP state changes', 'Adverts received and sent']));
  expect(core.find((q) => q.title === 'VRRP state changes')!.expr).toContain('changes(keepalived_vrrp_state');
});

it('ships a Grafana provisioning file for the dashboards', () => {
  const provisioning = parse(readFileSync(join(dashboardDir, 'provisioning/kawatch.yml'), 'utf8')) as { apiVersion: number; providers: { name: string; type: string; options: { path: string } }[] };
  expect(provisioning.apiVersion).toBe(1);
  expect(provisioning.providers).toEqual([expect.objectContaining({ name: 'kawatch', type: 'file', options: expect.objectContaining({ path: expect.stringMatching(/^\//) }) })]);
});
