import { NOTIFY_USAGE, parseNotifyArgs } from '../keepalived/notify-args.js';

export const NOTIFY_HELP = `${NOTIFY_USAGE}
       kawatch notify --check ARGS...                      (say whether ARGS would be accepted)

The keepalived hook target. bin/kawatch writes the arguments, unevaluated, into one spool file
(atomically) and returns within milliseconds; it never talks to the network and never waits for
the daemon. The daemon picks the file up at once, or replays it when it starts, validates it,
and keeps a rejected call in SPOOL/rejected/ (see kawatch_source_rejected_total and its log).

Options (before the keepalived arguments):
  --spool DIR     spool directory (default: $KAWATCH_SPOOL_DIR or /var/spool/kawatch);
                  must match sources.hook.spool_dir of the daemon
  --check         validate the arguments the way the daemon will, print the verdict, spool nothing
  -h, --help      this text`;

/**
 * The Node side of `kawatch notify`: help and `--check`. The hook itself is bin/kawatch, which
 * keepalived can fork on every transition without paying for a Node start-up.
 */
export function runNotify(argv: readonly string[]): number {
  const [first, ...rest] = argv;
  if (first === '--check') {
    const parsed = parseNotifyArgs(rest);
    if (parsed.ok) {
      process.stdout.write(`accepted: ${JSON.stringify(parsed.value)}\n`);
      return 0;
    }
    process.stderr.write(`rejected: ${parsed.error}\n`);
    return 2;
  }
  if (first === '-h' || first === '--help') {
    process.stdout.write(`${NOTIFY_HELP}\n`);
    return 0;
  }
  process.stderr.write('kawatch notify: the hook is bin/kawatch (the installed `kawatch` command); this entry point only does --help and --check\n');
  return 2;
}
