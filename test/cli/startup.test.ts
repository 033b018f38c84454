import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseExposition, valueOf } from '../support/metrics.js';
import { freePort } from '../support/net.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

const launcher = new URL('../../bin/kawatch', import.meta.url).pathname;
const cli = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

let dir: string;
let child: ChildProcess | undefined;
let squatter: Server | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-startup-'));
});
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  if (squatter) await new Promise((r) => squatter!.close(r));
  squatter = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function config(port: number, extra: string[] = []): string {
  return [
    'node_name: lb1',
    `state_dir: ${dir}/state`,
    `watchdog: { track_dir: ${dir}/track }`,
    `listen: 127.0.0.1:${port}`,
    `keepalived: { pid_file: ${dir}/keepalived.pid }`,
    'sources:',
    `  hook: { spool_dir: ${dir}/spool }`,
    '  fifo: { enabled: false }',
    '  netlink: { enabled: false }',
    '  dump: { enabled: false }',
    'ipvs: { enabled: false }',
    ...extra,
  ].join('\n');
}

describeWithPrereqs('kawatch run when something is in its way (the built CLI)', { files: [cli] }, () => {
  it('ends with one line and exit 1 when its listen port is taken', async () => {
    const port = await freePort();
    squatter = createServer();
    await new Promise<void>((r) => squatter!.listen(port, '127.0.0.1', r));
    writeFileSync(join(dir, 'k.yml'), config(port));
    const run = spawn(launcher, ['run', '--config', join(dir, 'k.yml')]);
    let stderr = '';
    run.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(run, 'exit')) as [number];
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^kawatch: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*; is another kawatch running\\?`))]);
  });

  it('keeps running when a part cannot start, with that part down and its peers in the metrics', async () => {
    const [port, peerPort] = [await freePort(), await freePort()];
    const secret = join(dir, 'peer.secret');
    // Readable by others: the peer link refuses it, as an operator would want.
    writeFileSync(secret, 'a shared secret that is long enough\n', { mode: 0o644 });
    writeFileSync(join(dir, 'k.yml'), config(port, ['peers:', `  listen: 127.0.0.1:${peerPort}`, `  secret_file: ${secret}`, '  members:', '    - { name: lb2, address: 127.0.0.2:9651 }']));
    child = spawn(launcher, ['run', '--config', join(dir, 'k.yml')]);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    const metrics = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      return res.ok ? parseExposition(await res.text()) : undefined;
    }, 'the daemon to answer /metrics');
    expect(valueOf(metrics, 'kawatch_part_up', { part: 'peers' })).toBe(0);
    expect(valueOf(metrics, 'kawatch_part_up', { part: 'hook' })).toBe(1);
    expect(valueOf(metrics, 'kawatch_part_start_failures_total', { part: 'peers' })).toBeGreaterThanOrEqual(1);
    // The alert on an unreachable peer has a series to fire on.
    expect(valueOf(metrics, 'kawatch_peer_up', { peer: 'lb2' })).toBe(0);
    const failures = output.split('\n').filter((l) => l.includes('part failed to start'));
    expect(failures.length).toBe(1);
    expect(JSON.parse(failures[0]!)).toMatchObject({ part: 'peers', error: expect.stringContaining('chmod 600') });
  });
});
