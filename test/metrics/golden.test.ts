import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { expectGolden } from '../support/golden.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { silentLog } from '../support/log.js';
import { writeSpoolFixture } from '../support/spool.js';
import { waitFor } from '../support/wait.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const goldenFile = join(fixtures, 'golden/metrics.prom');
const run = promisify(execFile);

/** Values that depend on when the test runs, not on what the daemon was fed. */
export function normalise(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^(\w+_timestamp_seconds\{[^}]*\}) \S+$/, '$1 <timestamp>').replace(/^(kawatch_build_info\{)version="[^"]*"/, '$1version="<version>"'))
    .join('\n');
}

let dir: string;
let daemon: Daemon;
let metrics: string;

describeWithPrereqs('golden /metrics on fixtures', { commands: ['mkfifo'] }, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-golden-'));
    // A procfs tree where pid 4242 is keepalived.
    mkdirSync(join(dir, 'proc/4242'), { recursive: true });
    writeFileSync(join(dir, 'proc/4242/stat'), '4242 (keepalived) S 1 4242 4242 0 -1 4194560 164 0 0 0 0 0 0 0 20 0 1 0 1234 12345678 1234 18446744073709551615\n');
    writeFileSync(join(dir, 'keepalived.pid'), '4242\n');
    // Not a keepalived that runs, a script that answers as the captured 2.2.8 did: the capability
    // series must not depend on the keepalived this machine happens to have installed.
    const captured = join(fixtures, 'keepalived/versions/2.2.8-json');
    writeFileSync(
      join(dir, 'keepalived'),
      `#!/bin/sh\nname=$(printf %s "$1" | sed 's/^--signum=/signum-/; s/^-v$/v/')\ncat "${captured}/$name.stdout"; cat "${captured}/$name.stderr" >&2\n`,
      { mode: 0o755 },
    );
    copyFileSync(join(fixtures, 'keepalived/dump-lb2-after-failover.json'), join(dir, 'keepalived.json'));
    const spool = join(dir, 'spool');
    for (const e of JSON.parse(readFileSync(join(fixtures, 'golden/hook-events.json'), 'utf8')) as { at: number; args: string[] }[]) {
      writeSpoolFixture(spool, e.at, e.args);
    }
    const config = parseConfig(
      [
        'node_name: lb2',
        `state_dir: ${dir}/state`,
        `watchdog: { track_dir: ${dir}/track }`,
        'listen: 127.0.0.1:0',
        `procfs: ${dir}/proc`,
        `keepalived: { pid_file: ${dir}/keepalived.pid, binary: ${dir}/keepalived }`,
        'sources:',
        `  hook: { spool_dir: ${spool} }`,
        `  fifo: { enabled: true, paths: [${dir}/notify.fifo], check_interval: 100ms }`,
        '  netlink: { enabled: false }',
        `  dump: { trigger: none, path: ${dir}/keepalived.json, on_transition: false, interval: 1h }`,
        // The IPVS series have their own golden output (test/ipvs/golden.test.ts).
        'ipvs: { enabled: false }',
      ].join('\n'),
      'golden.yml',
    );
    daemon = new Daemon(config, { log: silentLog, processMetrics: false });
    await daemon.start();
    const lines = [readFileSync(join(fixtures, 'keepalived/fifo-lb2.txt'), 'utf8'), readFileSync(join(fixtures, 'golden/fifo-checker.txt'), 'utf8')].join('');
    writeFileSync(join(dir, 'notify.fifo'), lines);
    const expected = lines.split('\n').filter(Boolean).length;
    await waitFor(() => daemon.store.snapshot.sources.fifo.events === expected, `${expected} FIFO events`);
    const res = await fetch(`http://${daemon.listenAddress}/metrics`);
    metrics = await res.text();
  });

  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches the checked-in output (UPDATE_GOLDEN=1 regenerates it)', () => {
    expectGolden(goldenFile, normalise(metrics), 'npx vitest run test/metrics/golden.test.ts');
  });

  describeWithPrereqs('promtool', { commands: ['promtool'] }, () => {
    it('passes promtool check metrics without a single remark', async () => {
      const child = run('promtool', ['check', 'metrics']);
      child.child.stdin!.end(metrics);
      const { stdout, stderr } = await child;
      expect(stdout + stderr).toBe('');
    });
  });

  it('never shows the VRRP passwords of the dump', () => {
    const dump = readFileSync(join(fixtures, 'keepalived/dump-lb2-after-failover.json'), 'utf8');
    const passwords = [...dump.matchAll(/"auth_data":"([^"]+)"/g)].map((m) => m[1]!);
    expect(passwords.length).toBeGreaterThan(0);
    for (const p of passwords) expect(metrics).not.toContain(p);
  });
});
