import { Option, type Command } from 'commander';
import { CommandError } from '../core/exec.js';
import { WaitTimeout } from '../core/wait.js';
import { LabError } from './system.js';
import type { LabInfo } from './state.js';
import type { LabDownResult, LabStatus } from './lifecycle.js';
import type { SplitLink, SplitState } from './split.js';
import { DEFAULT_DIRECTORS, DEFAULT_PREFIX, LAB_DIRECTOR_COUNTS, LAB_POLICIES, PRIMARY_IFNAME, SECONDARY_IFNAME, type LabDirectorCount, type LabPolicy } from './plan.js';

interface CommonOptions {
  prefix: string;
  json?: boolean;
}

function withCommonOptions(command: Command): Command {
  return command
    .option('--prefix <name>', 'names the lab: its namespaces, host links and directory', DEFAULT_PREFIX)
    .option('--json', 'print one JSON object on stdout');
}

/** The command line that reaches the same lab again. */
function labCommand(prefix: string, sub: string): string {
  return `kawatch lab ${sub}${prefix === DEFAULT_PREFIX ? '' : ` --prefix ${prefix}`}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => `  ${r.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd()}`).join('\n');
}

function formatUp(info: LabInfo, masters: Record<string, string[]>, seconds: number): string {
  const instancesLedBy = (node: string) =>
    Object.entries(masters)
      .filter(([, nodes]) => nodes.includes(node))
      .map(([name]) => `${name} (${info.vips[name]})`)
      .join(', ') || '-';
  const [first] = info.nodes;
  return [
    `lab "${info.prefix}" is up in ${seconds.toFixed(1)} s (watchdog policy: ${info.policy})`,
    '',
    table([['node', 'namespace', 'API', 'primary', 'secondary', 'MASTER of'], ...info.nodes.map((n) => [n.name, n.netns, n.api, n.primary, n.secondary, instancesLedBy(n.name)])]),
    '',
    `  mail recorder: ${info.smtp} from the host, ${info.nodes.map((n) => `${n.smtp} from ${n.name}`).join(', ')}`,
    `  received mail: ${info.mail}`,
    `  lab files:     ${info.dir} (lab.json; per node: configs, logs, pid files)`,
    '',
    'Try:',
    first ? `  curl -s ${first.api}/api/v1/state` : '',
    first ? `  curl -s ${first.api}/metrics | grep ^keepalived_` : '',
    `  ${labCommand(info.prefix, 'split')}    # drop VRRP on lb2's primary link: split brain`,
    `  ${labCommand(info.prefix, 'status')}`,
    `  ${labCommand(info.prefix, 'heal')}`,
    `  ${labCommand(info.prefix, 'down')}`,
  ].join('\n');
}

const pairs = (list: readonly [string, string][]) => list.map(([a, b]) => `${a}–${b}`).join(', ');

function formatStatus(s: LabStatus): string {
  if (!s.info && s.processes.length === 0 && s.strays.length === 0 && !s.namespaces.some((n) => n.present)) {
    return `lab "${s.prefix}" is down (nothing in ${s.dir}, no namespaces)`;
  }
  const lines = [`lab "${s.prefix}" is ${s.up ? 'up' : 'NOT fully up'}${s.policy ? ` (watchdog policy: ${s.policy})` : ''}${s.split.length ? `, split on ${s.split.join(', ')}` : ''}${s.splitPairs.length ? `, split between ${pairs(s.splitPairs)}` : ''}${s.cutPairs.length ? `, secondary cut between ${pairs(s.cutPairs)}` : ''}`];
  if (!s.info) lines.push(`  (no finished lab in ${s.dir}: left over from a failed or crashed \`up\`? ${labCommand(s.prefix, 'down')} removes it)`);
  for (const n of s.nodes) {
    const instances = n.instances ? Object.entries(n.instances).map(([name, state]) => `${name} ${state}`).join(', ') : '';
    lines.push(`  ${n.name}  ${n.api}  ${n.error ? `unreachable: ${n.error}` : `keepalived ${n.keepalived ? 'up' : 'down'}; ${instances || 'no instances'}`}`);
  }
  lines.push(`  processes:  ${s.processes.map((p) => `${p.role}${p.node ? ` ${p.node}` : ''} ${p.pid} ${p.running ? 'running' : 'GONE'}`).join('; ') || 'none recorded'}`);
  if (s.strays.length) lines.push(`  unrecorded lab processes: ${s.strays.join(', ')}`);
  lines.push(`  namespaces: ${s.namespaces.map((n) => `${n.name}${n.present ? '' : ' (missing)'}`).join(', ')}`, `  files:      ${s.dir}`);
  return lines.join('\n');
}

function formatDown(r: LabDownResult): string {
  const removed = [
    r.processes.length ? `${r.processes.length} process(es)` : '',
    r.namespaces.length ? `namespaces ${r.namespaces.join(', ')}` : '',
    r.hostLinks.length ? `host links ${r.hostLinks.join(', ')}` : '',
    r.removedDir ? r.dir : '',
  ].filter(Boolean);
  return removed.length ? `lab "${r.prefix}" removed: ${removed.join('; ')}` : `lab "${r.prefix}": nothing to remove`;
}

function formatSplit(s: SplitState): string {
  if (s.split.length === 0 && s.cut.length === 0 && s.isolated.length === 0 && s.splitPairs.length === 0 && s.cutPairs.length === 0) return `lab "${s.prefix}" healed: VRRP flows between the directors again; expect one MASTER per instance within a few seconds (${labCommand(s.prefix, 'status')})`;
  return [
    ...(s.split.length
      ? [`lab "${s.prefix}": VRRP dropped on the primary link (${PRIMARY_IFNAME}) of ${s.split.join(', ')}: expect ${s.split.join(', ')} to be MASTER of every instance within about 4 s, as well as those on the other side`]
      : []),
    ...(s.splitPairs.length ? [`lab "${s.prefix}": VRRP dropped between ${pairs(s.splitPairs)} on the primary link (${PRIMARY_IFNAME}); the other directors still hear both`] : []),
    ...(s.cutPairs.length ? [`lab "${s.prefix}": secondary link (${SECONDARY_IFNAME}) cut between ${pairs(s.cutPairs)}`] : []),
    ...(s.cut.length ? [`lab "${s.prefix}": secondary link (${SECONDARY_IFNAME}) cut on ${s.cut.join(', ')}: the daemons lose each other`] : []),
    ...s.isolated.map((n) => (s.cut.includes(n) ? `lab "${s.prefix}": ${n} cut off from both links, the witness (the switch) included` : `lab "${s.prefix}": ${n} cut off from its primary segment (${PRIMARY_IFNAME}), the witness (the switch) included; its secondary link is up`)),
    `see ${labCommand(s.prefix, 'status')}; undo with ${labCommand(s.prefix, 'heal')}`,
  ].join('\n');
}

type LabModule = typeof import('./lifecycle.js') & typeof import('./split.js') & typeof import('./observe.js') & typeof import('./directors.js');

/** What a lab command needs, loaded on use. */
async function loadLab(): Promise<LabModule> {
  const [lifecycle, split, observe, directors] = await Promise.all([import('./lifecycle.js'), import('./split.js'), import('./observe.js'), import('./directors.js')]);
  return { ...lifecycle, ...split, ...observe, ...directors };
}

/**
 * Prints the result as JSON or as text; a failure becomes a message on stderr and exit status 1.
 * The lab itself loads only when a lab command runs, so the other commands start fast.
 */
function output<T>(
  name: string,
  work: (lab: LabModule, opts: CommonOptions & Record<string, unknown>) => Promise<T>,
  text: (result: T, lab: LabModule) => string | Promise<string>,
  json: (result: T) => unknown = (result) => result,
) {
  return async (opts: CommonOptions & Record<string, unknown>) => {
    const lab = await loadLab();
    try {
      const result = await work(lab, opts);
      process.stdout.write(`${opts.json ? JSON.stringify(json(result)) : await text(result, lab)}\n`);
    } catch (err) {
      process.stderr.write(`kawatch lab ${name}: ${err instanceof LabError || err instanceof CommandError || err instanceof WaitTimeout ? err.message : ((err as Error).stack ?? String(err))}\n`);
      process.exitCode = 1;
    }
  };
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description('keepalived lab of two or three directors in network namespaces, for demos and integration tests (root)');

  withCommonOptions(lab.command('up'))
    .description('build the lab (removing one with the same prefix first) and wait until each instance has its MASTER')
    .addOption(new Option('--policy <policy>', 'watchdog policy to record for the lab').choices(LAB_POLICIES).default('alert'))
    .addOption(new Option('--directors <n>', 'how many directors: a pair, or a group of three (with a bridge for the secondary link)').choices(LAB_DIRECTOR_COUNTS.map(String)).default(String(DEFAULT_DIRECTORS)))
    .action(
      output(
        'up',
        async (lab, opts) => {
          const startedAt = performance.now();
          const info = await lab.labUp({ prefix: opts.prefix, policy: opts.policy as LabPolicy, directors: Number(opts.directors) as LabDirectorCount });
          return { info, seconds: (performance.now() - startedAt) / 1000 };
        },
        async ({ info, seconds }, lab) => formatUp(info, await lab.readMasters(info), seconds),
        ({ info }) => info,
      ),
    );

  withCommonOptions(lab.command('split'))
    .description("split brain: drop VRRP (IP protocol 112) on one director's primary link with nftables (--link secondary cuts the secondary link instead)")
    .option('--node <name>', 'the director whose link drops traffic', 'lb2')
    .option('--peer <name>', 'only between --node and this director (not with --link segment or isolate)')
    .addOption(new Option('--link <link>', 'primary: drop VRRP there; secondary: cut the secondary link; both; segment: drop everything on the primary link; isolate: drop everything on both links').choices(['primary', 'secondary', 'both', 'segment', 'isolate']).default('primary'))
    .action(output('split', (lab, opts) => lab.labSplit({ prefix: opts.prefix, node: opts.node as string, peer: opts.peer as string | undefined, link: opts.link as SplitLink }), formatSplit));

  withCommonOptions(lab.command('heal'))
    .description('remove the split-brain rules from every director (harmless when there are none)')
    .action(output('heal', (lab, opts) => lab.labHeal({ prefix: opts.prefix }), formatSplit));

  withCommonOptions(lab.command('status'))
    .description('what is up: namespaces, processes, and each daemon\'s view of the instances')
    .action(output('status', (lab, opts) => lab.labStatus({ prefix: opts.prefix }), formatStatus));

  withCommonOptions(lab.command('start-keepalived'))
    .description("start a director's keepalived again as `up` starts it (the lab daemons' watchdog.start_command, for drills with --mode stop)")
    .requiredOption('--node <name>', 'the director')
    .option('--dir <dir>', 'the lab directory (default: that of --prefix)')
    .action(
      output(
        'start-keepalived',
        async (lab, opts) => {
          const { prefix, state } = await lab.openLab({ prefix: opts.prefix, dir: opts.dir as string | undefined });
          const node = state?.info?.nodes.find((n) => n.name === opts.node);
          if (!node) throw new LabError(`no director ${JSON.stringify(opts.node)} in lab "${prefix}"${state?.info ? ` (directors: ${state.info.nodes.map((n) => n.name).join(', ')})` : ': is it up?'}`);
          return { node: node.name, pid: await lab.startKeepalived(node) };
        },
        ({ node, pid }) => `keepalived of ${node} started (pid ${pid})`,
      ),
    );

  withCommonOptions(lab.command('down'))
    .description('remove everything the lab made, even after a crash (idempotent)')
    .action(output('down', (lab, opts) => lab.labDown({ prefix: opts.prefix }), formatDown));
}
