import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MEHDY_METRICS, metricNames } from '../../src/dashboards/dashboard.js';
import { knownMetrics } from '../support/known-metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const alertsDir = join(root, 'alerts');
const rulesFile = join(alertsDir, 'kawatch.rules.yml');
const testsDir = join(alertsDir, 'tests');
const testFiles = readdirSync(testsDir).filter((f) => f.endsWith('.yml')).sort();
const alertmanagerExample = join(alertsDir, 'alertmanager.example.yml');
const runbooks = readFileSync(join(root, 'docs/runbooks.md'), 'utf8');

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: unknown[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: { input_series: { series: string }[]; alert_rule_test?: RuleTest[] }[];
}

const rules = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);
const alertNames = rules.map((r) => r.alert);
const ruleTests = testFiles.map((f) => [f, parse(readFileSync(join(testsDir, f), 'utf8')) as RuleTestFile] as const);

/** Metrics a rule may query: everything kawatch exports, and Prometheus' own `up`. */
const queryable = new Set([...knownMetrics(), 'up']);

/** The anchors GitHub gives a Markdown file's headings: lowercased, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** https://github.com/OWNER/REPO/blob/main/docs/runbooks.md#, from package.json's repository. */
function runbookBase(): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { repository?: { url?: string } };
  const repo = /^https:\/\/github\.com\/([^/]+\/[^/]+?)(?:\.git)?$/.exec(pkg.repository?.url ?? '');
  if (!repo) throw new Error(`package.json: repository.url ${JSON.stringify(pkg.repository?.url)} is not a GitHub https URL`);
  return `https://github.com/${repo[1]}/blob/main/docs/runbooks.md#`;
}

describe('headingAnchors', () => {
  it('follows GitHub: punctuation dropped, underscores kept, repeats numbered, fenced code ignored', () => {
    const anchors = headingAnchors('# Runbooks for kawatch\n## Mismatched virtual_router_id\n## A (b) c!\n```\n# not a heading\n```\n## A (b) c!\n');
    expect([...anchors]).toEqual(['runbooks-for-kawatch', 'mismatched-virtual_router_id', 'a-b-c', 'a-b-c-1']);
  });
});

describe('alert rules', () => {
  const anchors = headingAnchors(runbooks);
  const base = runbookBase();

  it('are all alerts, uniquely named in CamelCase with the one Keepalived prefix', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) expect(r.alert, JSON.stringify(r)).toMatch(/^Keepalived(?:[A-Z][a-z0-9]*)+$/);
    expect(new Set(alertNames).size).toBe(alertNames.length);
  });

  it.each(rules.map((r) => [r.alert, r] as const))('%s has a severity, a summary, a description and a runbook section', (_name, r) => {
    expect(['critical', 'warning', 'info']).toContain(r.labels?.severity);
    expect(r.annotations?.summary?.trim()).toBeTruthy();
    expect(r.annotations?.description?.trim()).toBeTruthy();
    const url = r.annotations?.runbook_url ?? '';
    expect(url.startsWith(base), `${url} should start with ${base}`).toBe(true);
    expect(anchors.has(url.slice(base.length)), `docs/runbooks.md has no heading for #${url.slice(base.length)}`).toBe(true);
  });

  it.each(rules.map((r) => [r.alert, r] as const))('%s queries only metrics kawatch exports', (_name, r) => {
    const names = metricNames(r.expr);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !queryable.has(n))).toEqual([]);
  });

  it('each have a runbook section, and the runbooks describe no alert that does not exist', () => {
    const sections = [...runbooks.matchAll(/^## (Keepalived\w+)\s*$/gm)].map((m) => m[1]);
    expect(sections.sort()).toEqual([...alertNames].sort());
  });

  it("every link inside the runbooks leads to one of their headings", () => {
    const broken = [...runbooks.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!).filter((a) => !anchors.has(a));
    expect(broken).toEqual([]);
  });

  it('are listed in the README with their severity', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const listed = new Map([...readme.matchAll(/^\| `(Keepalived\w+)` \| (\w+) \|/gm)].map((m) => [m[1]!, m[2]!]));
    expect(Object.fromEntries(listed)).toEqual(Object.fromEntries(rules.map((r) => [r.alert, r.labels?.severity])));
  });
});

describe('rule tests (alerts/tests)', () => {
  const cases = ruleTests.flatMap(([, t]) => t.tests.flatMap((group) => group.alert_rule_test ?? []));

  it('load the shipped rules', () => {
    for (const [file, t] of ruleTests) expect(t.rule_files, file).toEqual(['../kawatch.rules.yml']);
  });

  it.each(alertNames)('%s has a case where it fires and one where it does not', (name) => {
    const mine = cases.filter((c) => c.alertname === name);
    expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), 'a firing case').toBe(true);
    expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), 'a quiet case').toBe(true);
  });

  it('test only alerts that exist', () => {
    expect(cases.filter((c) => !alertNames.includes(c.alertname)).map((c) => c.alertname)).toEqual([]);
  });

  it('show the cross-director VRRP rules working on mehdy/keepalived-exporter alone', () => {
    for (const name of ['KeepalivedDualMaster', 'KeepalivedNoMaster']) {
      expect(metricNames(rules.find((r) => r.alert === name)!.expr).filter((m) => !MEHDY_METRICS.includes(m)), name).toEqual([]);
    }
    const mehdy = ruleTests.find(([f]) => f === 'mehdy.test.yml')?.[1];
    expect(mehdy).toBeDefined();
    const fed = mehdy!.tests.flatMap((g) => g.input_series.map((s) => /^[\w:]+/.exec(s.series)![0]));
    expect(fed.filter((m) => !MEHDY_METRICS.includes(m))).toEqual([]);
    expect(mehdy!.tests.flatMap((g) => g.alert_rule_test ?? []).some((c) => c.alertname === 'KeepalivedDualMaster' && (c.exp_alerts ?? []).length > 0)).toBe(true);
  });

  it('include a healthy cluster that feeds every rule and where nothing fires', () => {
    const healthy = ruleTests.find(([f]) => f === 'healthy.test.yml')?.[1];
    expect(healthy).toBeDefined();
    const series = new Set(healthy!.tests.flatMap((g) => g.input_series.map((s) => /^[\w:]+/.exec(s.series)![0])));
    // A metric the healthy cluster does not have would let its rule stay quiet for no reason.
    expect([...new Set(rules.flatMap((r) => metricNames(r.expr)))].filter((m) => !series.has(m))).toEqual([]);
    const quiet = healthy!.tests.flatMap((g) => g.alert_rule_test ?? []);
    expect(quiet.every((c) => (c.exp_alerts ?? []).length === 0)).toBe(true);
    expect(new Set(quiet.map((c) => c.alertname))).toEqual(new Set(alertNames));
  });
});

describeWithPrereqs('alert rules with promtool', { commands: ['promtool'] }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'kawatch-alerts-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('pass promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', rulesFile]);
    expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('pass every promtool unit test', { timeout: 120_000 }, async () => {
    const { stdout } = await run('promtool', ['test', 'rules', ...testFiles.map((f) => join(testsDir, f))]);
    expect(stdout.match(/SUCCESS/g)?.length).toBe(testFiles.length);
  });

  // The unit tests must catch the regressions they are there for: each mutation breaks one rule.
  it.each([
    ['KeepalivedDualMaster', 'a VRID reused on another segment', 'count by (vrid, ip_address, instance) (keepalived_vrrp_state == 2)', 'count by (vrid, instance) (keepalived_vrrp_state == 2)'],
    ['KeepalivedNoMaster', 'a MASTER that is only unscraped', 'rate(keepalived_advertisements_received_total[2m])) > 0)', 'rate(keepalived_advertisements_received_total[2m])) > 1e9)'],
    ['KeepalivedSplitBrain', 'a split brain not lasting yet', 'expr: kawatch_split_brain == 1\n        for: 30s', 'expr: kawatch_split_brain == 1\n        for: 0s'],
    ['KeepalivedAdvertsNotReceived', 'a split just healed', '< 0.8\n        for: 15m', '< 0.8\n        for: 5m'],
  ])('the VRRP tests catch %s broken for %s', { timeout: 120_000 }, async (name, _case, original, mutated) => {
    const text = readFileSync(rulesFile, 'utf8');
    expect(text).toContain(original);
    const dir = mkdtempSync(join(scratch, 'mutant-'));
    writeFileSync(join(dir, 'kawatch.rules.yml'), text.replace(original, mutated));
    cpSync(join(testsDir, 'vrrp.test.yml'), join(dir, 'tests/vrrp.test.yml'));
    const failure = await run('promtool', ['test', 'rules', join(dir, 'tests/vrrp.test.yml')]).then(
      () => undefined,
      (err: { stdout: string; stderr: string }) => `${err.stdout}${err.stderr}`,
    );
    expect(failure, `promtool accepted ${name} mutated`).toBeDefined();
    expect(failure).toContain(`alertname: ${name},`);
  });
});

describeWithPrereqs('example Alertmanager configuration', { commands: ['amtool'] }, () => {
  it('passes amtool check-config', async () => {
    const { stdout } = await run('amtool', ['check-config', alertmanagerExample]);
    expect(stdout).toContain('SUCCESS');
  });

  it.each(['critical', 'warning', 'info'])('routes %s alerts to an email receiver', async (severity) => {
    const config = parse(readFileSync(alertmanagerExample, 'utf8')) as { receivers: { name: string; email_configs?: { to: string }[] }[] };
    const { stdout } = await run('amtool', ['config', 'routes', 'test', `--config.file=${alertmanagerExample}`, `severity=${severity}`, 'alertname=KeepalivedSplitBrain']);
    const receiver = config.receivers.find((r) => r.name === stdout.trim());
    expect(receiver, `routed to ${stdout.trim()}`).toBeDefined();
    expect(receiver!.email_configs?.length).toBeGreaterThan(0);
  });

  it('sends critical, warning and info alerts to three different receivers', async () => {
    const routed = await Promise.all(
      ['critical', 'warning', 'info'].map(async (severity) => (await run('amtool', ['config', 'routes', 'test', `--config.file=${alertmanagerExample}`, `severity=${severity}`])).stdout.trim()),
    );
    expect(new Set(routed).size).toBe(3);
  });
});
