import { hostname } from 'node:os';
import { z } from 'zod';
import { BACKEND_LABELS } from '../model/ipvs.js';
import { cronProblem } from './cron.js';
import { parseProbeTarget } from '../core/probe-target.js';

/** "500ms", "2s", "1m", "1h" or a bare number of seconds → milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!m) return undefined;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * factor;
}

/**
 * The configuration's schema, built for each validation and let go after it: zod's objects and
 * closures for it are some 0.8-0.9 MB of heap that the daemon, which validates once a start or
 * reload, would otherwise hold for good.
 */
export function configSchema() {
  const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(value)}, expected e.g. "500ms", "2s", "1m"` });
      return z.NEVER;
    }
    return ms;
  });

  const listenAddress = z
    .string({ error: 'expected HOST:PORT as a string, e.g. "0.0.0.0:9650"' })
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, { message: 'expected HOST:PORT, e.g. "0.0.0.0:9650" or "[::1]:9650"' })
    .superRefine((listen, ctx) => {
      // Past the regex, so the port is 1 to 5 digits.
      const port = Number(/:(\d+)$/.exec(listen)?.[1]);
      if (port > 65535) ctx.addIssue({ code: 'custom', message: `port ${port} is out of range: expected HOST:PORT with a port in 0-65535` });
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

  const peerMember = z.strictObject({
    /** The peer's node_name. */
    name: z.string().min(1).max(64),
    /** Its peer API on the secondary link. */
    address: listenAddress,
  });

  const peersSchema = z.strictObject({
    /** This daemon's peer API: an address of the secondary link, apart from the metrics listener. */
    listen: listenAddress,
    /** Shared secret of the group (mode 600), not the config file: configs get copied around. */
    secret_file: absolutePath,
    members: z.array(peerMember).min(1),
    /** Exchange views with every peer this often (and at once on every local change). */
    interval: duration.default(1000),
    timeout: duration.default(500),
    /** Largest clock difference accepted between directors; messages older than this are refused. */
    max_skew: duration.default(5000),
    /** A peer with no exchange for this long is unreachable. */
    unreachable_after: duration.default(3500),
    /** Two MASTERs must coexist this long to be a split brain (a preemption hand-over overlaps for milliseconds). */
    confirm_after: duration.default(150),
  });

  /**
   * policy prevent: a BACKUP that stops hearing its MASTER's adverts while the MASTER's sidecar says,
   * within `bound`, that it is MASTER, runs keepalived and reaches the witness, holds its instance
   * (track file) before keepalived's master-down timer fires; released at once when the adverts
   * come back or the MASTER stops confirming. Each peer is asked for its statement every `heartbeat`.
   */
  const preventSchema = z
    .strictObject({
      bound: duration.default(300),
      heartbeat: duration.default(100),
      max_holds_per_hour: z.number().int().min(1).max(3600).default(60),
    })
    .refine((p) => p.heartbeat > 0 && p.heartbeat < p.bound, { message: 'heartbeat must be above 0 and shorter than bound (a statement must be asked for again before it goes stale)' });

  /** What policy prevent needs besides its own block: the statements come over the peer link, the witness and the adverts are its evidence. */
  function checkPrevent(config: { peers?: unknown; watchdog: { policy: string; witness?: unknown }; vrrp_wire: { enabled: boolean } }, ctx: z.RefinementCtx): void {
    if (config.watchdog.policy !== 'prevent') return;
    if (config.peers === undefined) ctx.addIssue({ code: 'custom', path: ['watchdog', 'policy'], message: 'policy prevent needs peers: the MASTER\'s statements come over the peer link' });
    if (config.watchdog.witness === undefined) ctx.addIssue({ code: 'custom', path: ['watchdog', 'witness'], message: 'policy prevent needs a witness on the primary segment: a MASTER that cannot reach it is never kept' });
    if (!config.vrrp_wire.enabled) ctx.addIssue({ code: 'custom', path: ['vrrp_wire', 'enabled'], message: 'policy prevent needs the VRRP observer: missing adverts are what it acts on' });
  }

  const watchdogSchema = z.strictObject({
    /** alert: report only; demote: the loser puts its own instance in FAULT via a track file; stop: the loser stops keepalived; prevent: see preventSchema. */
    policy: z.enum(['alert', 'demote', 'stop', 'prevent']).default('alert'),
    prevent: preventSchema.prefault({}),
    /** Decide and journal as if acting, but touch nothing. */
    dry_run: z.boolean().default(false),
    hold_down: duration.default(2000),
    cooldown: duration.default(10_000),
    max_actions_per_hour: z.number().int().min(1).max(1000).default(6),
    restore_after: duration.default(30_000),
    max_restore_after: duration.default(900_000),
    /** Track files kawatch writes, one per instance, named after it (keepalived: track_file ... file DIR/NAME). */
    track_dir: absolutePath.default('/run/kawatch/track'),
    /** Run without a shell for policy stop, and by a drill with mode stop. */
    stop_command: z.array(z.string().min(1)).min(1).default(['systemctl', 'stop', 'keepalived']),
    /** Run without a shell by a drill with mode stop to start keepalived again; without it such drills are refused. */
    start_command: z.array(z.string().min(1)).min(1).optional(),
    /**
     * A third party every healthy director reaches (the gateway, a service): a director that hears
     * neither its peers nor the witness is the isolated one, and demotes itself.
     */
    witness: z.union([z.strictObject({ ping: z.string().min(2).max(253) }), z.strictObject({ tcp: listenAddress })]).optional(),
  });

  const emailAddress = z.email({ error: 'expected a plain email address, e.g. "ops@example.com"' });

  const smtpSchema = z
    .strictObject({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).default(25),
      /** Implicit TLS from the first byte (usually port 465); `starttls` then does not apply. */
      secure: z.boolean().default(false),
      /** required: refuse to send without STARTTLS; opportunistic: use it when offered; off: never. */
      starttls: z.enum(['required', 'opportunistic', 'off']).default('opportunistic'),
      auth_user: z.string().min(1).optional(),
      /** The SMTP password lives in a file of mode 600, never in this file: configs get copied around. */
      auth_password_file: absolutePath.optional(),
      /**
       * A private CA (PEM) whose certificates are trusted besides the system's, for a relay whose
       * certificate an internal CA signed. Read on every attempt, like the password file.
       */
      ca_file: absolutePath.optional(),
      /** Longest one delivery attempt may take: connecting, greeting, every reply. */
      timeout: duration.default(10_000),
    })
    .superRefine((smtp, ctx) => {
      if (smtp.auth_user !== undefined && smtp.auth_password_file === undefined) {
        ctx.addIssue({ code: 'custom', path: ['auth_password_file'], message: 'auth_user needs auth_password_file (a file of mode 600 holding the password)' });
      }
      if (smtp.auth_password_file !== undefined && smtp.auth_user === undefined) {
        ctx.addIssue({ code: 'custom', path: ['auth_user'], message: 'auth_password_file needs auth_user' });
      }
    });

  const mailSchema = z
    .strictObject({
      smtp: smtpSchema,
      from: emailAddress,
      to: z.array(emailAddress).min(1),
      subject_prefix: z.string().max(64).regex(/^[^\r\n]*$/, { message: 'expected one line' }).default('[kawatch]'),
      /** Composed messages wait here until the SMTP server takes them; default `<state_dir>/outbox`. */
      outbox_dir: absolutePath.optional(),
      /** transition: VRRP state changes; verdict: split brain, no MASTER, VIP problems; action: the watchdog acted; peer: a peer lost or back. */
      events: z.array(z.enum(['transition', 'verdict', 'action', 'peer'])).default(['transition', 'verdict', 'action', 'peer']),
      /** Events within this time of a group's first event go out as one mail. */
      group_window: duration.default(30_000),
      /** Beyond it events wait in the outbox and go out together in the next allowed mail. */
      max_per_hour: z.number().int().min(1).max(3600).default(20),
      /**
       * A group event another director mails (see peers): how long after `group_window` this one
       * waits for that director to confirm it sent it, before mailing it too.
       */
      confirm_within: duration.default(60_000),
      retry: z
        .strictObject({
          initial: duration.default(5000),
          max: duration.default(600_000),
        })
        .prefault({})
        .refine((retry) => retry.max >= retry.initial, { message: 'retry.max must not be shorter than retry.initial' }),
    });

  const CRON_OR_FALSE = 'expected a cron expression as a string (node-cron syntax, e.g. "0 8 * * *"), or false to switch the job off';
  const cronExpression = z.string().superRefine((expression, ctx) => {
    const problem = cronProblem(expression);
    if (problem) ctx.addIssue({ code: 'custom', message: `not a valid cron expression: ${problem}` });
  });

  const jobsSchema = z.strictObject({
    /** A digest of transitions, verdicts and actions since the last one (mailed when mail is configured); false: off. */
    digest: z.union([cronExpression, z.literal(false)], { error: CRON_OR_FALSE }).default('0 8 * * *'),
    /** Reconciliation and configuration audit: a fresh dump, then every finding reported; false: off. */
    audit: z.union([cronExpression, z.literal(false)], { error: CRON_OR_FALSE }).default('*/30 * * * *'),
    /** A failover drill of every instance this director is MASTER of, one at a time (see `drill`); false: off. */
    drill: z.union([cronExpression, z.literal(false)], { error: CRON_OR_FALSE }).default(false),
  });

  const probeUrl = z.string().superRefine((text, ctx) => {
    const target = parseProbeTarget(text);
    if (typeof target === 'string') ctx.addIssue({ code: 'custom', message: target });
  });

  const drillSchema = z.strictObject({
    /** Longest each step of a drill may wait (the move, the move back) before it aborts and restores. */
    timeout: duration.default(60_000),
    /** The service to probe through each instance's VIP while it moves: instance name → tcp://VIP:PORT or http://VIP/path. */
    probes: z.record(z.string().min(1).max(128), probeUrl).default({}),
    /** How often the probe tries the service (each try is bounded by this too). */
    probe_interval: duration.default(200),
  });

  const ipvsSchema = z.strictObject({
    /** IPVS services and real servers; a host without IPVS just shows kawatch_ipvs_up 0. */
    enabled: z.boolean().default(true),
    /**
     * netlink: generic netlink (needs CAP_NET_ADMIN; adds per-service and per-backend statistics);
     * procfs: `<procfs>/net/ip_vs` (no capability needed); auto: netlink, else procfs.
     */
    path: z.enum(['auto', 'netlink', 'procfs']).default('auto'),
    /**
     * The kernel's HZ, for the persistence timeouts /proc/net/ip_vs prints in jiffies; by default
     * read from /boot/config-RELEASE or /proc/config.gz (netlink gives seconds and needs none).
     */
    kernel_hz: z.number().int().min(1).max(100_000).optional(),
    /** Labels of the ipvs_backend_* series (node_exporter's --collector.ipvs.backend-labels): values are summed over the others. */
    backend_labels: z
      .array(z.enum(BACKEND_LABELS, { error: `expected one of ${BACKEND_LABELS.join(', ')}` }))
      .default([...BACKEND_LABELS])
      .refine((labels) => new Set(labels).size === labels.length, { message: 'a label is listed twice' }),
    /**
     * The kernel's estimator rates per real server (ipvs_backend_*_per_second, netlink): five series
     * per real server, a third of them at scale, that rate() over the backend counters draws too.
     */
    backend_rates: z.boolean().default(false),
  });

  const vrrpWireSchema = z.strictObject({
    /** The passive VRRP observer: raw sockets for IP protocol 112 on the VRRP interfaces (needs CAP_NET_RAW). */
    enabled: z.boolean().default(true),
    /** Interfaces to listen on; empty: the interfaces of keepalived.conf's vrrp_instances. */
    interfaces: z.array(z.string().regex(/^[^\s/]{1,15}$/, { message: 'expected an interface name (1 to 15 characters, no spaces or slashes)' })).max(64).default([]),
    /** A speaker silent this long is forgotten (and no longer reported as foreign). */
    forget_after: duration.default(600_000),
  });

  return z.strictObject({
    node_name: z.string().min(1).max(64).default(hostname()),
    listen: listenAddress.default('0.0.0.0:9650'),
    /** Root for every /proc read, so kernel sources run on fixtures. */
    procfs: absolutePath.default('/proc'),
    log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
    /** kawatch's own lasting state: the watchdog's action journal. */
    state_dir: absolutePath.default('/var/lib/kawatch'),
    keepalived: z
      .strictObject({
        pid_file: absolutePath.default('/run/keepalived.pid'),
        binary: z.string().default('keepalived'),
        /** Read for what keepalived intends beyond its dump: the sorry_server of each virtual_server. */
        config_file: absolutePath.default('/etc/keepalived/keepalived.conf'),
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
    /** The other directors of this VRRP group, cross-checked over the secondary link. */
    peers: peersSchema.optional(),
    watchdog: watchdogSchema.prefault({}),
    jobs: jobsSchema.prefault({}),
    drill: drillSchema.prefault({}),
    ipvs: ipvsSchema.prefault({}),
    vrrp_wire: vrrpWireSchema.prefault({}),
    /** Email alerts; absent: no mail. */
    mail: mailSchema.optional(),
  }).superRefine((config, ctx) => {
    checkPrevent(config, ctx);
    const names = new Set<string>();
    config.peers?.members.forEach((member, index) => {
      if (member.name === config.node_name) {
        ctx.addIssue({ code: 'custom', path: ['peers', 'members', index, 'name'], message: `"${member.name}" is this node's own node_name; list the other directors only` });
      } else if (names.has(member.name)) {
        ctx.addIssue({ code: 'custom', path: ['peers', 'members', index, 'name'], message: `peer "${member.name}" is listed twice` });
      }
      names.add(member.name);
    });
  });
}

export type Config = z.output<ReturnType<typeof configSchema>>;
export type ConfigInput = z.input<ReturnType<typeof configSchema>>;
