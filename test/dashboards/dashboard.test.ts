import { describe, expect, it } from 'vitest';
import { formatResults, failures, type QueryResult } from '../../src/dashboards/check.js';
import { parseVariableOverrides } from '../../src/dashboards/cli.js';
import { durationSeconds, interpolate, metricNames, panelQueries, parseMarkers, referencedVariables, type Dashboard, type VariableValue } from '../../src/dashboards/dashboard.js';

const builtins = { interval: '15s', rateInterval: '1m', range: '1h' };
const vars = (entries: [string, string[], boolean][]) => new Map<string, VariableValue>(entries.map(([name, values, multi]) => [name, { values, multi }]));

describe('panelQueries', () => {
  const dashboard: Dashboard = {
    title: 'd',
    description: 'About it.\nNeeds ipvs: the collector.',
    panels: [
      { id: 1, type: 'stat', title: 'top', targets: [{ refId: 'A', expr: 'up' }, { refId: 'B', expr: '  ' }] },
      { id: 2, type: 'row', title: 'open row', panels: [] },
      {
        id: 3,
        type: 'row',
        title: 'collapsed row',
        panels: [{ id: 4, type: 'timeseries', title: 'inside', description: 'Shows X.\nEvent-only: only after an action.\nNeeds ipvs-netlink: stats.', targets: [{ refId: 'A', expr: 'x_total' }] }],
      },
    ],
  };

  it('finds targets of panels nested in collapsed rows, skipping blank expressions', () => {
    const queries = panelQueries(dashboard);
    expect(queries.map((q) => [q.panelId, q.refId, q.expr])).toEqual([
      [1, 'A', 'up'],
      [4, 'A', 'x_total'],
    ]);
  });

  it("merges the dashboard's markers into each panel's", () => {
    const [top, inside] = panelQueries(dashboard);
    expect(top!.markers.eventOnly).toBeUndefined();
    expect([...top!.markers.needs.keys()]).toEqual(['ipvs']);
    expect(inside!.markers.eventOnly).toBe('only after an action.');
    expect(Object.fromEntries(inside!.markers.needs)).toEqual({ ipvs: 'the collector.', 'ipvs-netlink': 'stats.' });
  });
});

describe('parseMarkers', () => {
  it('reads markers only at the start of a line', () => {
    const m = parseMarkers('This is not Event-only: really.\n  Event-only: yes\nNeeds mail: a mail section.\nNeeds Mail: wrong case');
    expect(m.eventOnly).toBe('yes');
    expect([...m.needs.keys()]).toEqual(['mail']);
  });
  it('gives no markers for a missing description', () => {
    expect(parseMarkers(undefined)).toEqual({ needs: new Map() });
  });
});

describe('interpolate', () => {
  it('writes multi-value variables as an escaped regex alternation, in every spelling', () => {
    const v = vars([
      ['instance', ['198.18.2.2:9650', '198.18.2.6:9650'], true],
      ['job', ['kawatch'], true],
    ]);
    expect(interpolate('up{instance=~"$instance", job=~"${job}"}', v, builtins)).toBe('up{instance=~"(198\\\\.18\\\\.2\\\\.2:9650|198\\\\.18\\\\.2\\\\.6:9650)", job=~"kawatch"}');
    expect(interpolate('up{instance=~"[[instance]]"}', v, builtins)).toBe(interpolate('up{instance=~"$instance"}', v, builtins));
    expect(interpolate('up{instance=~"${instance:regex}"}', v, builtins)).toBe(interpolate('up{instance=~"$instance"}', v, builtins));
  });

  it('leaves a single-value variable as it is, and honours explicit formats', () => {
    const v = vars([['node', ['lb1.example'], false], ['many', ['a', 'b'], true]]);
    expect(interpolate('x{node="$node"}', v, builtins)).toBe('x{node="lb1.example"}');
    expect(interpolate('${many:csv} ${many:pipe} ${node:regex}', v, builtins)).toBe('a,b a|b lb1\\\\.example');
    expect(() => interpolate('${many:glob}', v, builtins)).toThrow(/unsupported variable format :glob/);
  });

  it('escapes backslashes so that they survive the PromQL string and the regex', () => {
    expect(interpolate('x{a=~"$v"}', vars([['v', ['a\\b'], true]]), builtins)).toBe('x{a=~"a\\\\\\\\b"}');
  });

  it('fills the built-ins from the time range and resolution', () => {
    const out = interpolate('rate(x[$__rate_interval]) $__interval $__interval_ms $__range $__range_s $__range_ms', new Map(), { interval: '30s', rateInterval: '2m', range: '6h' });
    expect(out).toBe('rate(x[2m]) 30s 30000 21600s 21600 21600000');
  });

  it('refuses a variable the dashboard does not define, naming it', () => {
    expect(() => interpolate('x{a="$nope"}', new Map(), builtins)).toThrow(/\$nope, which the dashboard does not define/);
  });

  it('rejects a malformed duration', () => {
    expect(() => interpolate('$__range', new Map(), { ...builtins, range: 'an hour' })).toThrow(/invalid duration "an hour"/);
  });
});

describe('durationSeconds', () => {
  it("reads Prometheus' compound durations", () => {
    expect(durationSeconds('1h30m')).toBe(5400);
    expect(durationSeconds('1500ms')).toBe(1.5);
    expect(durationSeconds('2w')).toBe(1_209_600);
  });
  it('refuses anything else', () => {
    for (const bad of ['', '10', '5 m', '1h 30m', '3x']) expect(() => durationSeconds(bad), bad).toThrow(/invalid duration/);
  });
});

describe('referencedVariables', () => {
  it('lists each variable once, whatever the spelling', () => {
    expect(referencedVariables('a{x="$job", y=~"${instance:regex}", z="[[job]]"}[$__rate_interval]')).toEqual(['job', 'instance', '__rate_interval']);
  });
});

describe('metricNames', () => {
  it('finds selected metrics, not functions, keywords, labels, strings or durations', () => {
    const expr =
      'sum by (instance, iname) (rate(keepalived_advertisements_received_total{job=~"$job", iname!="up"}[$__rate_interval] offset 5m)) / on (instance) group_left(node) kawatch_build_info or vector(1e3) and time() - x:recorded:rule > bool 2';
    expect(metricNames(expr).sort()).toEqual(['kawatch_build_info', 'keepalived_advertisements_received_total', 'x:recorded:rule']);
  });
  it('reads label_join and topk arguments', () => {
    expect(metricNames('topk(20, label_join(max by (a) (ipvs_backend_weight{}), "v", " ", "a", "b"))')).toEqual(['ipvs_backend_weight']);
  });
});

describe('parseVariableOverrides', () => {
  it('splits comma-separated values', () => {
    expect(parseVariableOverrides(['job=mehdy', 'instance=a:1,b:2'])).toEqual(
      new Map([
        ['job', ['mehdy']],
        ['instance', ['a:1', 'b:2']],
      ]),
    );
  });
  it('says what is wrong with a spec without a name', () => {
    expect(() => parseVariableOverrides(['=x'])).toThrow(/--var "=x": expected NAME=VALUE/);
  });
});

describe('formatResults', () => {
  const query = (title: string) => ({ dashboard: 'd', panelId: 1, title, refId: 'A', expr: 'up{a="$a"}', markers: { needs: new Map() } });
  const results: QueryResult[] = [
    { query: query('fine'), sent: 'up', outcome: 'data', series: 2 },
    { query: query('hollow'), sent: 'up{a="b"}', outcome: 'empty', series: 0, detail: 'no series' },
    { query: query('later'), sent: 'up', outcome: 'event-only', series: 0, detail: 'after actions' },
    { query: query('elsewhere'), outcome: 'skipped', series: 0, detail: 'needs ipvs: the collector' },
  ];
  it('counts failures and shows the PromQL that was sent for each', () => {
    expect(failures(results).map((r) => r.query.title)).toEqual(['hollow']);
    const text = formatResults(results);
    expect(text).toContain('FAIL d / #1 hollow [A]: empty: no series\n      up{a="b"}');
    expect(text).toContain('ok   d / #1 elsewhere [A]: skipped: needs ipvs: the collector');
    expect(text).toMatch(/4 queries: 1 with data, 1 event-only without data, 1 skipped, 1 empty, 0 errors$/);
  });
});
