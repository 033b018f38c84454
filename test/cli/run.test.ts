import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeWithPrereqs } from '../support/prereq.js';
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
