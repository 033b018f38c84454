import { Command, Option } from 'commander';
import { ConfigError, loadConfig, type ConfigOverrides } from '../config/load.js';
import { createLogger } from '../core/log.js';
import { Daemon } from '../daemon/daemon.js';
import { VERSION } from '../version.js';
import { runNotify } from './notify.js';
import { registerLabCommands } from '../lab/cli.js';
import { runMailTest, type MailTestOptions } from '../mail/test-command.js';

interface RunOptions {
  config?: string;
  listen?: string;
  procfs?: string;
  check?: boolean;
}

function printConfigError(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`kawatch: invalid configuration:\n${err.message}\n`);
    return 2;
  }
  throw err;
}

async function run(opts: RunOptions): Promise<number> {
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
  const daemon = new Daemon(config, { log });
  await daemon.start();
  log.info({ version: VERSION, node: config.node_name, listen: daemon.listenAddress }, 'kawatch started');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      daemon.stop().then(
        () => {
          log.info('stopped');
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'stop failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      loadConfig(opts.config, overrides)
        .then(async (next) => {
          await daemon.reload(next);
          log.info({ config: opts.config }, 'configuration reloaded');
        })
        .catch((err: unknown) => {
          // An invalid reload keeps the running configuration.
          log.error({ config: opts.config, error: (err as Error).message }, 'reload rejected, keeping the running configuration');
        });
    });
  });
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
      process.exitCode = await runMailTest(opts);
    });

  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`kawatch ${VERSION}\n`);
    });

  registerLabCommands(program);
  program.addOption(new Option('--no-color').hideHelp());
  await program.parseAsync(argv);
}
