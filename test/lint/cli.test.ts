import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatHuman, formatJson } from '../../src/lint/format.js';
import { exitCode, lintFiles } from '../../src/lint/lint.js';
import { describeWithPrereqs } from '../support/prereq.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/keepalived-conf/', import.meta.url));
const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const bad = (name: string) => join(FIXTURES, 'bad', name);
const pair = [1, 2].map((n) => join(FIXTURES, 'good', 'pair', `lb${n}.conf`));

function kawatch(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [cli, ...args], (err, stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, stdout, stderr }));
  });
}

describe('exit code', () => {
  it('is 0 when nothing reaches the threshold, 1 when something does, 2 when an input cannot be read', async () => {
    const warningsOnly = await lintFiles([bad('nopreempt-master.conf')]);
    expect(exitCode(warningsOnly, 'error')).toBe(0);
    expect(exitCode(warningsOnly, 'warning')).toBe(1);
    expect(exitCode(await lintFiles(pair), 'info')).toBe(0);
    const unreadable = await lintFiles([bad('nopreempt-master.conf'), join(FIXTURES, 'no-such.conf')]);
    expect(unreadable.unreadable).toEqual([{ file: join(FIXTURES, 'no-such.conf'), error: 'ENOENT' }]);
    expect(exitCode(unreadable, 'error')).toBe(2);
  });
});

describe('output', () => {
  it('json: one array of {file,line,severity,code,message,fix}, related places for findings spanning directors', async () => {
    const result = await lintFiles([join(FIXTURES, 'bad/cross/vrid-lb1.conf'), join(FIXTURES, 'bad/cross/vrid-lb2.conf')]);
    const parsed = JSON.parse(formatJson(result)) as Record<string, unknown>[];
    expect(parsed).toEqual([
      {
        file: join(FIXTURES, 'bad/cross/vrid-lb1.conf'),
        line: 5,
        severity: 'error',
        code: 'cross-vrid-mismatch',
        message: expect.stringMatching(/different virtual_router_id/),
        fix: expect.any(String),
        related: [{ file: join(FIXTURES, 'bad/cross/vrid-lb2.conf'), line: 5 }],
      },
    ]);
  });

  it('never shows an auth_pass', async () => {
    const result = await lintFiles([bad('auth-pass-truncated.conf'), join(FIXTURES, 'bad/cross/auth-lb1.conf'), join(FIXTURES, 'bad/cross/auth-lb2.conf')]);
    const text = formatJson(result) + formatHuman(result, false);
    for (const secret of ['123456789', 'pw1', 'pw2']) expect(text).not.toContain(secret);
    expect(result.findings.map((f) => f.code)).toEqual(expect.arrayContaining(['auth-pass-truncated', 'cross-auth-mismatch']));
  });

  it('human: grouped by file, coloured only when asked, with the multi-master map', async () => {
    const result = await lintFiles([1, 2].map((n) => join(FIXTURES, 'bad', 'cross', `prio-lb${n}.conf`)));
    const plain = formatHuman(result, false);
    expect(plain).not.toContain('\u001b[');
    expect(plain).toMatch(/prio-lb1\.conf\n +6 +warning +vrrp_instance VI_1 has equal priorities/);
    expect(plain).toMatch(/VI_1 +vrid 51 +→ undecided \(equal priorities\)/);
    expect(formatHuman(result, true)).toContain('\u001b[33mwarning');
    expect(formatHuman(await lintFiles(pair), false)).toMatch(/VI_WEB +vrid 51 +→ .*good\/pair\/lb1\.conf/);
  });
});

describeWithPrereqs('kawatch lint', { files: [cli] }, () => {
  it('exits 1 with findings as JSON, 0 on a clean pair, 2 on an unreadable file', async () => {
    const findings = await kawatch(['lint', '--format', 'json', bad('invalid-value.conf')]);
    expect(findings.code).toBe(1);
    expect((JSON.parse(findings.stdout) as { code: string }[]).every((f) => f.code === 'invalid-value')).toBe(true);
    const clean = await kawatch(['lint', ...pair]);
    expect(clean).toMatchObject({ code: 0, stdout: expect.stringMatching(/0 error\(s\), 0 warning\(s\)/) });
    const missing = await kawatch(['lint', join(FIXTURES, 'no-such.conf')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*no-such\.conf: ENOENT/);
  });

  it('--severity error lets warnings pass; --config-id picks the @ID lines', async () => {
    expect((await kawatch(['lint', '--severity', 'error', bad('nopreempt-master.conf')])).code).toBe(0);
    const conditional = join(FIXTURES, 'good', 'includes', 'keepalived.conf');
    expect((await kawatch(['lint', '--config-id', 'lb2', '--severity', 'info', conditional])).code).toBe(0);
    const both = await kawatch(['lint', '--config-id', 'lb1,lb2', join(FIXTURES, 'bad', 'conditional', 'keepalived.conf')]);
    expect(both.code).toBe(1);
    expect(both.stdout).toMatch(/VI_1 +vrid 51 +→ undecided/);
  });
});
