import { GENERATED_SECTIONS } from './keywords.generated.js';

/**
 * The keywords keepalived 2.2.7 accepts, per section. A section is named by the path of block
 * keywords leading to it: '' for the top level, 'vrrp_instance', 'virtual_server/real_server/
 * HTTP_GET/url'. The bulk comes from keywords.generated.ts (keepalived.conf(5), each keyword
 * confirmed by `keepalived -t`); what the page leaves out but keepalived still reads is added
 * here, each confirmed the same way by test/keepalived/conf/keywords.test.ts.
 */
export interface Section {
  /** Entries are free-form (addresses, interface or script names), not keywords. */
  list: boolean;
  keywords: ReadonlySet<string>;
}

export interface Deprecation {
  replacement: string;
}

const CHECKERS = ['HTTP_GET', 'SSL_GET', 'TCP_CHECK', 'SMTP_CHECK', 'DNS_CHECK', 'MISC_CHECK', 'BFD_CHECK', 'PING_CHECK', 'UDP_CHECK', 'FILE_CHECK'];
const RS = 'virtual_server/real_server';

/** Accepted by keepalived 2.2.7 (older spellings kept for compatibility), absent from its man page. */
export const UNDOCUMENTED: Readonly<Record<string, readonly string[]>> = {
  '': ['vrrp_track_file'],
  global_defs: [
    'vrrp_strict', 'vrrp_skip_check_adv_addr', 'vrrp_garp_interval', 'vrrp_gna_interval', 'vrrp_iptables',
    'vrrp_version', 'vrrp_check_unicast_src', 'vrrp_garp_master_delay', 'vrrp_garp_master_repeat',
    'vrrp_garp_master_refresh', 'vrrp_garp_master_refresh_repeat', 'vrrp_garp_lower_prio_delay',
    'vrrp_garp_lower_prio_repeat', 'vrrp_lower_prio_no_advert', 'vrrp_higher_prio_send_advert', 'vrrp_priority',
    'vrrp_no_swap', 'vrrp_cpu_affinity', 'vrrp_rt_priority', 'vrrp_rlimit_rttime', 'vrrp_process_name',
    'vrrp_notify_fifo', 'vrrp_notify_fifo_script', 'vrrp_mcast_group4', 'vrrp_mcast_group6', 'vrrp_netlink_cmd_rcv_bufs',
    'vrrp_netlink_cmd_rcv_bufs_force', 'vrrp_netlink_monitor_rcv_bufs', 'vrrp_netlink_monitor_rcv_bufs_force',
    'vrrp_min_garp', 'vrrp_garp_extra_if', 'vrrp_startup_delay', 'vrrp_rx_bufs_policy', 'vrrp_rx_bufs_multiplier',
    'vrrp_vmac_garp_intvl', 'smtp_server', 'smtp_helo_name', 'smtp_connect_timeout', 'smtp_alert', 'smtp_alert_vrrp',
    'smtp_alert_checker', 'lvs_process_name', 'vrrp_rlimit_rtime', 'checker_rlimit_rtime', 'bfd_rlimit_rtime',
    'tmp_config_directory', 'startup_script', 'startup_script_timeout',
  ],
  vrrp_instance: ['lvs_sync_daemon_interface', 'vmac_garp_intvl', 'unicast_src_ip'],
  virtual_server: ['lb_algo', 'lb_kind'],
  [`${RS}/HTTP_GET`]: ['nb_get_retry'],
  [`${RS}/SSL_GET`]: ['nb_get_retry'],
  [`${RS}/SMTP_CHECK`]: ['host'],
};

/**
 * Keywords keepalived still reads but warns about, with what to write instead (its own
 * messages, e.g. "nb_get_retry is deprecated - please use 'retry'").
 */
export const DEPRECATED: Readonly<Record<string, Readonly<Record<string, Deprecation>>>> = {
  '': { vrrp_track_file: { replacement: 'track_file' } },
  global_defs: {
    lvs_process_name: { replacement: 'checker_process_name' },
    vrrp_vmac_garp_intvl: { replacement: 'vrrp_garp_extra_if' },
    vrrp_rlimit_rtime: { replacement: 'vrrp_rlimit_rttime' },
    checker_rlimit_rtime: { replacement: 'checker_rlimit_rttime' },
    bfd_rlimit_rtime: { replacement: 'bfd_rlimit_rttime' },
  },
  vrrp_instance: {
    lvs_sync_daemon_interface: { replacement: 'lvs_sync_daemon INTERFACE VRRP_INSTANCE in global_defs' },
    vmac_garp_intvl: { replacement: 'garp_extra_if' },
    linkbeat_use_polling: { replacement: 'a top-level linkbeat_interfaces { INTERFACE } block' },
    native_ipv6: { replacement: 'nothing: the addresses decide the family' },
  },
  vrrp_sync_group: {
    global_tracking: { replacement: 'track_interface/track_script/track_file on the sync group' },
  },
  [`${RS}/HTTP_GET`]: { nb_get_retry: { replacement: 'retry' } },
  [`${RS}/SSL_GET`]: { nb_get_retry: { replacement: 'retry' } },
  [`${RS}/SMTP_CHECK`]: { host: { replacement: 'one SMTP_CHECK block per host' } },
};

/** Keywords keepalived 2.x no longer reads in a section though old guides still show them. */
export const REMOVED: Readonly<Record<string, Readonly<Record<string, Deprecation>>>> = Object.fromEntries(
  CHECKERS.filter((c) => c !== 'HTTP_GET' && c !== 'SSL_GET').map((c) => [`${RS}/${c}`, { nb_get_retry: { replacement: 'retry' } }]),
);

function buildSections(): ReadonlyMap<string, Section> {
  const sections = new Map<string, Section>();
  for (const [path, generated] of Object.entries(GENERATED_SECTIONS)) {
    sections.set(path, { list: generated.list === true, keywords: new Set([...generated.keywords, ...(UNDOCUMENTED[path] ?? [])]) });
  }
  return sections;
}

export const SECTIONS: ReadonlyMap<string, Section> = buildSections();

/** Where a block keyword leads: its section path, following keepalived's nesting. */
export function childSection(parent: string, keyword: string): string {
  return parent === '' ? keyword : `${parent}/${keyword}`;
}

/** Sections (other than `except`) that know `keyword`: "lvs_sync_daemon belongs in global_defs". */
export function sectionsKnowing(keyword: string, except: string): string[] {
  const out: string[] = [];
  for (const [path, section] of SECTIONS) if (path !== except && section.keywords.has(keyword)) out.push(path);
  return out;
}

/** Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => (d[i] as number[])[j] as number;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(rows - 1, cols - 1);
}

/** The closest of `candidates` to `word`, when close enough to be a typo of it. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  const tolerance = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    // The distance is at least the difference in length: a 1000-character word costs nothing.
    if (Math.abs(c.length - word.length) > tolerance) continue;
    const distance = editDistance(lower, c.toLowerCase());
    if (distance < bestDistance || (distance === bestDistance && best !== undefined && c < best)) {
      best = c;
      bestDistance = distance;
    }
  }
  return bestDistance <= tolerance ? best : undefined;
}
