import { connect } from 'node:net';
import { exec } from '../core/exec.js';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { parseListen } from '../core/listen.js';
import type { StateStore } from '../state/store.js';


/** A third party every healthy director can reach: the gateway (ping) or a service (TCP connect). */
export type WitnessTarget = { ping: string } | { tcp: string };

export function describeWitness(target: WitnessTarget): string {
  return 'ping' in target ? `ping ${target.ping}` : `tcp ${target.tcp}`;
}

/** One probe; resolves to undefined when the witness answered, or to the reason it did not. */
export async function probeWitness(target: WitnessTarget, timeoutMs: number): Promise<string | undefined> {
  if ('ping' in target) {
    // ping needs a raw socket (or ping_group_range): the system's setuid/capability ping has it, Node does not.
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    return exec('ping', ['-n', '-q', '-c', '1', '-W', seconds, target.ping], { timeoutMs: timeoutMs + 1000 }).then(
      (r) => (r.exitCode === 0 ? undefined : `no answer to ping ${target.ping}${r.stdout.includes('100% packet loss') ? '' : `: ${(r.stderr.trim() || `exit ${r.exitCode ?? r.signal}`).split('\n')[0]}`}`),
      (err: Error) => `no answer to ping ${target.ping}: ${err.message}`,
    );
  }
  const { host, port } = parseListen(target.tcp);
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (why?: string) => {
      socket.destroy();
      resolve(why);
    };
    socket.once('connect', () => done());
    socket.once('timeout', () => done(`tcp ${target.tcp}: no connection within ${timeoutMs} ms`));
    socket.once('error', (err) => done(`tcp ${target.tcp}: ${err.message}`));
  });
}

/** Probes the witness on an interval and keeps the verdict in the store, for the policy's self-fencing. */
export class WitnessProbe implements DaemonPart {
  readonly name = 'witness';
  private timer?: NodeJS.Timeout;
  private probing?: Promise<void>;

  constructor(
    private readonly target: WitnessTarget,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.probe();
    this.timer = setInterval(() => {
      this.probing ??= this.probe().finally(() => (this.probing = undefined));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.probing;
  }

  private async probe(): Promise<void> {
    const failure = await probeWitness(this.target, this.timeoutMs);
    const previous = this.store.snapshot.witness;
    if (failure && previous?.error === undefined) this.log.warn({ witness: describeWitness(this.target), error: failure }, 'witness unreachable');
    if (!failure && previous?.error !== undefined) this.log.info({ witness: describeWitness(this.target) }, 'witness reachable again');
    this.store.apply({ type: 'witness', at: Date.now(), target: describeWitness(this.target), error: failure });
  }
}
