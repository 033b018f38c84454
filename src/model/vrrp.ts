/**
 * The vocabulary of keepalived's VRRP side that every part speaks: states, what the hooks and
 * FIFOs report, and what a dump says about an instance. Types and constants only.
 */

export const VRRP_STATES = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP', 'DELETED'] as const;
export type VrrpState = (typeof VRRP_STATES)[number];

/** A state change of a vrrp_instance or vrrp_sync_group. */
export interface StateReport {
  kind: 'state';
  scope: 'instance' | 'group';
  /** Absent when a per-state hook (`notify_master "kawatch notify master"`) names no instance. */
  name?: string;
  state: VrrpState;
  priority?: number;
}

/** keepalived's MASTER_RX_LOWER_PRI notification: a MASTER heard a lower-priority MASTER. */
export interface LowerPriorityReport {
  kind: 'master-rx-lower-priority';
  name: string;
  priority?: number;
}

/** Health-checker verdict from the LVS side (`VS ... UP`, `RS ... DOWN`). */
export interface CheckerReport {
  kind: 'checker';
  /** `[10.0.0.1]:tcp:80`, `FWM 5` or `[group]:80`, as keepalived prints it. */
  virtualServer: string;
  /** Absent for a virtual-server quorum line. */
  realServer?: string;
  up: boolean;
}

/**
 * `INSTANCE "VI_1" MASTER_PRIORITY 70` / `BACKUP_PRIORITY`: the instance's effective priority moved
 * while it stayed in that state (vrrp_notify_priority_changes, FIFO only, keepalived 2.0.16+).
 */
export interface PriorityReport {
  kind: 'priority';
  name: string;
  /** The state keepalived says the instance is in; the priority line itself is no transition. */
  state: 'MASTER' | 'BACKUP';
  priority: number;
}

export type KeepalivedReport = StateReport | LowerPriorityReport | PriorityReport | CheckerReport;

/** VRRP counters as keepalived keeps them (`stats` of each dump entry). */
export const VRRP_STAT_KEYS = [
  'advert_rcvd',
  'advert_sent',
  'become_master',
  'release_master',
  'packet_len_err',
  'advert_interval_err',
  'ip_ttl_err',
  'invalid_type_rcvd',
  'addr_list_err',
  'invalid_authtype',
  'authtype_mismatch',
  'auth_failure',
  'pri_zero_rcvd',
  'pri_zero_sent',
] as const;
export type VrrpStatKey = (typeof VRRP_STAT_KEYS)[number];
export type VrrpStats = Record<VrrpStatKey, number>;

export interface Vip {
  address: string;
  prefix?: number;
  /** Interface the VIP is configured on (`dev X`), defaulting to the instance's interface. */
  dev?: string;
}

/** What keepalived's configuration and statistics say about an instance. */
export interface InstanceSettings {
  vrid: number;
  interface?: string;
  basePriority?: number;
  effectivePriority?: number;
  advertInterval?: number;
  nopreempt?: boolean;
  authType?: number;
  /**
   * A keyed digest of the authentication settings, so directors can tell whether theirs match
   * without ever exchanging the password. Absent without a key (no peers configured).
   */
  authDigest?: string;
  garpDelay?: number;
  /** VIPs keepalived is configured to hold for this instance. */
  vips: Vip[];
  /** `virtual_ipaddress_excluded`: held with the state like the VIPs, but left out of the adverts. */
  excludedVips?: Vip[];
  /** The `vrrp_script`s this instance tracks, as the text dump last showed them (the JSON dump has no status). */
  scripts?: VrrpScriptStatus[];
  stats?: VrrpStats;
}

/** What keepalived says of a script's last results (`Status = GOOD`) and of its run (`State = idle`, 2.0+). */
export const VRRP_SCRIPT_STATES = ['idle', 'running', 'requested termination', 'forcing termination'] as const;
export type VrrpScriptState = (typeof VRRP_SCRIPT_STATES)[number];

export interface VrrpScriptStatus {
  name: string;
  /** GOOD or BAD; absent while 1.3.5 says INIT, INIT/GOOD, INIT/FAILED or DISABLED (no verdict yet, or none to come). */
  good?: boolean;
  /** Absent before 2.0, whose dump does not say whether the script is running. */
  state?: VrrpScriptState;
}

/**
 * One vrrp_instance from keepalived's JSON dump, reduced to what kawatch uses.
 * The authentication password (`auth_data`) is deliberately not part of it: it never leaves the parser.
 */
export interface DumpInstance extends InstanceSettings {
  name: string;
  state: VrrpState;
  /** Epoch seconds of keepalived's last transition of this instance. */
  lastTransition?: number;
  /**
   * keepalived.data's `Number of track scripts init` (2.0+): the weight-0 scripts it tracks that
   * have not answered yet. While any has not, keepalived holds the instance in FAULT without a log
   * line or a notification (vrrp_scheduler.c vrrp_init_state()): it has made no transition yet.
   */
  scriptsAwaited?: number;
}

/** A sync group as keepalived.data shows it (the JSON dump has none). */
export interface DumpGroup {
  name: string;
  state: VrrpState;
  /** Its member instances, in keepalived's order. */
  members: string[];
}
