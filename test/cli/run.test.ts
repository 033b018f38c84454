import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeWithPrereqs } from '../support/prereq.js';
import { parseExposition, valueOf, type Sample } from '../support/metrics.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';

const launcher = new URL('../../bin/kawatch', import.meta.url).pathname;
const cli = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

let dir: string;
let child: ChildProcess | undefined;
let output = '';


function config(port: number, extra = ''): string {
  return [
    'node_name: lb-test',
    `state_dir: ${dir}/state`,
    `listen: 127.0.0.1:${port}`,
    `keepalived: { pid_file: ${dir}/keepalived.pid }`,
    'sources:',
    `  hook: { spool_dir: ${dir}/spool }`,
    '  netlink: { enabled: false }',
    '  dump: { enabled: false }',
    extra,
  ].join('\n');
}

const answers = async (port: number) => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-run-'));
  output = '';
});
afterEach(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describeWithPrereqs('kawatch run (the built CLI)', { files: [cli] }, () => {
  it('reports every problem of a bad file with file:line and exits 2', async () => {
    writeFileSync(join(dir, 'k.yml'), 'listen: nowhere\nsources:\n  hook: { spool: /x }\n');
    const run = spawn(launcher, ['run', '--config', join(dir, 'k.yml')]);
    let stderr = '';
    run.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((r) => run.on('exit', r));
    expect(code).toBe(2);
    expect(stderr).toContain(`${join(dir, 'k.yml')}:1: listen: expected HOST:PORT`);
    expect(stderr).toContain(`${join(dir, 'k.yml')}:3: sources.hook: unknown key "spool"`);
  });

  it('reloads on SIGHUP, keeps running on an invalid reload, and stops cleanly on SIGTERM', async () => {
    const [first, second] = [await freePort(), await freePort()];
    const file = join(dir, 'k.yml');
    writeFileSync(file, config(first));
    child = spawn(launcher, ['run', '--config', file]);
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(() => answers(first), 'the daemon on its first port');

    writeFileSync(file, config(second));
    child.kill('SIGHUP');
    await waitFor(() => answers(second), 'the daemon on the reloaded port');
    expect(await answers(first)).toBe(false);

    writeFileSync(file, config(second, '  fifo: { paths: [relative] }'));
    child.kill('SIGHUP');
    await waitFor(() => output.includes('reload rejected'), 'the rejected reload in the log');
    expect(output).toContain(`${file}:9: sources.fifo.paths.0: expected an absolute path`);
    expect(await answers(second)).toBe(true);

    const code = new Promise((r) => child!.on('exit', r));
    child.kill('SIGTERM');
    expect(await code).toBe(0);
    const lines = output.trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg).slice(-2)).toEqual(['stopping', 'stopped']);
  });
});

/**
 * What an attacker who can write to the directories kawatch uses would plant there, against the
 * real daemon: links to a file elsewhere and to /dev/zero, FIFOs, oversized files, poisoned state.
 */
describeWithPrereqs('kawatch run against planted files', { files: [cli], root: true, commands: ['mkfifo'] }, () => {
  const SECRET = 'not kawatch\'s to read or write\n';

  function plant(): { outside: string } {
    const outside = join(dir, 'outside');
    writeFileSync(outside, SECRET);
    for (const sub of ['state', 'spool', 'run', 'tmp', 'track', 'state/outbox']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
    // Spool: a FIFO, links to /dev/zero and to a file elsewhere, an oversized file, and one real hook call.
    execFileSync('mkfifo', [join(dir, 'spool', '00000000000000000001-1.event')]);
    symlinkSync('/dev/zero', join(dir, 'spool', '00000000000000000002-1.event'));
    symlinkSync(outside, join(dir, 'spool', '00000000000000000003-1.event'));
    writeFileSync(join(dir, 'spool', '00000000000000000004-1.event'), Buffer.alloc(1 << 20, 'A'));
    expect(spawnSync(launcher, ['notify', '--spool', join(dir, 'spool'), 'INSTANCE', 'VI_1', 'BACKUP', '100']).status).toBe(0);
    // The FIFO path is a link to /dev/zero; the dump is a link to /dev/zero.
    symlinkSync('/dev/zero', join(dir, 'run', 'keepalived.fifo'));
    symlinkSync('/dev/zero', join(dir, 'tmp', 'keepalived.json'));
    // A journal with a finished self-fencing demotion (restored at once) and a line stamped 1e20; the track file a link.
    const demotion = { at: Date.now() - 1000, action: 'demote', iname: 'VI_1', reason: 'isolated', dryRun: false, restoreAfterMs: 30_000, isolation: true };
    writeFileSync(join(dir, 'state', 'actions.jsonl'), `${JSON.stringify(demotion)}\n${JSON.stringify({ ...demotion, at: 1e20 })}\n`);
    symlinkSync(outside, join(dir, 'track', 'VI_1'));
    // Outbox: a FIFO as pending.json, a message that is a link to /dev/zero, a directory where a temporary file would be.
    execFileSync('mkfifo', [join(dir, 'state', 'outbox', 'pending.json')]);
    symlinkSync('/dev/zero', join(dir, 'state', 'outbox', 'm000000000001-00000000.json'));
    mkdirSync(join(dir, 'state', 'outbox', '.tmp-pending.json.000000000000'));
    return { outside };
  }

  it('keeps running, quarantines what it must, writes through no link, and still stops on SIGTERM', async () => {
    const { outside } = plant();
    const port = await freePort();
    const file = join(dir, 'k.yml');
    const extra = [
      `  fifo: { enabled: true, paths: [${dir}/run/keepalived.fifo], check_interval: 200ms }`,
      `watchdog: { policy: demote, track_dir: ${dir}/track }`,
      `mail: { smtp: { host: 127.0.0.1, port: ${await freePort()}, timeout: 1s }, from: kawatch@example.com, to: [ops@example.com], group_window: 1h }`,
    ].join('\n');
    writeFileSync(file, config(port, extra).replace('  dump: { enabled: false }', `  dump: { trigger: none, path: ${dir}/tmp/keepalived.json, interval: 200ms }`));
    child = spawn(launcher, ['run', '--config', file]);
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const metric = (samples: Sample[], name: string, labels: Record<string, string>) => valueOf(samples, name, labels) ?? 0;
    const samples = await waitFor(async () => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => (r.ok ? r.text() : undefined), () => undefined);
      if (text === undefined) return undefined;
      const s = parseExposition(text);
      const settled =
        metric(s, 'kawatch_source_events_total', { source: 'hook' }) >= 1 &&
        metric(s, 'kawatch_source_rejected_total', { source: 'hook' }) === 4 &&
        metric(s, 'kawatch_persisted_records_quarantined_total', { file: 'outbox-message' }) === 1 &&
        metric(s, 'kawatch_source_errors_total', { source: 'dump' }) >= 2 &&
        metric(s, 'kawatch_source_errors_total', { source: 'fifo' }) >= 1;
      return settled && s;
    }, 'the daemon to read past everything planted', 15_000);
    expect(metric(samples, 'kawatch_persisted_records_quarantined_total', { file: 'actions.jsonl' })).toBe(1);
    expect(metric(samples, 'kawatch_persisted_records_quarantined_total', { file: 'pending.json' })).toBe(1);
    expect(metric(samples, 'kawatch_source_up', { source: 'dump' })).toBe(0);
    await waitFor(() => lstatSync(join(dir, 'track', 'VI_1')).isFile(), 'the restored track file', 5000);
    expect(readFileSync(join(dir, 'track', 'VI_1'), 'utf8')).toBe('0\n');
    expect(readdirSync(join(dir, 'spool', 'rejected'))).toHaveLength(4);
    expect(output).not.toContain('part failed to start');
    expect(output).toContain('is a symbolic link');

    let code: number | null | undefined;
    child.on('exit', (c) => (code = c));
    child.kill('SIGTERM');
    // The mailer's SMTP timeout (1 s) and the parts' own stops bound it; a read stuck on a planted FIFO would not.
    await waitFor(() => code !== undefined, 'the daemon to exit on SIGTERM', 10_000);
    expect(code).toBe(0);
    expect(readFileSync(outside, 'utf8')).toBe(SECRET);
  });
});

