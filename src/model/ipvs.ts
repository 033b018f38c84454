/**
 * The IPVS table as kawatch describes it, whichever path read it (generic netlink or procfs).
 * Counters are bigint: the kernel keeps them in 64 bits and `ipvsadm --exact` prints them whole.
 * Fields only one path can know (per-service and per-backend statistics, persistent connections)
 * are optional, so "not known" never reads as zero.
 */

/** node_exporter's ipvs backend labels, in its order; `ipvs.backend_labels` configures a subset. */
export const BACKEND_LABELS = ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark'] as const;
export type BackendLabel = (typeof BACKEND_LABELS)[number];

/** Address services carry a protocol; firewall-mark services (`-f`) are `FWM`. */
export type ServiceProtocol = 'TCP' | 'UDP' | 'SCTP' | 'FWM';

/** The kernel's forwarding methods (`ip_vs_fwd_name`): -g, -m, -i and a local real server. */
export type ForwardingMethod = 'route' | 'masq' | 'tunnel' | 'local';

export interface IpvsStats {
  connections: bigint;
  incomingPackets: bigint;
  outgoingPackets: bigint;
  incomingBytes: bigint;
  outgoingBytes: bigint;
}

/** The kernel's estimator rates, per second. */
export interface IpvsRates {
  connectionsPerSecond: number;
  incomingPacketsPerSecond: number;
  outgoingPacketsPerSecond: number;
  incomingBytesPerSecond: number;
  outgoingBytesPerSecond: number;
}

export interface ServiceKey {
  protocol: ServiceProtocol;
  /** Address family of the service (and of an FWM service's backends). */
  family: 4 | 6;
  /** Canonical text form (IPv6 compressed, no brackets); '' for FWM services. */
  address: string;
  /** 0 for FWM services. */
  port: number;
  /** 0 unless protocol is FWM. */
  fwmark: number;
}

export interface IpvsPersistence {
  /** Unknown on the procfs path when the kernel's HZ is (it prints the timeout in jiffies). */
  timeoutSeconds?: number;
  /** IPv4 netmask in dotted form, or an IPv6 prefix length as text. */
  netmask: string;
}

export interface IpvsDestination {
  family: 4 | 6;
  address: string;
  port: number;
  forwarding: ForwardingMethod;
  weight: number;
  activeConnections: number;
  inactiveConnections: number;
  /** Netlink only. */
  persistentConnections?: number;
  /** Netlink only. */
  stats?: IpvsStats;
  /** Netlink only. */
  rates?: IpvsRates;
}

export interface IpvsService extends ServiceKey {
  scheduler: string;
  persistence?: IpvsPersistence;
  /** Other service flags the kernel reports (`one-packet`, `sh-fallback`, `sh-port`, …). */
  flags: string[];
  /** Persistence engine (`--pe sip`); netlink only. */
  persistenceEngine?: string;
  /** Netlink only. */
  stats?: IpvsStats;
  /** Netlink only. */
  rates?: IpvsRates;
  destinations: IpvsDestination[];
}

/** A virtual service's keepalived sorry_server, as keepalived.conf declares it. */
export interface SorryServer {
  service: Pick<ServiceKey, 'protocol' | 'address' | 'port' | 'fwmark'>;
  address: string;
  port: number;
}

/** Something the reader could not attribute: reported, never guessed. */
export interface IpvsProblem {
  /** Where: `FILE:LINE` for procfs, a description of the message for netlink. */
  where: string;
  message: string;
}

export interface IpvsTable {
  services: IpvsService[];
  totals: IpvsStats;
  totalRates: IpvsRates;
  problems: IpvsProblem[];
  /** Set when the global statistics could not be read: `totals` and `totalRates` are then zeros, not figures. */
  totalsUnknown?: boolean;
}

/** How the IPVS collector fares, for its own series. */
export interface IpvsHealth {
  /** Whether the last read succeeded. */
  up: boolean;
  durationSeconds: number;
  /** The path in use, once one was chosen. */
  path?: 'netlink' | 'procfs';
  /** Problems reported since start (malformed lines or attributes). */
  problemsTotal: number;
}
