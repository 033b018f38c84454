import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { BRIDGE_IFNAME } from '../../src/lab/plan.js';
import { readMasters } from '../../src/lab/observe.js';
import { labSplit } from '../../src/lab/split.js';
import type { LabInfo, LabNode } from '../../src/lab/state.js';
import { encodeAdvert, type Advert } from '../../src/vrrp/packet.js';
import { scrape, valueOf, type Sample } from '../support/metrics.js';
import { waitFor } from '../support/wait.js';

const execFileP = promisify(execFile);

/** One advert as tcpdump printed it on the lab's bridge. */
export interface Captured {
  /** Capture time, epoch seconds. */
  at: number;
  source: string;
  vrid: number;
  priority: number;
  intervalMs: number;
}

const LINE = /^(\d+\.\d+) IP (\S+) > \S+: VRRPv\d, Advertisement, vrid (\d+), prio (\d+),(?: authtype \w+,)? intvl (\d+)(s|cs)/;

/** tcpdump on the primary bridge of the lab, every advert it prints kept in order; stop() ends it. */
export async function captureBridge(lab: LabInfo): Promise<{ adverts: Captured[]; stop: () => void }> {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', `${lab.prefix}-sw`, 'tcpdump', '-i', BRIDGE_IFNAME, '-nn', '-tt', '-l', 'ip proto 112'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const adverts: Captured[] = [];
  let listening = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = LINE.exec(line);
    if (m) adverts.push({ at: Number(m[1]), source: m[2]!, vrid: Number(m[3]), priority: Number(m[4]), intervalMs: Number(m[5]) * (m[6] === 's' ? 1000 : 10) });
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (line.includes('listening on')) listening = true;
  });
  const stop = () => child.kill('SIGTERM');
  await waitFor(() => listening || child.exitCode !== null, 'tcpdump listening on the bridge').catch((err: Error) => {
    stop();
    throw err;
  });
  if (!listening) throw new Error(`tcpdump exited (${child.exitCode})`);
  return { adverts, stop };
}

export interface HeardSpeaker {
  speaker: string;
  vrid: number;
  adverts: number;
  lastAdvert: number;
  priority: number;
  intervalMs: number;
}

/** What one daemon's observer says it hears, from its metrics. */
export function heardOf(samples: Sample[]): HeardSpeaker[] {
  return samples
    .filter((s) => s.name === 'kawatch_vrrp_wire_adverts_total')
    .map((s) => {
      const labels = { intf: s.labels.intf!, vrid: s.labels.vrid!, speaker: s.labels.speaker! };
      return {
        speaker: labels.speaker,
        vrid: Number(labels.vrid),
        adverts: s.value,
        lastAdvert: valueOf(samples, 'kawatch_vrrp_wire_last_advert_timestamp_seconds', labels)!,
        priority: valueOf(samples, 'kawatch_vrrp_wire_speaker_priority', labels)!,
        intervalMs: Math.round(valueOf(samples, 'kawatch_vrrp_wire_speaker_advert_interval_seconds', labels)! * 1000),
      };
    })
    .sort((a, b) => a.speaker.localeCompare(b.speaker) || a.vrid - b.vrid);
}

/** The capture of an advert the observer stamped at `at` (seconds): the same packet is captured a few ms before it is read. */
function captureOf(captured: Captured[], speaker: HeardSpeaker, at: number): number {
  const index = captured.findIndex((c) => c.source === speaker.speaker && c.vrid === speaker.vrid && at - c.at >= -0.005 && at - c.at < 0.2);
  if (index < 0) throw new Error(`no capture of ${speaker.speaker} vrid ${speaker.vrid} within 200 ms before ${at}`);
  return index;
}

/** A speaker not heard for this long has stopped (three advert intervals of the lab's 1 s). */
const SILENT_S = 3;

/**
 * Over one window, every daemon's observer hears exactly what tcpdump captured on the bridge, less
 * the daemon's own adverts (a raw socket is not handed what its host sends): the same speakers,
 * VRIDs, priorities and intervals, and, per speaker, as many adverts between the window's two reads
 * as tcpdump captured between the two adverts those reads last counted.
 */
export async function expectObserversMatchBridge(lab: LabInfo, windowMs: number): Promise<void> {
  const capture = await captureBridge(lab);
  try {
    const captureStarted = Date.now() / 1000;
    const first = new Map<string, HeardSpeaker[]>();
    // The speakers heard lately: one silent for longer (a transient MASTER of the lab's start, still
    // remembered) drops out as time passes, and is then neither waited for nor compared.
    const current = (heard: HeardSpeaker[]) => heard.filter((h) => h.lastAdvert > Date.now() / 1000 - SILENT_S);
    // Every observer has counted an advert of each speaker it hears that was captured here.
    for (const node of lab.nodes) first.set(node.name, await waitFor(async () => {
      const heard = current(heardOf(await scrape(node.api)));
      return heard.length > 0 && heard.every((h) => h.lastAdvert > captureStarted + 0.01) && heard;
    }, `${node.name}'s observer counting adverts captured on the bridge`, 10_000 + SILENT_S * 1000));
    // The window: what tcpdump captured from here on is what each observer must name as its speakers.
    const started = Date.now() / 1000;
    await waitFor(() => Date.now() / 1000 > started + windowMs / 1000, `a window of ${windowMs} ms`, windowMs + 5000);
    for (const node of lab.nodes) {
      const last = current(heardOf(await scrape(node.api)));
      // Everything the observers counted has been printed by tcpdump.
      await waitFor(() => capture.adverts.some((c) => c.at >= Math.max(...last.map((h) => h.lastAdvert))), 'tcpdump caught up');
      const captured = capture.adverts.filter((c) => c.source !== node.primary);
      const speakers = (list: { source?: string; speaker?: string; vrid: number; priority: number; intervalMs: number }[]) => [...new Set(list.map((s) => `${s.source ?? s.speaker} vrid ${s.vrid} prio ${s.priority} ${s.intervalMs}ms`))].sort();
      expect(speakers(last), `${node.name}: the speakers heard`).toEqual(speakers(captured.filter((c) => c.at >= started)));
      for (const end of last) {
        const start = first.get(node.name)!.find((h) => h.speaker === end.speaker && h.vrid === end.vrid)!;
        const tcpdumpCount = captured.slice(captureOf(captured, start, start.lastAdvert) + 1, captureOf(captured, end, end.lastAdvert) + 1).filter((c) => c.source === end.speaker && c.vrid === end.vrid).length;
        expect(tcpdumpCount, `${node.name}: adverts of ${end.speaker} captured over the window`).toBeGreaterThan(0);
        expect(end.adverts - start.adverts, `${node.name}: adverts of ${end.speaker} vrid ${end.vrid} over the window`).toBe(tcpdumpCount);
      }
    }
  } finally {
    capture.stop();
  }
}

/** Every instance on its intended MASTER (VI_n on lbn, as src/lab/plan.ts lays them out), by the daemons' own accounts. */
export async function onIntendedMasters(lab: LabInfo): Promise<boolean> {
  const masters = await readMasters(lab);
  return lab.nodes.every((n, i) => (masters[`VI_${i + 1}`] ?? []).join() === n.name);
}

/** The value of kawatch_vrrp_wire_master_heard on one daemon. */
export async function masterHeard(node: LabNode, vrid: number, master: string, listener: string): Promise<number | undefined> {
  return valueOf(await scrape(node.api), 'kawatch_vrrp_wire_master_heard', { vrid: String(vrid), master, listener });
}

/**
 * A router that is not a director of the lab, in a namespace of its own on the lab's primary
 * bridge, sending VRRPv2 adverts for `advert.vrid` every 500 ms (a small Python loop over raw
 * sockets: the product itself never sends), for at most `maxSeconds`. remove() takes it away.
 */
export async function foreignSpeaker(lab: LabInfo, netns: string, address: string, advert: Pick<Advert, 'vrid' | 'priority' | 'addresses'>, password: string, maxSeconds: number): Promise<{ remove: () => Promise<void> }> {
  const sw = `${lab.prefix}-sw`;
  const port = `${netns}0`.slice(0, 15);
  const ip = (...args: string[]) => execFileP('ip', args);
  await ip('netns', 'del', netns).catch(() => undefined);
  await ip('-n', sw, 'link', 'del', port).catch(() => undefined);
  await ip('netns', 'add', netns);
  let sender: ChildProcess | undefined;
  const remove = async () => {
    sender?.kill('SIGKILL');
    await ip('-n', sw, 'link', 'del', port).catch(() => undefined);
    await ip('netns', 'del', netns).catch(() => undefined);
  };
  try {
    await ip('-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    await ip('-n', sw, 'link', 'set', port, 'master', BRIDGE_IFNAME, 'up');
    await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip('-n', netns, 'link', 'set', 'eth0', 'up');
    await ip('-n', netns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0');
    const packet = encodeAdvert({ version: 2, family: 4, source: address, destination: '224.0.0.18', intervalMs: 1000, ...advert }, { password });
    const script = 'import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_RAW)\np=bytes.fromhex(sys.argv[1])\nend=time.time()+float(sys.argv[2])\nwhile time.time()<end:\n  s.sendto(p,("224.0.0.18",0))\n  time.sleep(0.5)\n';
    sender = spawn('ip', ['netns', 'exec', netns, 'python3', '-c', script, Buffer.from(packet).toString('hex'), String(maxSeconds)], { stdio: 'ignore' });
  } catch (err) {
    await remove();
    throw err;
  }
  return { remove };
}

/**
 * `kawatch lab split` of `node` shows in every daemon's wire view: for each of `lost` (a MASTER
 * whose adverts the split keeps from a listener), kawatch_vrrp_wire_master_heard goes to 0 on every
 * daemon within one advert interval of the first advert that did not arrive (the listener's last
 * one heard, plus an interval). Returns that latency per daemon, in ms.
 */
export async function expectSplitSeen(lab: LabInfo, node: string, lost: { vrid: number; master: string; listener: string }[]): Promise<number[]> {
  const splitAt = Date.now();
  await labSplit({ prefix: lab.prefix, node, link: 'primary' });
  const splitDone = Date.now();
  const latencies: number[] = [];
  for (const l of lost) {
    const master = lab.nodes.find((n) => n.name === l.master)!;
    const listener = lab.nodes.find((n) => n.name === l.listener)!;
    const seen = await Promise.all(lab.nodes.map((n) => waitFor(async () => (await masterHeard(n, l.vrid, l.master, l.listener)) === 0 && Date.now(), `${n.name}: ${l.master}'s adverts for VRID ${l.vrid} no longer reach ${l.listener}`, 10_000)));
    const lastHeard = valueOf(await scrape(listener.api), 'kawatch_vrrp_wire_last_advert_timestamp_seconds', { intf: 'pri0', vrid: String(l.vrid), speaker: master.primary })!;
    const firstLost = lastHeard * 1000 + 1000;
    for (const [i, at] of seen.entries()) {
      // Half an interval past the lost advert, the observer's look every 100 ms, one peer exchange.
      expect(at - firstLost, `${lab.nodes[i]!.name}: from the first advert lost to the wire view saying so (split ${splitAt}-${splitDone}, ${l.listener} last heard ${l.master} at ${lastHeard * 1000}, seen at ${seen.join(', ')})`).toBeLessThan(1000);
      latencies.push(at - firstLost);
    }
  }
  return latencies;
}
