/**
 * The alert rules and the dashboards against the real thing: Debian's Prometheus scrapes both lab
 * directors and evaluates alerts/*.rules.yml, Debian's Alertmanager mails the lab's SMTP recorder,
 * and every panel query of every dashboard must return data from that Prometheus.
 *
 * The rules run with their `for:` durations shortened to FOR_IN_LAB (see shortenRuleDurations),
 * so that a split is seen in seconds; the production durations are what promtool's unit tests of
 * the rules exercise.
 *
 * The host kernel has no IPVS, so a third director joins the lab's Prometheus: an LVS-only one,
 * a kawatch daemon reading a generated /proc/net/ip_vs and a keepalived that runs only its
 * health checkers, whose lines it gets through its FIFO. Its series feed the IPVS dashboard and
 * the IPVS rules.
 *
 * A second Prometheus (no rules) scrapes the lab directors through a filter that keeps only
 * mehdy/keepalived-exporter's metrics: the overview's core must work from those alone.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { checkDashboard, failures, formatResults, type QueryResult } from '../../src/dashboards/check.js';
import { readDashboard, shippedDashboards } from '../../src/dashboards/cli.js';
import { durationSeconds, MEHDY_METRICS } from '../../src/dashboards/dashboard.js';
import { parseIpVs } from '../../src/ipvs/procfs.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { readRecordedMail, type RecordedMail } from '../mail/support.js';
import { useLab, type LabHandle } from '../support/lab.js';
import { freePort } from '../support/net.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { activeAlerts, instantQuery, ruleGroups, scrapeTargets, startAlertmanager, startPrometheus, startServer, type PromAlert, type Server } from '../support/prometheus.js';
import { waitFor } from '../support/wait.js';

const PREFIX = 'kwtalert';
const FOR_IN_LAB = '3s';
const SPLIT_ALERTS = ['KeepalivedSplitBrain', 'KeepalivedDualMaster'];
const LVS_ALERTS = ['KeepalivedRealServerDown', 'KeepalivedVirtualServiceNoBackend'];
const ALERTMANAGER_FROM = `alertmanager@${PREFIX}.test`;
/** Generous: the machine is shared, and Prometheus, Alertmanager and the SMTP recorder each add a hop. */
const ALERT_TIMEOUT_MS = 90_000;
const root = new URL('../../', import.meta.url).pathname;
const cli = join(root, 'dist/src/cli/main.js');
const genIpvsProc = join(root, 'scripts/gen-ipvs-proc');
const artifacts = join(root, 'test-artifacts/alerting-lab');
const run = promisify(execFile);

/**
 * The repository's rule files with every `for:` shortened to `duration` — but never below the
 * longest range the expression looks back over (`[10m]`, `offset 30m`): there `for:` is what rides
 * out a transient the window still sees (a director just started, a split just healed), and
 * shortening it would change what the rule says. `keep_firing_for` is dropped.
 */
function shortenRuleDurations(text: string, duration: string): string {
  const rules = parse(text) as { groups: { rules: { expr: string; for?: string; keep_firing_for?: string }[] }[] };
  for (const rule of rules.groups.flatMap((g) => g.rules)) {
    delete rule.keep_firing_for;
    if (rule.for === undefined) continue;
    const lookback = Math.max(0, ...[...rule.expr.matchAll(/\[(\w+)(?::\w*)?\]|offset\s+(\w+)/g)].map((m) => durationSeconds((m[1] ?? m[2])!)));
    const seconds = Math.min(durationSeconds(rule.for), Math.max(durationSeconds(duration), lookback));
    rule.for = `${seconds}s`;
  }
  return stringify(rules);
}

let lab: LabHandle;
let dir: string;
let rulesFiles: string[];
const servers: Server[] = [];
let prometheus: Server;
let compat: Server;
let ipvsDaemon: Server;
/** The LVS-only director's generated table, its FIFO, and the service its checker lines are about. */
let lvs: { table: string; fifo: string; vs: string; realServers: string[] };
let failed = false;

const target = (api: string) => new URL(api).host;
/** Servers are stopped in afterAll, whatever happened. */
const tracked = (server: Server) => (servers.push(server), server);
/** Logs, configurations and recorded mail; not the TSDBs, the generated table, FIFOs, or the peer secret and keepalived.conf (VRRP password). */
const keptOnFailure = (from: string) => (src: string) => {
  const path = `/${relative(from, src)}`;
  return !/\/(data|ipvs-proc|spool|state|tmp|track)(\/|$)/.test(path) && !/(\.fifo|\.pid|peer\.secret|keepalived\.conf)$/.test(path);
};
const firing = (alerts: PromAlert[], name: string) => alerts.filter((a) => a.labels.alertname === name && a.state === 'firing');
const mailFromAlertmanager = async (since: number) =>
  (await readRecordedMail(lab.info.mail)).filter((m) => m.envelope.mailFrom === ALERTMANAGER_FROM && Date.parse(m.envelope.receivedAt) >= since);

/** Waits until Alertmanager has mailed, since `since`, a notification of `status` naming each alert; returns those mails. */
function notified(since: number, names: string[], status: 'FIRING' | 'RESOLVED'): Promise<RecordedMail[]> {
  return waitFor(
    async () => {
      const mails = (await mailFromAlertmanager(since)).filter((m) => m.subject.startsWith(`[${status}`));
      return names.every((name) => mails.some((m) => m.subject.includes(name))) && mails;
    },
    `Alertmanager's ${status} mail for ${names.join(' and ')}`,
    ALERT_TIMEOUT_MS,
  );
}

function prometheusConfig(body: object): string {
  return stringify({ global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' }, ...body });
}

/**
 * An LVS-only director on loopback: kawatch reading a generated /proc/net/ip_vs, where pid 4242 is
 * keepalived (running its checkers only, no VRRP), its FIFO fed that keepalived's checker lines.
 */
async function startIpvsDaemon(): Promise<Server> {
  const procfs = join(dir, 'ipvs-proc');
  await run('python3', [genIpvsProc, procfs, '20', '4', '7']);
  mkdirSync(join(procfs, '4242'));
  writeFileSync(join(procfs, '4242/stat'), '4242 (keepalived) S 1 4242 4242 0 -1 4194560 164 0 0 0 0 0 0 0 20 0 1 0 1234 12345678 1234 18446744073709551615\n');
  writeFileSync(join(dir, 'lvs-keepalived.pid'), '4242\n');
  const port = await freePort();
  const fifo = join(dir, 'lvs.fifo');
  const config = join(dir, 'ipvs-kawatch.yml');
  // The first IPv4 TCP service declares a sorry server, not in the table while its real servers are up.
  const [first] = parseIpVs(readFileSync(join(procfs, 'net/ip_vs'), 'utf8'), 'ip_vs').services.filter((s) => s.protocol === 'TCP' && s.family === 4);
  const keepalivedConf = join(dir, 'lvs-keepalived.conf');
  writeFileSync(keepalivedConf, `virtual_server ${first!.address} ${first!.port} {\n    sorry_server 192.0.2.99 ${first!.port}\n}\n`);
  writeFileSync(
    config,
    stringify({
      node_name: 'lvs1',
      listen: `127.0.0.1:${port}`,
      procfs,
      state_dir: join(dir, 'ipvs-state'),
      keepalived: { pid_file: join(dir, 'lvs-keepalived.pid'), config_file: keepalivedConf },
      sources: { hook: { spool_dir: join(dir, 'ipvs-spool') }, fifo: { enabled: true, paths: [fifo] }, netlink: { enabled: false }, dump: { enabled: false } },
      jobs: { digest: false, audit: false },
      ipvs: { path: 'procfs' },
    }),
  );
  const server = tracked(await startServer('kawatch (IPVS from procfs)', [process.execPath, cli, 'run', '--config', config], join(dir, 'ipvs-kawatch.log'), `http://127.0.0.1:${port}`, '/healthz'));
  // keepalived's own formats (FMT_RS, FMT_VS) for the first IPv4 TCP service; all up, as on a healthy lab.
  const table = join(procfs, 'net/ip_vs');
  const [service] = parseIpVs(readFileSync(table, 'utf8'), 'ip_vs').services.filter((s) => s.protocol === 'TCP' && s.family === 4);
  lvs = { table, fifo, vs: `[${service!.address}]:tcp:${service!.port}`, realServers: service!.destinations.map((d) => `[${d.address}]:tcp:${d.port}`) };
  reportChecks('UP');
  await waitFor(async () => (await (await fetch(`${server.url}/metrics`)).text()).includes('ipvs_backend_checker_up{'), 'checker verdicts next to the IPVS series', 30_000);
  return server;
}

/** keepalived's checker lines for every real server of the LVS-only director's first service, and its quorum. */
function reportChecks(verdict: 'UP' | 'DOWN'): void {
  writeFileSync(lvs.fifo, [...lvs.realServers.map((rs) => `RS ${rs} ${lvs.vs} ${verdict}`), `VS ${lvs.vs} ${verdict}`, ''].join('\n'));
}

/** /proc/net/ip_vs with every real server of the first IPv4 TCP service at weight 0, as keepalived leaves them when all fail. */
function withFirstServiceDrained(text: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^TCP {2}[0-9A-F]{8}:/.test(l));
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith('  -> '); i++) lines[i] = lines[i]!.replace(/^(\s+->\s+\S+\s+\S+\s+)\d+/, (_m, head: string) => `${head}0`);
  return lines.join('\n');
}

function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.new`, text);
  renameSync(`${file}.new`, file);
}

async function checkAll(against: Server, files: string[], without: string[], overrides: [string, string[]][] = []): Promise<QueryResult[]> {
  const options = { prometheus: against.url, builtins: { interval: '15s', rateInterval: '1m', range: '1h' }, overrides: new Map(overrides), without: new Set(without) };
  const results: QueryResult[] = [];
  for (const file of files) results.push(...(await checkDashboard(await readDashboard(file), options)));
  return results;
}

/** Every panel of every dashboard: kawatch's full metrics (the IPVS table from procfs), then the mehdy-only view through the second Prometheus. */
async function checkDashboards(when: string): Promise<void> {
  const [ipvs, overview, watchdog] = await shippedDashboards();
  expect([ipvs, overview, watchdog].map((f) => basename(f!))).toEqual(['kawatch-ipvs.json', 'kawatch-overview.json', 'kawatch-watchdog.json']);
  const runs: [string, QueryResult[]][] = [
    ['kawatch, IPVS read through procfs', await checkAll(prometheus, [overview!, watchdog!, ipvs!], ['ipvs-netlink'])],
    ['mehdy/keepalived-exporter metrics only', await checkAll(compat, [overview!], ['kawatch', 'mail'], [['job', ['mehdy']]])],
  ];
  for (const [what, results] of runs) {
    console.log(`dashboards, ${when}, ${what}:\n${formatResults(results)}`);
    expect(failures(results), `${what}:\n${formatResults(failures(results))}`).toEqual([]);
    expect(results.filter((r) => r.outcome === 'data').length, what).toBeGreaterThan(5);
  }
  // The mehdy view skips exactly the panels that need kawatch, and still shows the state matrix and the transitions.
  const mehdy = runs[1]![1];
  expect(mehdy.filter((r) => r.outcome === 'skipped').every((r) => r.query.markers.needs.has('kawatch'))).toBe(true);
  for (const title of ['State matrix: VRRP instance × director', 'MASTERs per VRRP instance', 'VRRP state changes', 'Exporter']) {
    expect(mehdy.find((r) => r.query.title === title)?.outcome, title).toBe('data');
  }
}

describeWithPrereqs(
  'alert rules and dashboards against a real Prometheus and Alertmanager (lab)',
  { root: true, commands: ['keepalived', 'nft', 'ip', 'prometheus', 'prometheus-alertmanager', 'promtool', 'python3'], files: [cli, genIpvsProc] },
  () => {
    lab = useLab(PREFIX);
    beforeEach(({ onTestFailed }) => {
      onTestFailed(() => {
        failed = true;
      });
    });

    beforeAll(async () => {
      try {
        dir = mkdtempSync(join(tmpdir(), 'kawatch-alerting-'));
        const alertsDir = join(root, 'alerts');
        rulesFiles = readdirSync(alertsDir).filter((f) => f.endsWith('.rules.yml'));
        mkdirSync(join(dir, 'rules'));
        for (const f of rulesFiles) writeFileSync(join(dir, 'rules', f), shortenRuleDurations(readFileSync(join(alertsDir, f), 'utf8'), FOR_IN_LAB));

        const [promPort, compatPort, amPort] = [await freePort(), await freePort(), await freePort()];
        await startAlertmanager(
          join(dir, 'alertmanager'),
          amPort,
          stringify({
            global: { smtp_smarthost: lab.info.smtp, smtp_from: ALERTMANAGER_FROM, smtp_require_tls: false },
            route: { receiver: 'ops', group_by: ['alertname'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
            receivers: [{ name: 'ops', email_configs: [{ to: `ops@${PREFIX}.test`, send_resolved: true }] }],
          }),
        ).then(tracked);
        const directors = lab.info.nodes.map((n) => target(n.api));
        ipvsDaemon = await startIpvsDaemon();
        prometheus = await startPrometheus(
          join(dir, 'prometheus'),
          promPort,
          prometheusConfig({
            rule_files: [join(dir, 'rules', '*.yml')],
            alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
            scrape_configs: [{ job_name: 'kawatch', static_configs: [{ targets: [...directors, target(ipvsDaemon.url)] }] }],
          }),
        ).then(tracked);
        compat = await startPrometheus(
          join(dir, 'compat'),
          compatPort,
          prometheusConfig({
            scrape_configs: [
              { job_name: 'mehdy', static_configs: [{ targets: directors }], metric_relabel_configs: [{ source_labels: ['__name__'], regex: MEHDY_METRICS.join('|'), action: 'keep' }] },
            ],
          }),
        ).then(tracked);
      } catch (err) {
        failed = true;
        throw err;
      }
    });

    afterAll(async () => {
      await Promise.all(servers.map((s) => s.stop()));
      if (failed && dir) {
        mkdirSync(artifacts, { recursive: true });
        cpSync(dir, artifacts, { recursive: true, filter: keptOnFailure(dir) });
        if (lab.info) cpSync(lab.info.dir, join(artifacts, 'lab'), { recursive: true, filter: keptOnFailure(lab.info.dir) });
        console.log(`logs and configurations kept in ${artifacts}`);
      } else if (existsSync(artifacts)) {
        rmSync(artifacts, { recursive: true, force: true });
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('loads the repository rule files, split-brain rules included', async () => {
      expect(rulesFiles.length).toBeGreaterThan(0);
      const groups = await waitFor(async () => {
        const g = await ruleGroups(prometheus.url);
        return g.length > 0 && g;
      }, 'rule groups loaded');
      const names = groups.flatMap((g) => g.rules.map((r) => r.name));
      expect(names).toEqual(expect.arrayContaining(SPLIT_ALERTS));
      expect(names.every((n) => n.startsWith('Keepalived'))).toBe(true);
    });

    it('fires no alert on a healthy lab, once every director is scraped and the rules evaluated a few rounds', async () => {
      await waitFor(async () => {
        const targets = await scrapeTargets(prometheus.url);
        return targets.length === 3 && targets.every((t) => t.health === 'up');
      }, 'both lab directors and the LVS-only one scraped', ALERT_TIMEOUT_MS);
      const after = Date.now() + 5000;
      await waitFor(async () => (await ruleGroups(prometheus.url)).every((g) => Date.parse(g.lastEvaluation) > after), 'five more rounds of rule evaluation', ALERT_TIMEOUT_MS);
      const groups = await ruleGroups(prometheus.url);
      expect(groups.flatMap((g) => g.rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`))).toEqual([]);
      const alerts = await activeAlerts(prometheus.url);
      expect(alerts.filter((a) => a.state === 'firing').map((a) => JSON.stringify(a.labels))).toEqual([]);
      expect(await mailFromAlertmanager(0)).toEqual([]);
      const masters = await instantQuery(prometheus.url, 'count by (iname) (keepalived_vrrp_instance_state == 2)');
      expect(masters.map((s) => [s.metric.iname, s.value[1]]).sort()).toEqual([
        ['VI_1', '1'],
        ['VI_2', '1'],
      ]);
    });

    it('has data for every panel of every dashboard on the healthy lab', async () => {
      await checkDashboards('healthy lab');
    });

      // Event-only on a healthy lab: actions taken by the watchdog, VIPs missing on a MASTER, drill failures.
    it('`kawatch dashboards check` passes on this Prometheus, and fails a panel without data or with a broken query', async () => {
      const ok = await run(process.execPath, [cli, 'dashboards', 'check', '--prometheus', prometheus.url, '--without', 'ipvs-netlink']);
      expect(ok.stdout).toMatch(/^\d+ queries: \d+ with data, 3 event-only without data, 8 skipped, 0 empty, 0 errors$/m);

      const broken = join(dir, 'broken.json');
      const panel = (id: number, expr: string) => ({ id, type: 'stat', title: `panel ${id}`, datasource: { type: 'prometheus', uid: '${datasource}' }, targets: [{ refId: 'A', expr }] });
      writeFileSync(
        broken,
        JSON.stringify({
          title: 'broken',
          templating: { list: [{ name: 'instance', type: 'query', multi: true, includeAll: true, query: 'label_values(keepalived_up, instance)' }] },
          panels: [panel(1, 'keepalived_up{instance=~"$instance"}'), panel(2, 'keepalived_no_such_metric'), panel(3, 'sum(keepalived_up'), panel(4, 'keepalived_up{node="$node"}')],
        }),
      );
      const failing = await run(process.execPath, [cli, 'dashboards', 'check', '--prometheus', prometheus.url, broken]).then(
        () => undefined,
        (err: { code: number; stdout: string }) => err,
      );
      expect(failing?.code).toBe(1);
      const lines = failing!.stdout.split('\n');
      expect(lines.find((l) => l.includes('#1 '))).toMatch(/^ok +broken \/ #1 panel 1 \[A\]: data \(3 series\)$/);
      expect(lines.find((l) => l.includes('#2 '))).toMatch(/^FAIL broken \/ #2 panel 2 \[A\]: empty: no series$/);
      expect(lines.find((l) => l.includes('#3 '))).toMatch(/^FAIL broken \/ #3 panel 3 \[A\]: error: .*parse error/);
      expect(lines.find((l) => l.includes('#4 '))).toMatch(/^FAIL broken \/ #4 panel 4 \[A\]: error: the query refers to \$node, which the dashboard does not define$/);
    });

    it('serves IPVS metrics that promtool accepts, from the daemon reading the synthetic table', async () => {
      // The lab directors' live output is checked by test/daemon/pipeline.lab.test.ts; this one adds the IPVS families.
      const text = await (await fetch(`${ipvsDaemon.url}/metrics`)).text();
      expect(text).toMatch(/^ipvs_backend_weight\{/m);
      const check = run('promtool', ['check', 'metrics']);
      check.child.stdin!.end(text);
      const { stdout, stderr } = await check;
      expect(`${stdout}${stderr}`.trim()).toBe('');
    });

    it('after `lab split`: both split-brain alerts fire in Prometheus and Alertmanager mails them', async () => {
      const since = Date.now();
      await labSplit({ prefix: PREFIX, link: 'primary' });
      // Every VRRP instance is split, so each alert ends up firing for both: KeepalivedSplitBrain per
      // instance (as each director reports it), KeepalivedDualMaster per MASTER director.
      const labelsFiring = (a: PromAlert[], name: string, label: string) => [...new Set(firing(a, name).map((x) => x.labels[label]))].sort().join();
      const directors = lab.info.nodes.map((n) => target(n.api)).sort().join();
      await waitFor(
        async () => {
          const a = await activeAlerts(prometheus.url);
          return labelsFiring(a, 'KeepalivedSplitBrain', 'iname') === 'VI_1,VI_2' && labelsFiring(a, 'KeepalivedDualMaster', 'instance') === directors;
        },
        `${SPLIT_ALERTS.join(' and ')} firing for VI_1 and VI_2 on both directors`,
        ALERT_TIMEOUT_MS,
      );

      const mails = await notified(since, SPLIT_ALERTS, 'FIRING');
      const splitMail = mails.find((m) => m.subject.includes('KeepalivedSplitBrain'))!;
      expect(splitMail.envelope.rcptTo).toEqual([`ops@${PREFIX}.test`]);
      expect(splitMail.text).toContain('Split brain on VRRP instance');
    });

    it('has data for every panel of every dashboard during the split', async () => {
      await checkDashboards('split');
    });

    it('after `lab heal`: the split-brain alerts resolve, and Alertmanager mails that they did', async () => {
      const since = Date.now();
      await labHeal({ prefix: PREFIX });
      await waitFor(
        async () => {
          const a = await activeAlerts(prometheus.url);
          return a.every((x) => !SPLIT_ALERTS.includes(x.labels.alertname!));
        },
        'no split-brain alert pending or firing',
        ALERT_TIMEOUT_MS,
      );
      await notified(since, SPLIT_ALERTS, 'RESOLVED');
      const others = (await activeAlerts(prometheus.url)).filter((a) => a.state === 'firing');
      if (others.length > 0) console.log(`still firing after the heal (not split-brain alerts): ${others.map((a) => `${a.labels.alertname} ${a.labels.instance ?? ''}`).join(', ')}`);
    });

    it('after every real server of a service fails its check: the LVS alerts fire and are mailed, and resolve once they are back', async () => {
      const since = Date.now();
      const healthy = readFileSync(lvs.table, 'utf8');
      writeAtomically(lvs.table, withFirstServiceDrained(healthy));
      reportChecks('DOWN');
      const alerts = await waitFor(
        async () => {
          const a = await activeAlerts(prometheus.url);
          return firing(a, 'KeepalivedRealServerDown').length === lvs.realServers.length && firing(a, 'KeepalivedVirtualServiceNoBackend').length === 1 && a;
        },
        `${LVS_ALERTS.join(' and ')} firing for ${lvs.vs}`,
        ALERT_TIMEOUT_MS,
      );
      expect(firing(alerts, 'KeepalivedRealServerDown').map((a) => a.labels.virtual_server)).toEqual(lvs.realServers.map(() => lvs.vs));
      expect(`[${firing(alerts, 'KeepalivedVirtualServiceNoBackend')[0]!.labels.local_address}]:tcp:${firing(alerts, 'KeepalivedVirtualServiceNoBackend')[0]!.labels.local_port}`).toBe(lvs.vs);
      await notified(since, LVS_ALERTS, 'FIRING');

      const backAt = Date.now();
      writeAtomically(lvs.table, healthy);
      reportChecks('UP');
      await notified(backAt, LVS_ALERTS, 'RESOLVED');
      expect((await activeAlerts(prometheus.url)).filter((a) => LVS_ALERTS.includes(a.labels.alertname!))).toEqual([]);
    });
  },
);
