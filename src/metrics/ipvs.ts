/**
 * The IPVS series, written straight to Prometheus text. prom-client keeps an object per series
 * and renders the whole body as one string; at 100k backends that is most of the scrape time and
 * of the daemon's memory (README "IPVS" has the figures), so these series are produced here as
 * a sequence of byte chunks the HTTP handler streams after prom-client's output. The chunks are
 * buffers of a pool that the handler gives back once the socket has written them, so a scrape of
 * 60 MB of text reuses a few buffers instead of leaving 60 MB of strings and their UTF-8 copies
 * for the collector. The backend series are written byte by byte from the table's columns: no
 * label text, no value text and no object per series.
 */
import { canonicalIp } from '../core/ip.js';
import { BACKEND_LABELS, type BackendLabel, type IpvsHealth, type IpvsRates, type IpvsStats, type IpvsTable, type ServiceKey, type SorryServer } from '../model/ipvs.js';
import { FORWARDING_METHODS, compactTable, type Backends, type CompactIpvsTable, type CompactService } from '../model/ipvs-backends.js';
import type { CheckerView } from '../state/snapshot.js';

/** What names a service in the series: the family is not a label. */
type ServiceId = Pick<ServiceKey, 'protocol' | 'address' | 'port' | 'fwmark'>;


export interface IpvsExpositionInput {
  /** The table of the last read (as a reader gives it, or as objects); undefined when it failed. */
  table?: CompactIpvsTable | IpvsTable;
  health: IpvsHealth;
  backendLabels: readonly BackendLabel[];
  /** The kernel's estimator rates per real server too (`ipvs.backend_rates`); by default not. */
  backendRates?: boolean;
  checkers: Iterable<CheckerView>;
  /** Services whose sorry_server is known; without it no ipvs_service_sorry_server_active series. */
  sorryServers?: readonly SorryServer[];
}

const CHUNK_BYTES = 64 * 1024;
/** Buffers kept for the next chunks: enough for the socket's queue of one scrape, a few of them at once. */
const FREE_CHUNKS = 16;

/** Chunk buffers, taken by an exposition and given back by whoever wrote them out. */
export class ChunkBuffers {
  private readonly free: Buffer[] = [];
  private readonly owned = new WeakSet<ArrayBuffer>();

  take(): Buffer {
    const reused = this.free.pop();
    if (reused) return reused;
    // Its own memory, not a slice of Node's shared pool: the whole buffer comes back as one.
    const chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
    this.owned.add(chunk.buffer as ArrayBuffer);
    return chunk;
  }

  /** A chunk this pool handed out (a view of one of its buffers) may be reused; anything else is ignored. */
  give(chunk: Uint8Array): void {
    const memory = chunk.buffer as ArrayBuffer;
    if (!this.owned.has(memory) || this.free.length >= FREE_CHUNKS) return;
    if (this.free.some((b) => b.buffer === memory)) return;
    this.free.push(Buffer.from(memory, 0, CHUNK_BYTES));
  }
}

type Value = number | bigint;
type MetricType = 'gauge' | 'counter';

interface Family<T> {
  name: string;
  type: MetricType;
  help: string;
  value: (item: T) => Value | undefined;
}

const escapeLabel = (value: string) => value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));

const STATS: readonly [keyof IpvsStats, string, string][] = [
  ['connections', 'connections_total', 'Connections scheduled'],
  ['incomingPackets', 'incoming_packets_total', 'Incoming packets'],
  ['outgoingPackets', 'outgoing_packets_total', 'Outgoing packets'],
  ['incomingBytes', 'incoming_bytes_total', 'Incoming bytes'],
  ['outgoingBytes', 'outgoing_bytes_total', 'Outgoing bytes'],
];
const RATES: readonly [keyof IpvsRates, string, string][] = [
  ['connectionsPerSecond', 'connections_per_second', 'Connections per second'],
  ['incomingPacketsPerSecond', 'incoming_packets_per_second', 'Incoming packets per second'],
  ['outgoingPacketsPerSecond', 'outgoing_packets_per_second', 'Outgoing packets per second'],
  ['incomingBytesPerSecond', 'incoming_bytes_per_second', 'Incoming bytes per second'],
  ['outgoingBytesPerSecond', 'outgoing_bytes_per_second', 'Outgoing bytes per second'],
];

/** The counters and estimator rates of one level (global, service, backend), as families. */
function statsFamilies<T>(prefix: string, scope: string, stats: (item: T) => IpvsStats | undefined, rates: (item: T) => IpvsRates | undefined): Family<T>[] {
  return [
    ...STATS.map(([key, suffix, help]): Family<T> => ({ name: `${prefix}${suffix}`, type: 'counter', help: `${help} ${scope}.`, value: (item) => stats(item)?.[key] })),
    ...RATES.map(([key, suffix, help]): Family<T> => ({
      name: `${prefix}${suffix}`,
      type: 'gauge',
      help: `${help} ${scope}, the kernel's estimator rate.`,
      value: (item) => rates(item)?.[key],
    })),
  ];
}

const GLOBAL_FAMILIES = statsFamilies<CompactIpvsTable>('ipvs_', 'through IPVS (all services)', (t) => (t.totalsUnknown ? undefined : t.totals), (t) => (t.totalsUnknown ? undefined : t.totalRates));

/** Services that print the same labels (an IPv4 and an IPv6 service on one firewall mark) are summed. */
interface ServiceGroup {
  labels: string;
  services: CompactService[];
  backends: Backends;
  sorry?: { address: string; port: number };
}

const isSorry = (b: Backends, row: number, sorry: ServiceGroup['sorry']) => sorry !== undefined && b.port[row] === sorry.port && b.addressText(row) === sorry.address;

const sumOver = <T>(items: readonly T[], value: (item: T) => Value | undefined): Value | undefined => {
  let total: Value | undefined;
  for (const item of items) {
    const v = value(item);
    if (v === undefined) continue;
    total = total === undefined ? v : typeof total === 'bigint' ? total + BigInt(v) : total + Number(v);
  }
  return total;
};

/** Rows of a service that `test` accepts. */
const countRows = (s: CompactService, test: (row: number) => boolean) => {
  let n = 0;
  for (let row = s.first; row < s.first + s.count; row++) if (test(row)) n++;
  return n;
};

const SERVICE_FAMILIES: Family<ServiceGroup>[] = [
  ...statsFamilies<CompactService>('ipvs_service_', 'of the virtual service (netlink only)', (s) => s.stats, (s) => s.rates).map(
    (f): Family<ServiceGroup> => ({ ...f, value: (g) => sumOver(g.services, f.value) }),
  ),
  { name: 'ipvs_service_backends', type: 'gauge', help: 'Real servers of the virtual service.', value: (g) => sumOver(g.services, (s) => s.count) },
  {
    name: 'ipvs_service_usable_backends',
    type: 'gauge',
    help: 'Real servers of the virtual service with a weight above 0, its sorry server not counted.',
    value: (g) => sumOver(g.services, (s) => countRows(s, (row) => g.backends.weight[row]! > 0 && !isSorry(g.backends, row, g.sorry))),
  },
  {
    name: 'ipvs_service_sorry_server_active',
    type: 'gauge',
    help: "Whether keepalived's sorry_server of the virtual service is in the IPVS table (only services whose sorry_server is known).",
    value: (g) => (g.sorry ? (g.services.some((s) => countRows(s, (row) => isSorry(g.backends, row, g.sorry)) > 0) ? 1 : 0) : undefined),
  },
];

/**
 * A backend family: its value for a row of the columns; `counter`: a 64-bit counter (summed
 * exactly). `column`: the column that is its value in every row, read without a call per row.
 * `none`: true when no row can have a value (procfs gives no statistics), so the rows are not
 * visited for it.
 */
interface BackendFamily {
  name: string;
  type: MetricType;
  help: string;
  value: (b: Backends, row: number) => Value | undefined;
  column?: (b: Backends) => Int32Array;
  none?: (b: Backends) => boolean;
  counter?: boolean;
  /** One of the kernel's estimator rates: written only with `backendRates`. */
  rate?: boolean;
}

const noStats = (b: Backends) => b.counters === undefined;

const BACKEND_SCOPE = 'of the real server (netlink only)';
const BACKEND_FAMILIES: BackendFamily[] = [
  { name: 'ipvs_backend_weight', type: 'gauge', help: 'The current backend weight (summed over the backends that share the labels).', value: (b, row) => b.weight[row], column: (b) => b.weight },
  { name: 'ipvs_backend_connections_active', type: 'gauge', help: 'The current active connections of the backend.', value: (b, row) => b.active[row], column: (b) => b.active },
  { name: 'ipvs_backend_connections_inactive', type: 'gauge', help: 'The current inactive connections of the backend.', value: (b, row) => b.inactive[row], column: (b) => b.inactive },
  {
    name: 'ipvs_backend_connections_persistent',
    type: 'gauge',
    help: 'The current persistence templates of the backend (netlink only).',
    value: (b, row) => (b.persistent[row]! >= 0 ? b.persistent[row] : undefined),
    none: (b) => b.persistent.subarray(0, b.length).every((n) => n < 0),
  },
  ...STATS.map(([, suffix, help], k): BackendFamily => ({
    name: `ipvs_backend_${suffix}`,
    type: 'counter',
    help: `${help} ${BACKEND_SCOPE}.`,
    counter: true,
    value: (b, row) => (b.hasStats[row] ? b.counter(row, k) : undefined),
    none: noStats,
  })),
  ...RATES.map(([, suffix, help], k): BackendFamily => ({
    name: `ipvs_backend_${suffix}`,
    type: 'gauge',
    help: `${help} ${BACKEND_SCOPE}, the kernel's estimator rate.`,
    value: (b, row) => (b.hasStats[row] ? b.rate(row, k) : undefined),
    none: noStats,
    rate: true,
  })),
];

/** The backend families without the estimator rates: what a scrape writes by default. */
const BACKEND_FAMILIES_WITHOUT_RATES = BACKEND_FAMILIES.filter((family) => !family.rate);

const BACKEND_INFO: BackendFamily = {
  name: 'ipvs_backend_info',
  type: 'gauge',
  help: 'A real server and its forwarding method (route, masq, tunnel, local); always 1.',
  value: () => 1,
};

/** Real servers that share the configured label subset. */
interface BackendGroup {
  labels: string;
  rows: number[];
}

/**
 * The label text of a service: `local_address="…",local_port="…"` and `proto="…",local_mark="…"`, around the
 * remote ones. The mark is written as node_exporter writes it (8 hex digits, as /proc/net/ip_vs prints it), so
 * the same director gives the same series through either exporter.
 */
function serviceLabelParts(s: ServiceId): [string, string] {
  const fwm = s.protocol === 'FWM';
  const mark = fwm ? s.fwmark.toString(16).toUpperCase().padStart(8, '0') : '';
  return [`local_address="${fwm ? '' : s.address}",local_port="${fwm ? 0 : s.port}"`, `proto="${s.protocol}",local_mark="${mark}"`];
}

/** node_exporter's order: the service's local labels, the real server's, then protocol and mark. */
const backendLabels = (head: string, tail: string, address: string, port: number) => `${head},remote_address="${address}",remote_port="${port}",${tail}`;

/** Picks the configured subset out of a full backend label text, in node_exporter's order. */
function subsetOf(selected: readonly BackendLabel[]): ((full: string) => string) | undefined {
  if (BACKEND_LABELS.every((l) => selected.includes(l))) return undefined;
  const keep = BACKEND_LABELS.map((l) => selected.includes(l));
  return (full) =>
    full
      .split(/,(?=[a-z_]+=")/)
      .filter((_, i) => keep[i])
      .join(',');
}

/** node_exporter's --collector.ipvs.backend-labels: one group per value set of the subset, summed. */
function aggregate(table: CompactIpvsTable, subset: (full: string) => string): BackendGroup[] {
  const groups = new Map<string, number[]>();
  const b = table.backends;
  for (const s of table.services) {
    const [head, tail] = serviceLabelParts(s);
    for (let row = s.first; row < s.first + s.count; row++) {
      const key = subset(backendLabels(head, tail, b.addressText(row), b.port[row]!));
      const rows = groups.get(key);
      if (rows) rows.push(row);
      else groups.set(key, [row]);
    }
  }
  return Array.from(groups, ([labels, rows]) => ({ labels, rows }));
}

const ascii = (text: string) => Buffer.from(text, 'utf8');

/**
 * A service's label bytes on either side of a real server's, encoded once per exposition: `head`
 * ends with `remote_address="`; `tail` starts with the `",` after the remote port and ends with
 * `} `, and `infoTail` (ipvs_backend_info) with `,forwarding="`.
 */
interface ServiceLabelBytes {
  head: Buffer;
  tail: Buffer;
  infoTail: Buffer;
}

function serviceLabelBytes(s: ServiceId): ServiceLabelBytes {
  const [head, tail] = serviceLabelParts(s);
  return { head: ascii(`${head},remote_address="`), tail: ascii(`",${tail}} `), infoTail: ascii(`",${tail},forwarding="`) };
}

/** A table's IPv6 address texts as bytes, encoded once per exposition: text `i` is `bytes[at[i]..at[i + 1])`. */
interface TextBytes {
  bytes: Buffer;
  at: Uint32Array;
}

function textBytes(texts: readonly string[]): TextBytes {
  const at = new Uint32Array(texts.length + 1);
  for (let i = 0; i < texts.length; i++) at[i + 1] = at[i]! + texts[i]!.length;
  // latin1: one byte per character, so the offsets are the texts' lengths (addresses are ASCII).
  return { bytes: Buffer.from(texts.join(''), 'latin1'), at };
}

const REMOTE_PORT = ascii('",remote_port="');
/** The forwarding label's value and what closes the line, per method. */
const FORWARDING_ENDS = FORWARDING_METHODS.map((method) => ascii(`${method}"} `));
const NEWLINE = 10;
/** Room for the variable parts of a backend line: the remote address and port, forwarding and value. */
const LINE_SLACK = 160;

/** The decimal digits of 0..255, four bytes each: three digit places, then how many are used. */
const OCTETS = new Uint8Array(256 * 4);
for (let n = 0; n < 256; n++) {
  const digits = String(n);
  for (let i = 0; i < digits.length; i++) OCTETS[n * 4 + i] = digits.charCodeAt(i);
  OCTETS[n * 4 + 3] = digits.length;
}

/** An IPv4 address in dotted decimal at `at`; the end. All three places of an octet are written, the next byte goes over the unused ones. */
function writeIpv4(chunk: Buffer, at: number, a: number): number {
  for (let shift = 24; shift >= 0; shift -= 8) {
    const o = ((a >>> shift) & 255) * 4;
    chunk[at] = OCTETS[o]!;
    chunk[at + 1] = OCTETS[o + 1]!;
    chunk[at + 2] = OCTETS[o + 2]!;
    at += OCTETS[o + 3]!;
    chunk[at++] = 46;
  }
  return at - 1;
}

/**
 * One family over every real server, each line written into the chunk from the columns and the
 * service's label bytes (encoded once per exposition): held for the whole scrape, 100k label
 * strings would reach the old generation and stay until a full GC, and made per line they were
 * most of a scrape's time. A line is a few copies of whole byte runs (the family's name with the
 * service's labels, the remote port label, the rest of the service's labels) and digits between
 * them: a copy costs about as much as a few dozen single bytes. `info`: ipvs_backend_info, with
 * the forwarding label.
 */
function* writeBackendFamily(out: ChunkWriter, family: BackendFamily, table: CompactIpvsTable, labels: readonly ServiceLabelBytes[], v6: TextBytes, info = false): Generator<Buffer> {
  const b = table.backends;
  if (family.none?.(b)) return;
  const column = family.column?.(b);
  const name = ascii(`${family.name}{`);
  let started = false;
  for (let i = 0; i < table.services.length; i++) {
    const s = table.services[i]!;
    if (s.count === 0) continue;
    const prefix = Buffer.concat([name, labels[i]!.head]);
    const tail = info ? labels[i]!.infoTail : labels[i]!.tail;
    const room = prefix.length + tail.length + LINE_SLACK;
    for (let row = s.first; row < s.first + s.count; row++) {
      const value = column ? column[row]! : family.value(b, row);
      if (value === undefined) continue;
      if (!started) {
        out.family(family.name, family.type, family.help);
        started = true;
      }
      const ready = out.room(room);
      const chunk = out.chunk!;
      let at = out.at;
      chunk.set(prefix, at);
      at += prefix.length;
      const address = b.address[row]!;
      if (b.family[row] === 4) at = writeIpv4(chunk, at, address);
      else at += v6.bytes.copy(chunk, at, v6.at[address]!, v6.at[address + 1]!);
      chunk.set(REMOTE_PORT, at);
      at += REMOTE_PORT.length;
      at = writeUint(chunk, at, b.port[row]!);
      chunk.set(tail, at);
      at += tail.length;
      if (info) {
        const end = FORWARDING_ENDS[b.forwarding[row]!]!;
        chunk.set(end, at);
        at += end.length;
      }
      at = writeValue(chunk, at, value);
      chunk[at++] = NEWLINE;
      out.at = at;
      if (ready) yield* out.take();
    }
  }
}

/** Decimal digits of a non-negative safe integer at `at`; the end. */
function writeUint(chunk: Buffer, at: number, n: number): number {
  if (n < 10) {
    chunk[at] = 48 + n;
    return at + 1;
  }
  if (n > 0x7fffffff) {
    // Beyond 32-bit integer arithmetic (64-bit counters).
    let digits = 1;
    for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
    for (let i = at + digits - 1; i >= at; i--) {
      chunk[i] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    return at + digits;
  }
  const digits = n < 100 ? 2 : n < 1000 ? 3 : n < 10_000 ? 4 : n < 100_000 ? 5 : n < 1_000_000 ? 6 : n < 10_000_000 ? 7 : n < 100_000_000 ? 8 : n < 1_000_000_000 ? 9 : 10;
  for (let i = at + digits - 1; i >= at; i--) {
    const q = (n / 10) | 0;
    chunk[i] = 48 + n - q * 10;
    n = q;
  }
  return at + digits;
}

/** A value as the text exposition writes it (`${value}`), without a string for the usual integers. */
function writeValue(chunk: Buffer, at: number, value: Value): number {
  if (typeof value === 'number' && value >= 0 && Number.isSafeInteger(value)) return writeUint(chunk, at, value);
  return at + chunk.write(String(value), at, 'latin1');
}

const VS_ADDRESS = /^\[([^\]]+)\]:([a-z]+):(\d{1,5})$/;
const VS_FWM = /^FWM (\d{1,10})$/;

/** keepalived's FMT_VS (`[addr]:proto:port` or `FWM mark`) as a service key; a group (`[name]:port`) has none. */
export function serviceOfChecker(text: string): ServiceId | undefined {
  const fwm = VS_FWM.exec(text);
  if (fwm) return { protocol: 'FWM', address: '', port: 0, fwmark: Number(fwm[1]) };
  const m = VS_ADDRESS.exec(text);
  const address = m && canonicalIp(m[1]!);
  const protocol = m?.[2]!.toUpperCase();
  if (!address || (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP')) return undefined;
  return { protocol, address, port: Number(m![3]), fwmark: 0 };
}

/** keepalived's FMT_RS (`[addr]:proto:port`) as address and port. */
export function realServerOfChecker(text: string): { address: string; port: number } | undefined {
  const m = VS_ADDRESS.exec(text);
  const address = m && canonicalIp(m[1]!);
  return address ? { address, port: Number(m![3]) } : undefined;
}

function serviceGroups(table: CompactIpvsTable, sorryServers: readonly SorryServer[]): Map<string, ServiceGroup> {
  const groups = new Map<string, ServiceGroup>();
  const group = (key: ServiceId) => {
    const labels = serviceLabelParts(key).join(',');
    let g = groups.get(labels);
    if (!g) groups.set(labels, (g = { labels, services: [], backends: table.backends }));
    return g;
  };
  for (const s of table.services) group(s).services.push(s);
  for (const sorry of sorryServers) {
    const address = sorry.service.protocol === 'FWM' ? '' : canonicalIp(sorry.service.address);
    const server = canonicalIp(sorry.address);
    if (address === undefined || server === undefined) continue;
    group({ ...sorry.service, address }).sorry = { address: server, port: sorry.port };
  }
  return groups;
}

/**
 * Writes text into chunk buffers and hands out each one once it is full. A chunk is a view of a
 * pooled buffer that is not written again until the consumer gives it back.
 */
class ChunkWriter {
  /** The chunk being written, taken from the pool when the first text comes; written up to `at`. */
  chunk?: Buffer;
  at = 0;
  private readonly ready: Buffer[] = [];

  constructor(private readonly buffers: ChunkBuffers) {}

  /** True when a chunk is ready to be taken. */
  write(text: string): boolean {
    // At most three bytes per UTF-16 unit: a text that may not fit starts the next chunk.
    if (this.at + text.length * 3 > CHUNK_BYTES) {
      this.finish();
      if (text.length * 3 > CHUNK_BYTES) {
        this.ready.push(Buffer.from(text, 'utf8'));
        return true;
      }
    }
    this.chunk ??= this.buffers.take();
    this.at += this.chunk.write(text, this.at, 'utf8');
    return this.ready.length > 0;
  }

  /** Makes sure `chunk` has `bytes` free after `at`; true when a chunk is ready to be taken. */
  room(bytes: number): boolean {
    if (this.at + bytes > CHUNK_BYTES) this.finish();
    this.chunk ??= this.buffers.take();
    return this.ready.length > 0;
  }

  family(name: string, type: MetricType, help: string): boolean {
    return this.write(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`);
  }

  sample(name: string, labels: string, value: Value): boolean {
    return this.write(labels ? `${name}{${labels}} ${value}\n` : `${name} ${value}\n`);
  }

  /** The finished chunks; with `all`, what is written so far too. */
  *take(all = false): Generator<Buffer> {
    if (all) this.finish();
    while (this.ready.length) yield this.ready.shift()!;
  }

  private finish(): void {
    if (this.chunk && this.at > 0) this.ready.push(this.chunk.subarray(0, this.at));
    else if (this.chunk) this.buffers.give(this.chunk);
    this.chunk = undefined;
    this.at = 0;
  }
}

/** Writes one family over `items`, or nothing when no item has a value for it. */
function* writeFamily<T>(out: ChunkWriter, family: Family<T>, items: Iterable<T>, labelsOf: (item: T) => string): Generator<Buffer> {
  let started = false;
  for (const item of items) {
    const value = family.value(item);
    if (value === undefined) continue;
    if (!started) {
      out.family(family.name, family.type, family.help);
      started = true;
    }
    if (out.sample(family.name, labelsOf(item), value)) yield* out.take();
  }
}

function writeHealth(out: ChunkWriter, health: IpvsHealth): void {
  out.family('kawatch_ipvs_up', 'gauge', 'Whether the last read of the IPVS table succeeded.');
  out.sample('kawatch_ipvs_up', '', health.up ? 1 : 0);
  out.family('kawatch_ipvs_scrape_duration_seconds', 'gauge', 'How long the last read of the IPVS table took.');
  out.sample('kawatch_ipvs_scrape_duration_seconds', '', health.durationSeconds);
  if (health.path) {
    out.family('kawatch_ipvs_read_path', 'gauge', 'The path the IPVS table is read through (netlink or procfs); always 1.');
    out.sample('kawatch_ipvs_read_path', `path="${health.path}"`, 1);
  }
  out.family('kawatch_ipvs_problems_total', 'counter', 'Malformed lines or attributes of the IPVS table reported (and left out).');
  out.sample('kawatch_ipvs_problems_total', '', health.problemsTotal);
}

function writeServiceInfo(out: ChunkWriter, services: Iterable<ServiceGroup>): void {
  const infos = new Set<string>();
  for (const g of services) {
    for (const s of g.services) infos.add(`${g.labels},scheduler="${escapeLabel(s.scheduler)}",persistence_timeout_seconds="${s.persistence ? (s.persistence.timeoutSeconds ?? '') : 0}"`);
  }
  if (infos.size === 0) return;
  out.family('ipvs_service_info', 'gauge', 'A virtual service, its scheduler and persistence timeout (0 when not persistent); always 1.');
  for (const labels of infos) out.sample('ipvs_service_info', labels, 1);
}

function writeCheckers(out: ChunkWriter, checkers: Iterable<CheckerView>): void {
  const series = new Map<string, number>();
  for (const c of checkers) {
    const service = serviceOfChecker(c.virtualServer);
    const real = c.realServer === undefined ? undefined : realServerOfChecker(c.realServer);
    if (service && real) series.set(backendLabels(...serviceLabelParts(service), real.address, real.port), c.up ? 1 : 0);
  }
  if (series.size === 0) return;
  out.family('ipvs_backend_checker_up', 'gauge', "keepalived's health-check verdict for the real server (1 up, 0 down), from its RS UP/DOWN notifications.");
  for (const [labels, value] of series) out.sample('ipvs_backend_checker_up', labels, value);
}

/**
 * The IPVS part of /metrics, in chunks of UTF-8 (from `buffers`, to be given back once written).
 * Everything it shows comes from `input`.
 */
export function* ipvsExposition(input: IpvsExpositionInput, buffers = new ChunkBuffers()): Generator<Buffer> {
  const out = new ChunkWriter(buffers);
  writeHealth(out, input.health);
  const table = input.table === undefined || 'backends' in input.table ? input.table : compactTable(input.table);
  if (table) {
    for (const family of GLOBAL_FAMILIES) yield* writeFamily(out, family, [table], () => '');
    const services = [...serviceGroups(table, input.sorryServers ?? []).values()];
    writeServiceInfo(out, services);
    for (const family of SERVICE_FAMILIES) yield* writeFamily(out, family, services, (g) => g.labels);
    const subset = subsetOf(input.backendLabels);
    const families = input.backendRates ? BACKEND_FAMILIES : BACKEND_FAMILIES_WITHOUT_RATES;
    const b = table.backends;
    const labels = table.services.map(serviceLabelBytes);
    const v6 = textBytes(b.texts);
    if (subset) {
      const groups = aggregate(table, subset);
      for (const family of families) {
        // Counters are summed as bigints: a sum of 64-bit counters is exact.
        const value = (row: number) => {
          const v = family.value(b, row);
          return v === undefined || !family.counter ? v : BigInt(v);
        };
        yield* writeFamily(out, { ...family, value: (g: BackendGroup) => sumOver(g.rows, value) }, groups, (g) => g.labels);
      }
    } else {
      // node_exporter's default: every real server is its own series; no map, no rows held.
      for (const family of families) yield* writeBackendFamily(out, family, table, labels, v6);
    }
    yield* writeBackendFamily(out, BACKEND_INFO, table, labels, v6, true);
  }
  writeCheckers(out, input.checkers);
  yield* out.take(true);
}
