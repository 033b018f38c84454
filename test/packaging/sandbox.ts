/**
 * The sandbox of packaging/systemd/kawatch.service, rebuilt without systemd (a test machine has no
 * systemd as PID 1): the unit's settings are read from the file, and the ones util-linux can give
 * are given the same way systemd would: a private mount namespace (unshare -m) where every mount
 * but /dev, /proc and /sys is read-only and only the unit's writable paths are writable, and
 * setpriv for the capability bounding set and no_new_privs.
 */

/** The [Service] settings of a unit file, each key with its values in order. */
export function serviceSettings(unit: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (section !== 'Service' || eq < 0) continue;
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}

/** What the sandbox below gives, as systemd would. */
export const ENFORCED = [
  'CapabilityBoundingSet',
  'NoNewPrivileges',
  'ProtectSystem',
  'ReadWritePaths',
  'StateDirectory',
  'StateDirectoryMode',
  'RuntimeDirectory',
  'ProtectHome',
  'ProtectKernelTunables',
  'PrivateTmp',
  'UMask',
  'LimitNOFILE',
  'ExecStartPre',
  'ExecStart',
] as const;

/**
 * What needs systemd itself: seccomp filters, device and cgroup namespaces, and the service's life
 * cycle (restart, reload, stop), which a single run does not exercise.
 */
export const NOT_ENFORCED = [
  'Type',
  'ExecReload',
  'Restart',
  'RestartSec',
  'TimeoutStopSec',
  'RuntimeDirectoryPreserve',
  'PrivateDevices',
  'ProtectKernelModules',
  'ProtectKernelLogs',
  'ProtectControlGroups',
  'ProtectClock',
  'ProtectHostname',
  'RestrictNamespaces',
  'RestrictRealtime',
  'RestrictSUIDSGID',
  'LockPersonality',
  'RemoveIPC',
  'RestrictAddressFamilies',
  'SystemCallArchitectures',
  'SystemCallFilter',
  'SystemCallErrorNumber',
] as const;

export interface Sandbox {
  /** The paths the unit lets the service write, in the order the unit gives them. */
  writable: string[];
  /** `unshare` arguments that run `command` inside the sandbox. */
  argv(command: string[], binds: ReadonlyMap<string, string>): string[];
}

const single = (settings: Map<string, string[]>, key: string): string | undefined => {
  const values = settings.get(key);
  if (values && values.length > 1) throw new Error(`${key} is set ${values.length} times; the sandbox reads one`);
  return values?.[0];
};
const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * The sandbox of a unit. `binds` maps each writable path to a directory of the test's, bound over it
 * inside the namespace, so the host's own paths are never written.
 */
export function sandboxOf(settings: Map<string, string[]>): Sandbox {
  const known = new Set<string>([...ENFORCED, ...NOT_ENFORCED]);
  const unknown = [...settings.keys()].filter((k) => !known.has(k));
  if (unknown.length) throw new Error(`the unit sets ${unknown.join(', ')}: enforce it here or list it in NOT_ENFORCED`);
  if (single(settings, 'ProtectSystem') !== 'strict') throw new Error('the sandbox only rebuilds ProtectSystem=strict');
  if (single(settings, 'PrivateTmp') !== 'no') throw new Error('the sandbox only rebuilds PrivateTmp=no');

  const writable = [
    ...(settings.get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/)),
    ...(settings.get('StateDirectory') ?? []).flatMap((v) => v.split(/\s+/)).map((d) => `/var/lib/${d}`),
    ...(settings.get('RuntimeDirectory') ?? []).flatMap((v) => v.split(/\s+/)).map((d) => `/run/${d}`),
  ];
  const capabilities = (single(settings, 'CapabilityBoundingSet') ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`);
  const stateMode = single(settings, 'StateDirectoryMode');
  const umask = single(settings, 'UMask');
  const nofile = single(settings, 'LimitNOFILE');
  // ExecStartPre=+…: run with full privileges, outside the sandbox, before it closes.
  const privilegedPre = (settings.get('ExecStartPre') ?? []).map((c) => {
    if (!c.startsWith('+')) throw new Error(`ExecStartPre=${c}: only "+" (privileged) commands are rebuilt`);
    return c.slice(1);
  });

  return {
    writable,
    argv(command, binds) {
      const script = [
        'set -eu',
        ...writable.map((path) => {
          const target = binds.get(path);
          if (!target) throw new Error(`no directory to bind over ${path}`);
          return `mount --bind ${quote(target)} ${quote(path)}`;
        }),
        ...(stateMode ? (settings.get('StateDirectory') ?? []).map((d) => `chmod ${stateMode} ${quote(`/var/lib/${d}`)}`) : []),
        ...privilegedPre,
        // ProtectSystem=strict: every mount read-only, but the API file systems and the writable paths.
        `awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do`,
        `  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*${writable.map((p) => `|${p}`).join('')}) continue;; esac`,
        '  mount -o remount,bind,ro "$m"',
        'done',
        ...(single(settings, 'ProtectKernelTunables') === 'yes' ? ['mount --bind /proc/sys /proc/sys', 'mount -o remount,bind,ro /proc/sys', 'mount -o remount,bind,ro /sys'] : []),
        // ProtectHome=yes: the home directories are empty and inaccessible.
        ...(single(settings, 'ProtectHome') === 'yes' ? ['for h in /home /root /run/user; do [ -d "$h" ] && mount -t tmpfs -o ro,mode=000 tmpfs "$h"; done; true'] : []),
        ...(umask ? [`umask ${umask}`] : []),
        // LimitNOFILE=N: soft and hard limit, as systemd sets them.
        ...(nofile ? [`ulimit -n ${nofile}`] : []),
        `exec setpriv ${single(settings, 'NoNewPrivileges') === 'yes' ? '--no-new-privs ' : ''}--bounding-set -all${capabilities.map((c) => `,${c}`).join('')} --inh-caps -all -- "$@"`,
      ].join('\n');
      return ['-m', '--propagation', 'private', 'sh', '-c', script, 'sandbox', ...command];
    },
  };
}
