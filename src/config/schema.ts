import { hostname } from 'node:os';
import { z } from 'zod';

/** "500ms", "2s", "1m", "1h" or a bare number of seconds → milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!m) return undefined;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * factor;
}

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(value)}, expected e.g. "500ms", "2s", "1m"` });
    return z.NEVER;
  }
  return ms;
});

const listenAddress = z.string({ error: 'expected HOST:PORT as a string, e.g. "0.0.0.0:9650"' }).regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, {
  message: 'expected HOST:PORT, e.g. "0.0.0.0:9650" or "[::1]:9650"',
});

const absolutePath = z.string().regex(/^\//, { message: 'expected an absolute path' });

const hookSource = z.strictObject({
  enabled: z.boolean().default(true),
  /** Where `kawatch notify` writes events; the daemon watches it and replays what it finds at start. */
  spool_dir: absolutePath.default('/var/spool/kawatch'),
});

const fifoSource = z.strictObject({
  enabled: z.boolean().default(false),
  /** keepalived's notify_fifo / vrrp_notify_fifo / lvs_notify_fifo paths. */
  paths: z.array(absolutePath).default([]),
  /** Create the FIFO when missing, so keepalived never owns (and never deletes) it. */
  create: z.boolean().default(true),
  /** How often the FIFO path is checked for having been removed or replaced. */
  check_interval: duration.default(1000),
});

const netlinkSource = z.strictObject({
  enabled: z.boolean().default(true),
});

const dumpSource = z.strictObject({
  enabled: z.boolean().default(true),
  /** `signal`: send keepalived its JSON signal and wait for a fresh file; `none`: read the file as it is. */
  trigger: z.enum(['signal', 'none']).default('signal'),
  /** keepalived writes `$TMPDIR/keepalived.json`; default follows this daemon's view of keepalived's TMPDIR. */
  path: absolutePath.optional(),
  /** Signal number for SIGJSON; `auto` asks `keepalived --signum=JSON` once at start. */
  signal: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default('auto'),
  interval: duration.default(15_000),
  /** How long to wait for keepalived to write a fresh, complete dump. */
  timeout: duration.default(2000),
  /** Take a dump right after every transition seen by the hook or FIFO. */
  on_transition: z.boolean().default(true),
});

export const configSchema = z.strictObject({
  node_name: z.string().min(1).max(64).default(hostname()),
  listen: listenAddress.default('0.0.0.0:9650'),
  /** Root for every /proc read, so kernel sources run on fixtures. */
  procfs: absolutePath.default('/proc'),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  keepalived: z
    .strictObject({
      pid_file: absolutePath.default('/run/keepalived.pid'),
      binary: z.string().default('keepalived'),
    })
    .prefault({}),
  sources: z
    .strictObject({
      hook: hookSource.prefault({}),
      fifo: fifoSource.prefault({}),
      netlink: netlinkSource.prefault({}),
      dump: dumpSource.prefault({}),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
