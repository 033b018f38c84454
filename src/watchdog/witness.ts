import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { parseListen } from '../core/listen.js';
import { waitForValue } from '../core/wait.js';
import type { StateStore } from '../state/store.js';


/** A third party every healthy director can reach: the gateway (ping) or a service (TCP connect). */
export type WitnessTarget = { ping: string } | { tcp: string };

export function describeWitness(target: WitnessTarget): string {
  return 'ping' in target ? `ping ${target.ping}` : `tcp ${target.tcp}`;
}

export interface WitnessTiming {
  /** How often the witness is tried: `peers.interval`, or the heartbeat under policy prevent. */
  intervalMs: number;
  /** A try unanswered for this long has failed; no answer for the interval and this: unreachable. */
  timeoutMs: number;
  /** How often the store hears that the witness still answers; a change of verdict is told at once. */
  reportEveryMs: number;
}

/** One TCP connect; resolves to undefined when the service accepted it, or to the reason it did not. */
export function connectWitness(tcp: string, timeoutMs: number): Promise<string | undefined> {
  const { host, port } = parseListen(tcp);
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (why?: string) => {
      socket.destroy();
      resolve(why);
    };
    socket.once('connect', () => done());
    socket.once('timeout', () => done(`tcp ${tcp}: no connection within ${timeoutMs} ms`));
    socket.once('error', (err) => done(`tcp ${tcp}: ${err.message}`));
  });
}

/** An echo reply as ping prints it: "64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=0.043 ms". */
export function isEchoReply(line: string): boolean {
  return /^\d+ bytes from \S+: icmp_seq=\d+/.test(line);
}

/** What ping prints of an echo that came back as an error: "From 10.0.0.2 icmp_seq=3 Destination Host Unreachable". */
function echoError(line: string): string | undefined {
  return /^From \S+ icmp_seq=\d+ (.+)$/.exec(line)?.[1];
}

/** A ping that exited (no route, no permission) is started again after this long: as often as one try a second. */
const PING_RESTART_MS = 1000;
/** ping's lines are short; a line longer than this is not ping's, and is dropped. */
const MAX_LINE_CHARS = 4096;

/**
 * Probes the witness and keeps the verdict in the store, for the policy's self-fencing; the time of
 * its last answer is read directly (`lastAnsweredAt`) by policy prevent, whose statements must be
 * as fresh as its heartbeat. A ping witness is one ping running all along (`ping -i`), not one
 * process per try: under prevent it is asked every 100 ms, which no process start per try keeps
 * up with at idle. The store hears of a change of verdict at once, of a witness that still answers
 * every `reportEveryMs`, so those who follow the store are not woken at the probe's rate.
 */
export class WitnessProbe implements DaemonPart {
  readonly name = 'witness';
  private readonly label: string;
  private timers: NodeJS.Timeout[] = [];
  private ping?: ChildProcess;
  private trying?: Promise<void>;
  private stopping = false;
  private lastAnswer?: number;
  private lastProblem?: string;
  private reported?: { reachable: boolean; at: number; error?: string };

  constructor(
    private readonly target: WitnessTarget,
    private readonly timing: WitnessTiming,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {
    this.label = describeWitness(target);
  }

  /** Epoch ms of the witness's last answer, if it answered since this probe started. */
  lastAnsweredAt(): number | undefined {
    return this.lastAnswer;
  }

  async start(): Promise<void> {
    this.stopping = false;
    const started = Date.now();
    if ('ping' in this.target) this.startPing(this.target.ping);
    else {
      const tcp = this.target.tcp;
      const tryOnce = () => (this.trying ??= this.tryTcp(tcp).finally(() => (this.trying = undefined)));
      void tryOnce();
      this.timers.push(setInterval(tryOnce, this.timing.intervalMs));
    }
    // The first verdict before the parts that read it start: the first answer, or none within a try's bound.
    const bound = this.timing.intervalMs + this.timing.timeoutMs;
    await waitForValue('the witness', () => this.lastAnswer !== undefined || Date.now() - started >= bound, { timeoutMs: bound + 1000, intervalMs: 10 }).catch(() => undefined);
    this.judge();
    this.timers.push(setInterval(() => this.judge(), this.timing.intervalMs));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    await this.trying;
    const ping = this.ping;
    this.ping = undefined;
    if (ping && ping.exitCode === null && ping.signalCode === null) {
      const exited = once(ping, 'exit');
      ping.kill();
      await exited;
    }
  }

  private async tryTcp(tcp: string): Promise<void> {
    const failure = await connectWitness(tcp, this.timing.timeoutMs);
    if (failure === undefined) this.answered();
    else this.lastProblem = failure;
  }

  private answered(): void {
    this.lastAnswer = Date.now();
    this.lastProblem = undefined;
  }

  private startPing(address: string): void {
    // `--`: the address is never taken for an option of ping's.
    const child = spawn('ping', ['-n', '-i', String(this.timing.intervalMs / 1000), '--', address], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.ping = child;
    let stderr = '';
    readLines(child.stdout!, (line) => {
      if (isEchoReply(line)) {
        this.answered();
        return;
      }
      const error = echoError(line);
      if (error) this.lastProblem = `ping ${address}: ${error}`;
    });
    readLines(child.stderr!, (line) => (stderr = line));
    child.on('error', (err) => (this.lastProblem = `ping ${address}: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (this.stopping || this.ping !== child) return;
      this.lastProblem = `ping ${address} exited (${code ?? signal})${stderr ? `: ${stderr}` : ''}`;
      this.timers.push(setTimeout(() => !this.stopping && this.startPing(address), PING_RESTART_MS));
    });
  }

  private judge(): void {
    const now = Date.now();
    const bound = this.timing.intervalMs + this.timing.timeoutMs;
    const reachable = this.lastAnswer !== undefined && now - this.lastAnswer <= bound;
    const previous = this.reported;
    if (reachable) {
      if (previous?.reachable && now - previous.at < this.timing.reportEveryMs) return;
      if (previous && !previous.reachable) this.log.info({ witness: this.label }, 'witness reachable again');
      this.reported = { reachable, at: now };
      this.store.apply({ type: 'witness', at: this.lastAnswer!, target: this.label });
      return;
    }
    const error = this.lastProblem ?? `no answer to ${this.label} within ${bound} ms`;
    if (previous && !previous.reachable && previous.error === error) return;
    if (!previous || previous.reachable) this.log.warn({ witness: this.label, error }, 'witness unreachable');
    this.reported = { reachable, at: now, error };
    this.store.apply({ type: 'witness', at: now, target: this.label, error });
  }
}

/** Calls `onLine` with each line of a child's output, as it comes. */
function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    if (pending.length > MAX_LINE_CHARS) pending = '';
    for (const line of lines) onLine(line.trim());
  });
}
