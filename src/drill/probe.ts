import { http } from '../core/http.js';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatProbeTarget, type ProbeTarget } from '../core/probe-target.js';
import type { ProbeResult } from './journal.js';

/** One try at the service: resolves true when it answered within `timeoutMs`. */
export function tryOnce(target: ProbeTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      resolve(ok);
    };
    if (target.kind === 'tcp') {
      const socket = connect({ host: target.host, port: target.port, timeout: timeoutMs });
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('timeout', () => {
        socket.destroy();
        done(false);
      });
      socket.once('error', () => done(false));
      return;
    }
    const req = http.request({ host: target.host, port: target.port, path: target.path, method: 'GET', timeout: timeoutMs, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      done((res.statusCode ?? 500) < 400);
    });
    req.once('timeout', () => {
      req.destroy();
      done(false);
    });
    req.once('error', () => done(false));
    req.end();
  });
}

/** Adds one try to the running figures; pure, so the outage arithmetic is a unit test. */
export function recordTry(result: ProbeResult & { outageStart?: number }, ok: boolean, startedAt: number, endedAt: number): ProbeResult & { outageStart?: number } {
  const next = { ...result, attempts: result.attempts + 1 };
  if (!ok) return { ...next, failures: next.failures + 1, outageStart: result.outageStart ?? startedAt };
  if (result.outageStart === undefined) return next;
  const outage = endedAt - result.outageStart;
  return { ...next, outageMs: next.outageMs + outage, longestOutageMs: Math.max(next.longestOutageMs, outage), outageStart: undefined };
}

export interface RunningProbe {
  /** Ends the loop and gives its figures; an outage still open counts up to now. */
  stop(): Promise<ProbeResult>;
}

/**
 * Tries the service every `intervalMs` (each try bounded by it too) until stopped or `maxMs`
 * has passed: the loop never outlives the drill that started it.
 */
export function startProbe(target: ProbeTarget, intervalMs: number, maxMs: number): RunningProbe {
  let figures: ProbeResult & { outageStart?: number } = { target: formatProbeTarget(target), attempts: 0, failures: 0, outageMs: 0, longestOutageMs: 0 };
  let stopped = false;
  const until = Date.now() + maxMs;
  const loop = (async () => {
    while (!stopped && Date.now() < until) {
      const startedAt = Date.now();
      const ok = await tryOnce(target, intervalMs);
      figures = recordTry(figures, ok, startedAt, Date.now());
      const left = intervalMs - (Date.now() - startedAt);
      if (left > 0 && !stopped) await sleep(left);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const { outageStart, ...result } = figures;
      if (outageStart === undefined) return result;
      const outage = Date.now() - outageStart;
      return { ...result, outageMs: result.outageMs + outage, longestOutageMs: Math.max(result.longestOutageMs, outage) };
    },
  };
}
