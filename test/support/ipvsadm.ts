import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { waitFor } from './wait.js';
import type { IpvsRates, IpvsService, IpvsStats, IpvsTable } from '../../src/model/ipvs.js';

/**
 * ipvsadm's own listings (`-Ln --exact`, `-Ln --stats --exact`, `-Ln --rate --exact`) turned into
 * one comparable view, and a kawatch table turned into the same view: the reference the readers are
 * checked against. Services and real servers are keyed by the names ipvsadm prints, so order (ipvsadm
 * sorts, the kernel hashes) does not matter.
 */

export interface ListingTexts {
  list: string;
  stats: string;
  rate: string;
}

type Figures = [string, string, string, string, string];

export interface DestinationView {
  forwarding: string;
  weight: number;
  activeConnections: number;
  inactiveConnections: number;
  stats?: Figures;
  rates?: Figures;
}

export interface ServiceView {
  scheduler: string;
  persistence?: { timeoutSeconds?: number; netmask: string };
  flags?: string[];
  stats?: Figures;
  rates?: Figures;
  destinations: Record<string, DestinationView>;
}

export type TableView = Record<string, ServiceView>;

const FORWARD: Record<string, string> = { Masq: 'masq', Route: 'route', Tunnel: 'tunnel', Local: 'local' };

function serviceLines(text: string): { service: string[]; destinations: string[][] }[] {
  const out: { service: string[]; destinations: string[][] }[] = [];
  for (const line of text.split('\n').slice(3)) {
    if (line.trim() === '') continue;
    const tokens = line.trim().split(/\s+/);
    if (line.startsWith('  -> ')) {
      const current = out.at(-1);
      if (!current) throw new Error(`ipvsadm listing: real server line before any service: ${line}`);
      current.destinations.push(tokens.slice(1));
    } else {
      out.push({ service: tokens, destinations: [] });
    }
  }
  return out;
}

/** `FWM  9 IPv6 …` names the family; the key then takes one more token. */
function serviceKey(tokens: string[]): { key: string; rest: string[] } {
  if (tokens[0] === 'FWM') {
    const v6 = tokens[2] === 'IPv6';
    return { key: `FWM ${tokens[1]} IPv${v6 ? 6 : 4}`, rest: tokens.slice(v6 ? 3 : 2) };
  }
  return { key: `${tokens[0]} ${tokens[1]}`, rest: tokens.slice(2) };
}

const figures = (tokens: string[], where: string): Figures => {
  if (tokens.length !== 5 || !tokens.every((t) => /^\d+$/.test(t))) throw new Error(`ipvsadm listing: expected five figures for ${where}, got ${tokens.join(' ')}`);
  return tokens as Figures;
};

export function parseIpvsadm(texts: ListingTexts): TableView {
  const view: TableView = {};
  for (const { service, destinations } of serviceLines(texts.list)) {
    const { key, rest } = serviceKey(service);
    const [scheduler, ...options] = rest;
    const entry: ServiceView = { scheduler: scheduler!, flags: [], destinations: {} };
    const family = key.includes('[') || key.endsWith('IPv6') ? 6 : 4;
    for (let i = 0; i < options.length; i++) {
      const option = options[i]!;
      if (option === 'persistent') entry.persistence = { timeoutSeconds: Number(options[++i]), netmask: family === 4 ? '255.255.255.255' : '128' };
      else if (option === 'mask') entry.persistence!.netmask = options[++i]!;
      else if (option === 'ops') entry.flags!.push('one-packet');
      else if (option.startsWith('(')) entry.flags!.push(...option.slice(1, -1).split(','));
      else throw new Error(`ipvsadm listing: unknown service option ${option} in ${service.join(' ')}`);
    }
    for (const [address, forward, weight, active, inactive] of destinations) {
      entry.destinations[address!] = { forwarding: FORWARD[forward!] ?? `?${forward}`, weight: Number(weight), activeConnections: Number(active), inactiveConnections: Number(inactive) };
    }
    view[key] = entry;
  }
  for (const [text, field] of [[texts.stats, 'stats'], [texts.rate, 'rates']] as const) {
    for (const { service, destinations } of serviceLines(text)) {
      const { key, rest } = serviceKey(service);
      const entry = view[key];
      if (!entry) throw new Error(`ipvsadm --${field}: service ${key} is not in the plain listing`);
      entry[field] = figures(rest, key);
      for (const [address, ...values] of destinations) {
        const destination = entry.destinations[address!];
        if (!destination) throw new Error(`ipvsadm --${field}: real server ${address} of ${key} is not in the plain listing`);
        destination[field] = figures(values, `${key} -> ${address}`);
      }
    }
  }
  return view;
}

const statFigures = (s: IpvsStats): Figures => [s.connections, s.incomingPackets, s.outgoingPackets, s.incomingBytes, s.outgoingBytes].map(String) as Figures;
const rateFigures = (r: IpvsRates): Figures =>
  [r.connectionsPerSecond, r.incomingPacketsPerSecond, r.outgoingPacketsPerSecond, r.incomingBytesPerSecond, r.outgoingBytesPerSecond].map(String) as Figures;

const hostPort = (family: 4 | 6, address: string, port: number) => `${family === 6 ? `[${address}]` : address}:${port}`;

export function ipvsadmServiceKey(s: IpvsService): string {
  return s.protocol === 'FWM' ? `FWM ${s.fwmark} IPv${s.family}` : `${s.protocol} ${hostPort(s.family, s.address, s.port)}`;
}

/**
 * A reader's table in the same view. `figures` false leaves out what only netlink knows
 * (statistics, rates, flags), for the procfs path.
 */
export function viewOfTable(table: IpvsTable, options: { figures: boolean }): TableView {
  const view: TableView = {};
  for (const s of table.services) {
    const entry: ServiceView = { scheduler: s.scheduler, destinations: {} };
    if (s.persistence) entry.persistence = { ...s.persistence };
    if (options.figures) {
      entry.flags = [...s.flags];
      if (s.stats) entry.stats = statFigures(s.stats);
      if (s.rates) entry.rates = rateFigures(s.rates);
    }
    for (const d of s.destinations) {
      const dv: DestinationView = { forwarding: d.forwarding, weight: d.weight, activeConnections: d.activeConnections, inactiveConnections: d.inactiveConnections };
      if (options.figures) {
        if (d.stats) dv.stats = statFigures(d.stats);
        if (d.rates) dv.rates = rateFigures(d.rates);
      }
      entry.destinations[hostPort(d.family, d.address, d.port)] = dv;
    }
    view[ipvsadmServiceKey(s)] = entry;
  }
  return view;
}

/** The ipvsadm view without what the procfs path cannot know. */
export function withoutFigures(view: TableView): TableView {
  return Object.fromEntries(
    Object.entries(view).map(([key, { stats: _s, rates: _r, flags: _f, destinations, ...rest }]) => [
      key,
      { ...rest, destinations: Object.fromEntries(Object.entries(destinations).map(([k, { stats: _ds, rates: _dr, ...d }]) => [k, d])) },
    ]),
  );
}

const COUNTER_FIELDS: ReadonlySet<string> = new Set(['connections', 'incomingPackets', 'outgoingPackets', 'incomingBytes', 'outgoingBytes']);

/** What test/ipvs/vm/read.mjs prints inside the VM. */
export interface VmSnapshot {
  before: ListingTexts;
  after: ListingTexts;
  netlink: IpvsTable;
  procfs: IpvsTable;
  proc: { ip_vs: string; ip_vs_stats: string };
  genl: { services: string[]; destinations: { service: IpvsService; replies: string[] }[] };
  /** How many netlink reads it took to get one between two equal rate listings (read.mjs retries in place). */
  rateAttempts: number;
  /** How many runs of read.mjs it took to get a consistent snapshot. */
  attempts: number;
}

/** read.mjs output → snapshot, counters back to bigint. */
export function parseSnapshot(json: string): Omit<VmSnapshot, 'attempts'> {
  return JSON.parse(json, (key, value: unknown) => (COUNTER_FIELDS.has(key) && typeof value === 'string' ? BigInt(value) : value)) as Omit<VmSnapshot, 'attempts'>;
}

/**
 * Waits (bounded) until `ipvsadm -Ln --stats --exact` shows `connections` on the service or real server
 * listed as `address` (`10.40.0.100:80`). The kernel adds its per-CPU counters into the figures it
 * reports only on its estimator's 2 s tick, so a listing taken right after the traffic can miss the last
 * connections.
 */
export async function waitForConnections(run: (script: string) => Promise<string>, address: string, connections: number, timeoutMs = 30_000): Promise<void> {
  const line = new RegExp(`(?:^|\\s)${address.replace(/[.[\]]/g, '\\$&')} +${connections} `, 'm');
  await waitFor(async () => line.test(await run('ipvsadm -Ln --stats --exact')), `ipvsadm to count ${connections} connections on ${address}`, timeoutMs);
}

/** The VM sees the host's root, so the checkout's paths are the same there. */
const READ_SCRIPT = fileURLToPath(new URL('../ipvs/vm/read.mjs', import.meta.url));

const sameListing = (a: ListingTexts, b: ListingTexts) => a.list === b.list && a.stats === b.stats && a.rate === b.rate;

/**
 * Runs read.mjs until ipvsadm lists the same table before and after the reads (bounded): the
 * estimator ticks every 2 s and a tick between the listings would make any comparison moot.
 */
export async function consistentSnapshot(run: (script: string) => Promise<string>, attempts = 8): Promise<VmSnapshot> {
  let last: Omit<VmSnapshot, 'attempts'> | undefined;
  for (let i = 0; i < attempts; i++) {
    last = parseSnapshot(await run(`node ${READ_SCRIPT}`));
    if (sameListing(last.before, last.after)) return { ...last, attempts: i + 1 };
  }
  throw new Error(`ipvsadm listed a different table before and after the reads ${attempts} times running; last:\n${last?.before.rate}\n---\n${last?.after.rate}`);
}

/** Every figure both readers gave, against ipvsadm's listing of the same moment; returns that listing. */
export function expectReadersMatchIpvsadm(snapshot: VmSnapshot): TableView {
  const reference = parseIpvsadm(snapshot.before);
  expect(snapshot.netlink.problems).toEqual([]);
  expect(viewOfTable(snapshot.netlink, { figures: true })).toEqual(reference);
  expect(snapshot.procfs.problems).toEqual([]);
  // Soft: a procfs difference is reported without hiding what the other checks find.
  expect.soft(viewOfTable(snapshot.procfs, { figures: false })).toEqual(withoutFigures(reference));
  // Both paths take the global figures from ip_vs_stats.
  expect(snapshot.netlink.totals).toEqual(snapshot.procfs.totals);
  return reference;
}
