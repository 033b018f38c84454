import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
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
    // The track directory in the test's own tree, never /run/kawatch, unless the test names its own.
    ...(extra.includes('watchdog:') ? [] : [`watchdog: { track_dir: ${dir}/track }`]),
  ].join('\n');
}

/** "Billion laughs": each line ten aliases of the one before. */
const ALIAS_BOMB = ['x0: &x0 [a, a, a, a, a, a, a, a, a, a]', ...[1, 2, 3, 4, 5, 6, 7].map((i) => `x${i}: &x${i} [${Array(10).fill(`*x${i - 1}`).join(', ')}]`)].join('\n');

function startDaemon(file: string): ChildProcess {
  // A small heap: should a reload ever expand something unbounded again, this daemon dies fast instead of taking the machine's memory.
  const daemon = spawn(launcher, ['run', '--config', file], { env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=256' } });
  daemon.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return daemon;
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

  it('keeps the running configuration whatever makes a reload fail, and still reloads a good file after', async () => {
    const [port, next] = [await freePort(), await freePort()];
    const file = join(dir, 'k.yml');
    writeFileSync(file, config(port));
    child = startDaemon(file);
    await waitFor(() => answers(port), 'the daemon');
    const busy = createServer().listen(next, '127.0.0.1');
    await once(busy, 'listening');
    try {
      const rejected: [string, string][] = [
        // node-cron would expand this range into billions of values.
        [config(port, 'jobs:\n  audit: "*4294967296/30 * * * *"'), `${file}:10: jobs.audit: not a valid cron expression: minute "*4294967296/30" is not a cron field`],
        [config(port, 'jobs:\n  digest: *morning'), `${file}:10: YAML: alias *morning names no anchor before it`],
        [`${config(port)}\n${ALIAS_BOMB}`, `${file}:12: YAML: the aliases would expand to too many values`],
        [config(port).replace(`listen: 127.0.0.1:${port}`, 'listen: 127.0.0.1:99999'), `${file}:3: listen: port 99999 is out of range: expected HOST:PORT with a port in 0-65535`],
        // Valid, but the address is taken: the daemon stays on the one it has.
        [config(next), `127.0.0.1:${next}`],
      ];
      for (const [text, problem] of rejected) {
        writeFileSync(file, text);
        const before = output.length;
        child.kill('SIGHUP');
        await waitFor(() => output.slice(before).includes('reload rejected'), `the rejected reload (${problem})`);
        expect(output.slice(before)).toContain(JSON.stringify(problem).slice(1, -1));
        expect(child.exitCode).toBeNull();
        expect(await answers(port)).toBe(true);
      }
    } finally {
      busy.close();
    }
    writeFileSync(file, config(next));
    child.kill('SIGHUP');
    await waitFor(() => answers(next), 'the daemon on the reloaded port');
    expect(await answers(port)).toBe(false);
  });

  it('keeps running with instances named like members of Object.prototype, from the hook', async () => {
    const port = await freePort();
    const file = join(dir, 'k.yml');
    writeFileSync(file, config(port));
    child = startDaemon(file);
    await waitFor(() => answers(port), 'the daemon');
    for (const name of ['constructor', '__proto__', 'toString']) {
      const notify = spawn(launcher, ['notify', 'INSTANCE', name, 'MASTER', '100'], { env: { ...process.env, KAWATCH_SPOOL_DIR: join(dir, 'spool') } });
      expect(await new Promise((r) => notify.on('exit', r))).toBe(0);
    }
    const instances = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/state`).catch(() => undefined);
      return res?.ok ? Object.keys(((await res.json()) as { instances: object }).instances).sort() : [];
    };
    await waitFor(async () => (await instances()).length === 3, 'the three instances in the state');
    expect(await instances()).toEqual(['__proto__', 'constructor', 'toString']);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const name of ['constructor', '__proto__', 'toString']) expect(metrics).toContain(`keepalived_vrrp_instance_state{iname="${name}",intf="",vrid=""} 2`);
    expect(child.exitCode).toBeNull();
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

