import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { packageRoot } from '../version.js';
import { checkDashboard, failures, formatResults, type QueryResult } from './check.js';
import type { Dashboard } from './dashboard.js';

interface CheckCommandOptions {
  prometheus: string;
  var: string[];
  without: string[];
  interval: string;
  rateInterval: string;
  range: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `name=a,b` → name → [a, b]. */
export function parseVariableOverrides(specs: readonly string[]): Map<string, string[]> {
  const overrides = new Map<string, string[]>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new Error(`--var ${JSON.stringify(spec)}: expected NAME=VALUE[,VALUE...]`);
    overrides.set(spec.slice(0, eq), spec.slice(eq + 1).split(','));
  }
  return overrides;
}

/** The dashboards shipped with kawatch: every JSON file of its dashboards/ directory. */
export async function shippedDashboards(): Promise<string[]> {
  const dir = join(packageRoot(), 'dashboards');
  return (await readdir(dir)).filter((f) => f.endsWith('.json')).sort().map((f) => join(dir, f));
}

export async function readDashboard(file: string): Promise<Dashboard> {
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text) as Dashboard;
  } catch (err) {
    throw new Error(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

async function runCheck(files: string[], opts: CheckCommandOptions): Promise<number> {
  const options = {
    prometheus: opts.prometheus,
    builtins: { interval: opts.interval, rateInterval: opts.rateInterval, range: opts.range },
    overrides: parseVariableOverrides(opts.var),
    without: new Set(opts.without),
  };
  const results: QueryResult[] = [];
  for (const file of files.length > 0 ? files : await shippedDashboards()) results.push(...(await checkDashboard(await readDashboard(file), options)));
  process.stdout.write(opts.json ? `${JSON.stringify(results, (k, v: unknown) => (k === 'needs' && v instanceof Map ? Object.fromEntries(v) : v))}\n` : `${formatResults(results)}\n`);
  return failures(results).length === 0 ? 0 : 1;
}

export function registerDashboardCommands(program: Command): void {
  program
    .command('dashboards')
    .description('the Grafana dashboards')
    .command('check')
    .description('run every panel query of the dashboards (default: those shipped with kawatch) against Prometheus, variables substituted; exits 1 when a query returns nothing or fails')
    .argument('[files...]', 'dashboard JSON files')
    .requiredOption('--prometheus <url>', 'Prometheus base URL, e.g. http://127.0.0.1:9090')
    .option('--var <name=value>', 'value(s) of a dashboard variable, comma-separated; repeatable (default: every value, as "All")', collect, [])
    .option('--without <capability>', 'skip panels that need this (kawatch, mail, ipvs, ipvs-netlink, ipvs-backend-rates, checker, sorry-server); repeatable', collect, [])
    .option('--interval <duration>', 'value of $__interval', '15s')
    .option('--rate-interval <duration>', 'value of $__rate_interval', '1m')
    .option('--range <duration>', 'the time range ($__range)', '1h')
    .option('--json', 'print the results as JSON')
    .action(async (files: string[], opts: CheckCommandOptions) => {
      try {
        process.exitCode = await runCheck(files, opts);
      } catch (err) {
        process.stderr.write(`kawatch dashboards check: ${(err as Error).message}\n`);
        process.exitCode = 2;
      }
    });
}
