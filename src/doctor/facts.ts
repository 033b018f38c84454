import type { KeepalivedVersion } from '../keepalived/capabilities.js';
/** What `kawatch doctor` knows about the host, gathered once (see gather.ts) and judged by pure checks. */

/** A fact that could not be read carries why, which the checks report instead of guessing. */
export type Fact<T> = { ok: true; value: T } | { ok: false; error: string };

export const known = <T>(value: T): Fact<T> => ({ ok: true, value });
export const unknown = <T>(error: string): Fact<T> => ({ ok: false, error });

/** net.ipv4.conf.NAME.* for one NAME (an interface, `all` or `default`); a value is absent when unreadable. */
export interface Ipv4Conf {
  send_redirects?: number;
  arp_ignore?: number;
  arp_announce?: number;
}

export interface InterfaceAddress {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
}

export interface Interface {
  ifname: string;
  addresses: InterfaceAddress[];
}

export interface KeepalivedProcess {
  pidFile: string;
  running: boolean;
  pid?: number;
  /** Why it is not running. */
  reason?: string;
}

/** `keepalived -t -f CONF`: keepalived's own verdict on its configuration. */
export interface KeepalivedConfigTest {
  file: string;
  exitCode: number | null;
  output: string;
}

export interface IpvsAvailability {
  /** /proc/net/ip_vs exists: the module is loaded. */
  loaded: boolean;
  /** `modprobe -n ip_vs` finds the module: keepalived loads it when it sets up a virtual_server. */
  loadable: boolean;
}

export interface PeerReachability {
  name: string;
  address: string;
  reachable: boolean;
  error?: string;
}

/** What keepalived.conf says about kawatch's wiring and about needing LVS. */
export interface KeepalivedWiring {
  file: string;
  /** notify / notify_master / … script lines, per vrrp_instance or vrrp_sync_group (`owner`). */
  notifyScripts: Array<{ owner: string; keyword: string; script: string; where: string }>;
  /** notify_fifo / vrrp_notify_fifo / lvs_notify_fifo paths from global_defs and instances. */
  fifos: Array<{ keyword: string; path: string; where: string }>;
  /** track_file blocks: name and file. */
  trackFiles: Array<{ name: string; file: string; where: string }>;
  /** vrrp_instance names with the track_file names they use. */
  instances: Array<{ name: string; trackFiles: string[]; where: string }>;
  /** lb_kind / lvs_method of each virtual_server (`NAT`, `DR`, `TUN`, or `` when unset). */
  virtualServers: Array<{ name: string; method: string; where: string }>;
}

/** kawatch's side of the wiring, from kawatch.yml. */
export interface KawatchWiring {
  hookEnabled: boolean;
  spoolDir: string;
  fifoEnabled: boolean;
  fifoPaths: string[];
  trackDir: string;
  policy: 'alert' | 'demote' | 'stop' | 'prevent';
  peerListen?: string;
}

export interface DirectorFacts {
  ipv4Conf: Fact<Record<string, Ipv4Conf>>;
  interfaces: Fact<Interface[]>;
  /** One entry per firewall looked at (nftables, iptables-legacy), already judged for VRRP. */
  vrrpFirewall: Array<{ firewall: string; verdict: Fact<VrrpVerdict> }>;
  keepalived: KeepalivedProcess;
  configTest: Fact<KeepalivedConfigTest>;
  /** `keepalived -v` of the configured binary; absent when not asked. */
  keepalivedVersion?: Fact<KeepalivedVersion>;
  /** keepalived's own log since boot (the journal), for what it disabled while reading its configuration. */
  keepalivedLog?: Fact<string[]>;
  /** Whether watchdog.track_dir exists now. */
  trackDirExists?: boolean;
  /** Absent until a keepalived.conf was parsed. */
  keepalivedConf?: Fact<KeepalivedWiring>;
  kawatch: KawatchWiring;
  ipvs: IpvsAvailability;
  peers: PeerReachability[];
}

export interface RealServerFacts {
  ipv4Conf: Fact<Record<string, Ipv4Conf>>;
  interfaces: Fact<Interface[]>;
}

/** How a ruleset treats VRRP (IP protocol 112), judged conservatively: `dropped` only when clearly so. */
export type VrrpVerdict = { dropped: false } | { dropped: true; where: string; fix: string };
