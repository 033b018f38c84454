import { Command, Option } from 'commander';
import type { ConfigOverrides } from '../config/load.js';
import { VERSION } from '../version.js';
import { runNotify } from './notify.js';
import type { MailTestOptions } from '../mail/test-command.js';
import type { LintCommandOptions } from './lint.js';
import type { DoctorCommandOptions } from './doctor.js';
import type { DrillCommandOptions } from './drill.js';

interface RunOptions {
  config?: string;
  listen?: string;
  procfs?: string;
  check?: boolean;
}

async function printConfigError(err: unknown): Promise<number> {
  const { ConfigError } = await import('../config/load.js');
  if (err instanceof ConfigError) {
    process.stderr.write(`kawatch: invalid configuration:\n${err.message}\n`);
    return 2;
  }
  throw err;
}

async function run(opts: RunOptions): Promise<number> {
  // Loaded on use, like the daemon below: commands such as lint run from hooks and should start fast.
  const [{ loadConfig }, { createLogger }] = await Promise.all([import('../config/load.js'), import('../core/log.js')]);
  const overrides: ConfigOverrides = { listen: opts.listen, procfs: opts.procfs };
  let config;
  try {
    config = await loadConfig(opts.config, overrides);
  } catch (err) {
    return printConfigError(err);
  }
  if (opts.check) {
    process.stdout.write(`${opts.config ?? '(flags)'}: ok\n`);
    return 0;
  }
  const log = createLogger(config.log_level);
  const { Daemon, StartupError } = await import('../daemon/daemon.js');
  const daemon = new Daemon(config, { log });
  // The last line of containment: whatever escaped a part is said, and the daemon goes on.
  process.on('uncaughtException', (err) => daemon.contain('exception', err));
  process.on('unhandledRejection', (reason) => daemon.contain('rejection', reason));
  // Signals are taken from the start on, and each lifecycle step waits for the one before: a SIGHUP or
  // SIGTERM that arrives while the parts are still starting is applied once they have.
  let lifecycle: Promise<unknown> = Promise.resolve();
  const then = (step: () => Promise<unknown>) => (lifecycle = lifecycle.then(step, step));
  let stopping = false;
  let resolveExit: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void then(() =>
      daemon.stop().then(
        () => {
          log.info('stopped');
          resolveExit(0);
        },
        (err: unknown) => {
          log.error({ error: (err as Error).message }, 'stop failed');
          resolveExit(1);
        },
      ),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    void then(async () => {
      if (stopping) return;
      try {
        await daemon.reload(await loadConfig(opts.config, overrides));
        log.info({ config: opts.config }, 'configuration reloaded');
      } catch (err) {
        // An invalid reload keeps the running configuration.
        log.error({ config: opts.config, error: (err as Error).message }, 'reload rejected, keeping the running configuration');
      }
    });
  });

  try {
    await then(() => daemon.start());
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    process.stderr.write(`kawatch: ${err.message}\n`);
    await daemon.stop().catch(() => undefined);
    return 1;
  }
  log.info({ version: VERSION, node: config.node_name, listen: daemon.listenAddress }, 'kawatch started');
  return exited;
}

export async function runCli(argv: string[]): Promise<void> {
  const program = new Command('kawatch')
    .description('Prometheus exporter, split-brain watchdog and notify hook target for keepalived/LVS directors')
    .version(VERSION, '-V, --version')
    .showHelpAfterError();

  program
    .command('run')
    .description('run the daemon')
    .option('-c, --config <file>', 'YAML configuration file (see examples/kawatch.yml)')
    .option('--listen <host:port>', 'metrics/API listen address (overrides the file)')
    .option('--procfs <dir>', 'root for every /proc read (overrides the file)')
    .option('--check', 'validate the configuration and exit')
    .action(async (opts: RunOptions) => {
      process.exitCode = await run(opts);
    });

  program
    .command('notify')
    .description('keepalived hook target: notify "/usr/bin/kawatch notify" or notify_master "/usr/bin/kawatch notify master VI_1"; --check ARGS validates')
    .helpOption(false)
    .allowUnknownOption()
    .argument('[args...]')
    .action((args: string[]) => {
      process.exitCode = runNotify(args);
    });

  program
    .command('mail')
    .description('email alerts')
    .command('test')
    .description('send a test message through the configured SMTP server now (not through the outbox) and print its answer')
    .option('-c, --config <file>', 'YAML configuration file with a mail section')
    .action(async (opts: MailTestOptions) => {
      const { runMailTest } = await import('../mail/test-command.js');
      process.exitCode = await runMailTest(opts);
    });

  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`kawatch ${VERSION}\n`);
    });

  program
    .command('lint')
    .description('check keepalived.conf files (several: the directors of one group, cross-checked)')
    .argument('<files...>', 'keepalived.conf files, one per director')
    .addOption(new Option('--format <format>', 'output').choices(['human', 'json']).default('human'))
    .addOption(new Option('--severity <level>', 'lowest severity that fails (exit 1)').choices(['error', 'warning', 'info']).default('warning'))
    .option('--config-id <ids>', "keepalived's config-id for @ID lines; several (lb1,lb2): the file is read as each director")
    .option('--no-cross', 'do not cross-check the files as directors of one group')
    .option('--keepalived-version <X.Y.Z>', "lint for this keepalived (its keywords, ranges, notify form); default: the installed keepalived's (keepalived -v)")
    .option('--keepalived-binary <path>', 'the keepalived asked for its version when --keepalived-version is not given', 'keepalived')
    .action(async (files: string[], opts: LintCommandOptions) => {
      // Loaded on use: a pre-commit hook should not pay for the daemon's modules.
      const { runLint } = await import('./lint.js');
      process.exitCode = await runLint(files, { ...opts, color: program.opts<{ color?: boolean }>().color });
    });

  program
    .command('doctor')
    .description("check this host against the setup checklists (read-only): a director's keepalived, IPVS, wiring, firewall, sysctls, peers; or, with --real-server, an LVS-DR real server")
    .option('-c, --config <file>', 'kawatch YAML configuration (spool, FIFOs, track_dir, peers)')
    .option('--keepalived-conf <file>', "keepalived's configuration (default: the running keepalived's -f, else /etc/keepalived/keepalived.conf)")
    .option('--real-server <vip...>', 'check this host as an LVS-DR real server for these VIPs instead')
    .option('--procfs <dir>', 'root for every /proc read (overrides the file)')
    .addOption(new Option('--format <format>', 'output').choices(['human', 'json']).default('human'))
    .addOption(new Option('--severity <level>', 'lowest severity that fails (exit 1)').choices(['error', 'warning', 'info']).default('warning'))
    .action(async (opts: DoctorCommandOptions) => {
      const { runDoctor } = await import('./doctor.js');
      process.exitCode = await runDoctor({ ...opts, color: program.opts<{ color?: boolean }>().color });
    });

  program
    .command('drill')
    .description('rehearse a failover: move instances off this director (their MASTER) through the track file, watch the group, move them back, report')
    .argument('<instances...>', 'instances this director is MASTER of, drilled one at a time')
    .option('-c, --config <file>', 'kawatch YAML configuration (the API address and state_dir of the daemon)')
    .option('--to <node>', 'the director expected to take over (default: the one VRRP elects)')
    .option('--probe <url>', 'probe the service through the VIP while it moves: tcp://VIP:PORT or http://VIP/path')
    .addOption(new Option('--mode <mode>', 'track: the MASTER steps down (track file); stop: keepalived stopped and started (watchdog.stop_command, start_command)').choices(['track', 'stop']).default('track'))
    .option('--dry-run', 'check that the drill may run and say what it would do, touching nothing')
    .option('--stay', 'leave the instances on the new MASTER (give them back with --restore)')
    .option('--restore', 'give instances left by --stay back their priority on this director')
    .addOption(new Option('--format <format>', 'output').choices(['human', 'json']).default('human'))
    .action(async (instances: string[], opts: DrillCommandOptions) => {
      const { runDrill } = await import('./drill.js');
      process.exitCode = await runDrill(instances, opts);
    });

  // The daemon runs for months: it does not keep the lab's and the dashboards' code (and what they
  // import) in memory for the help text of commands it never runs.
  if (argv[2] !== 'run') {
    const [{ registerLabCommands }, { registerDashboardCommands }] = await Promise.all([import('../lab/cli.js'), import('../dashboards/cli.js')]);
    registerLabCommands(program);
    registerDashboardCommands(program);
  }
  program.addOption(new Option('--no-color').hideHelp());
  await program.parseAsync(argv);
}
