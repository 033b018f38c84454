/**
 * The real servers of an IPVS table, column by column. At 100k real servers an object per real
 * server, with its address text and five bigints, was most of a read's time and of the heap that
 * outlived it; here a real server is one row of a few typed arrays, addresses are kept as numbers
 * (IPv4) or interned text (IPv6), and the exposition writes its series straight from the columns.
 * A service owns the rows `[first, first + count)`.
 */
import type { ForwardingMethod, IpvsDestination, IpvsProblem, IpvsRates, IpvsService, IpvsStats, IpvsTable } from './ipvs.js';

export const FORWARDING_METHODS: readonly ForwardingMethod[] = ['route', 'masq', 'tunnel', 'local'];
const FORWARDING_INDEX: Readonly<Record<ForwardingMethod, number>> = { route: 0, masq: 1, tunnel: 2, local: 3 };

/** Counters and rates per row, in IpvsStats and IpvsRates order. */
export const STAT_FIGURES = 5;
const TWO_32 = 2 ** 32;
/** The high half of a 64-bit counter below which the whole counter is a safe integer. */
const SAFE_HIGH = 2 ** 21;

export class Backends {
  length = 0;
  family: Uint8Array;
  /** The IPv4 address as a number; for IPv6 rows, the index of its text in `texts`. */
  address: Uint32Array;
  port: Uint16Array;
  forwarding: Uint8Array;
  weight: Int32Array;
  active: Int32Array;
  inactive: Int32Array;
  /** -1: not known (procfs). */
  persistent: Int32Array;
  /** 1 when the row has statistics (netlink); the two arrays below exist once one has. */
  hasStats: Uint8Array;
  /** Five 64-bit counters per row, each as its high and low 32 bits. */
  counters?: Uint32Array;
  rates?: Float64Array;
  /** IPv6 address texts, each once. */
  readonly texts: string[] = [];
  private readonly textIndex = new Map<string, number>();

  /** `capacity`: rows to make room for at once (the size of the previous read, say). */
  constructor(private capacity = 256) {
    capacity = Math.max(capacity, 16);
    this.capacity = capacity;
    this.family = new Uint8Array(capacity);
    this.address = new Uint32Array(capacity);
    this.port = new Uint16Array(capacity);
    this.forwarding = new Uint8Array(capacity);
    this.weight = new Int32Array(capacity);
    this.active = new Int32Array(capacity);
    this.inactive = new Int32Array(capacity);
    this.persistent = new Int32Array(capacity);
    this.hasStats = new Uint8Array(capacity);
  }

  /**
   * Writes the identity and connection figures of the row after the last one and returns its
   * index; it becomes part of the table only with `commit`, so a row found to be a repeat is
   * simply written over by the next.
   */
  stage(family: 4 | 6, address: number, port: number, forwarding: number, weight: number, active: number, inactive: number): number {
    if (this.length === this.capacity) this.grow();
    const row = this.length;
    this.family[row] = family;
    this.address[row] = address;
    this.port[row] = port;
    this.forwarding[row] = forwarding;
    this.weight[row] = weight;
    this.active[row] = active;
    this.inactive[row] = inactive;
    this.persistent[row] = -1;
    this.hasStats[row] = 0;
    return row;
  }

  commit(): void {
    this.length++;
  }

  /** The index of an IPv6 address text, for `stage`. */
  intern(text: string): number {
    let index = this.textIndex.get(text);
    if (index === undefined) {
      index = this.texts.length;
      this.texts.push(text);
      this.textIndex.set(text, index);
    }
    return index;
  }

  /** Figure `k` (0..4, IpvsStats order) of a staged row as its two 32-bit halves, and the rates as numbers. */
  setCounter(row: number, k: number, high: number, low: number): void {
    const counters = this.statsColumns()[0];
    counters[(row * STAT_FIGURES + k) * 2] = high;
    counters[(row * STAT_FIGURES + k) * 2 + 1] = low;
    this.hasStats[row] = 1;
  }

  setRate(row: number, k: number, value: number): void {
    this.statsColumns()[1][row * STAT_FIGURES + k] = value;
  }

  /** A counter as a number when it is a safe integer, else exactly as a bigint. */
  counter(row: number, k: number): number | bigint {
    const at = (row * STAT_FIGURES + k) * 2;
    const high = this.counters![at]!;
    const low = this.counters![at + 1]!;
    return high < SAFE_HIGH ? high * TWO_32 + low : (BigInt(high) << 32n) | BigInt(low);
  }

  rate(row: number, k: number): number {
    return this.rates![row * STAT_FIGURES + k]!;
  }

  addressText(row: number): string {
    const a = this.address[row]!;
    return this.family[row] === 6 ? this.texts[a]! : `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  }

  /** Appends a real server given as an object (the reference model; tests and small tables). */
  push(d: IpvsDestination): number {
    const row = this.stageObject(d);
    this.commit();
    return row;
  }

  /** `stage` for a real server given as an object. */
  stageObject(d: IpvsDestination): number {
    const address = d.family === 6 ? this.intern(d.address) : d.address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
    const row = this.stage(d.family, address, d.port, FORWARDING_INDEX[d.forwarding], d.weight, d.activeConnections, d.inactiveConnections);
    if (d.persistentConnections !== undefined) this.persistent[row] = d.persistentConnections;
    if (d.stats && d.rates) {
      STATS_KEYS.forEach((key, k) => {
        const v = d.stats![key];
        this.setCounter(row, k, Number(v >> 32n), Number(v & 0xffffffffn));
      });
      RATES_KEYS.forEach((key, k) => this.setRate(row, k, d.rates![key]));
    }
    return row;
  }

  /** A row as an object (the reference model). */
  destination(row: number): IpvsDestination {
    const d: IpvsDestination = {
      family: this.family[row] as 4 | 6,
      address: this.addressText(row),
      port: this.port[row]!,
      forwarding: FORWARDING_METHODS[this.forwarding[row]!]!,
      weight: this.weight[row]!,
      activeConnections: this.active[row]!,
      inactiveConnections: this.inactive[row]!,
    };
    if (this.persistent[row]! >= 0) d.persistentConnections = this.persistent[row]!;
    if (this.hasStats[row]) {
      const big = (k: number) => BigInt(this.counter(row, k));
      d.stats = { connections: big(0), incomingPackets: big(1), outgoingPackets: big(2), incomingBytes: big(3), outgoingBytes: big(4) };
      const r = (k: number) => this.rate(row, k);
      d.rates = { connectionsPerSecond: r(0), incomingPacketsPerSecond: r(1), outgoingPacketsPerSecond: r(2), incomingBytesPerSecond: r(3), outgoingBytesPerSecond: r(4) };
    }
    return d;
  }

  private statsColumns(): [Uint32Array, Float64Array] {
    this.counters ??= new Uint32Array(this.capacity * STAT_FIGURES * 2);
    this.rates ??= new Float64Array(this.capacity * STAT_FIGURES);
    return [this.counters, this.rates];
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const grown = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T, per = 1): T => {
      const b = new (a.constructor as new (n: number) => T)(capacity * per);
      b.set(a);
      return b;
    };
    this.family = grown(this.family);
    this.address = grown(this.address);
    this.port = grown(this.port);
    this.forwarding = grown(this.forwarding);
    this.weight = grown(this.weight);
    this.active = grown(this.active);
    this.inactive = grown(this.inactive);
    this.persistent = grown(this.persistent);
    this.hasStats = grown(this.hasStats);
    if (this.counters) this.counters = grown(this.counters, STAT_FIGURES * 2);
    if (this.rates) this.rates = grown(this.rates, STAT_FIGURES);
    this.capacity = capacity;
  }
}

const STATS_KEYS: readonly (keyof IpvsStats)[] = ['connections', 'incomingPackets', 'outgoingPackets', 'incomingBytes', 'outgoingBytes'];
const RATES_KEYS: readonly (keyof IpvsRates)[] = ['connectionsPerSecond', 'incomingPacketsPerSecond', 'outgoingPacketsPerSecond', 'incomingBytesPerSecond', 'outgoingBytesPerSecond'];

/** A service of a compact table: its real servers are rows of the table's `backends`. */
export interface CompactService extends Omit<IpvsService, 'destinations'> {
  first: number;
  count: number;
}

/** The IPVS table as the readers give it. */
export interface CompactIpvsTable {
  services: CompactService[];
  backends: Backends;
  totals: IpvsStats;
  totalRates: IpvsRates;
  problems: IpvsProblem[];
  /** Set when the global statistics could not be read: `totals` and `totalRates` are then zeros, not figures. */
  totalsUnknown?: boolean;
}

/** One way of reading the kernel's table. */
export interface IpvsReader {
  readonly path: 'netlink' | 'procfs';
  read(): Promise<CompactIpvsTable>;
  close?(): void;
}

/** A table of objects (the reference model) in columns. */
export function compactTable(table: IpvsTable): CompactIpvsTable {
  const backends = new Backends(table.services.reduce((n, s) => n + s.destinations.length, 0));
  const services = table.services.map(({ destinations, ...service }): CompactService => {
    const first = backends.length;
    for (const d of destinations) backends.push(d);
    return { ...service, first, count: destinations.length };
  });
  const { services: _, ...rest } = table;
  return { ...rest, services, backends };
}

/** A compact table as objects, for callers that want the reference model. */
export function expandTable(table: CompactIpvsTable): IpvsTable {
  const { services, backends, ...rest } = table;
  return { ...rest, services: services.map((s) => expandService(s, backends)) };
}

export function expandService({ first, count, ...service }: CompactService, backends: Backends): IpvsService {
  const destinations: IpvsDestination[] = [];
  for (let row = first; row < first + count; row++) destinations.push(backends.destination(row));
  return { ...service, destinations };
}
