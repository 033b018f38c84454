import { parseNotifyArgs, NOTIFY_USAGE } from '../keepalived/notify-args.js';
import { writeSpoolRecord } from '../keepalived/spool.js';

export const DEFAULT_SPOOL_DIR = '/var/spool/kawatch';

const HELP = `${NOTIFY_USAGE}

The keepalived hook target. Writes the event to the spool directory (one atomic file) and
returns at once; the daemon picks it up within milliseconds, or replays it when it starts.
Never talks to the network, never runs a shell, never waits for the daemon.

Options (before the keepalived arguments):
  --spool DIR     spool directory (default: $KAWATCH_SPOOL_DIR or ${DEFAULT_SPOOL_DIR});
                  must match sources.hook.spool_dir of the daemon
  -h, --help      this text

Exit status: 0 spooled, 2 arguments rejected (still recorded for the daemon to report), 1 spool not writable.`;

/** Synchronous and dependency-light on purpose: keepalived forks this on every transition. */
export function runNotify(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  let args = [...argv];
  let spool = env.KAWATCH_SPOOL_DIR || DEFAULT_SPOOL_DIR;
  if (args[0] === '-h' || args[0] === '--help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (args[0] === '--spool') {
    if (!args[1]?.startsWith('/')) {
      process.stderr.write('kawatch notify: --spool needs an absolute directory\n');
      return 2;
    }
    spool = args[1];
    args = args.slice(2);
  }
  const parsed = parseNotifyArgs(args);
  const at = Date.now();
  try {
    writeSpoolRecord(spool, parsed.ok ? { v: 1, at, args } : { v: 1, at, args, error: parsed.error.split('\n')[0] });
  } catch (err) {
    process.stderr.write(`kawatch notify: cannot write to spool ${spool}: ${(err as Error).message}\n`);
    return 1;
  }
  if (!parsed.ok) {
    process.stderr.write(`kawatch notify: ${parsed.error}\n`);
    return 2;
  }
  return 0;
}
