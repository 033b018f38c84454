import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { planLab } from '../../src/lab/plan.js';
import { renderKawatchConfig } from '../../src/lab/render.js';
import { readPasswordFile, transportOptions } from '../../src/mail/smtp.js';
import { runMailTest } from '../../src/mail/test-command.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { freePort } from '../support/net.js';
import { mailConfig, startSmtpServer, type TestSmtpServer } from './support.js';

const PASSWORD = 'S3cret-smtp-Pa55';
const launcher = new URL('../../bin/kawatch', import.meta.url).pathname;
const cli = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const run = promisify(execFile);

let dir: string;
let server: TestSmtpServer | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-smtp-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function passwordFile(mode: number, content = `${PASSWORD}\n`): string {
  const file = join(dir, 'smtp.password');
  writeFileSync(file, content);
  chmodSync(file, mode);
  return file;
}

function configFile(port: number, smtpExtra = ''): string {
  const file = join(dir, 'kawatch.yml');
  writeFileSync(
    file,
    ['node_name: lb1', 'mail:', `  smtp: { host: 127.0.0.1, port: ${port}, timeout: 2s${smtpExtra} }`, '  from: kawatch@lb1.example.com', '  to: [ops@example.com, noc@example.com]', ''].join('\n'),
  );
  return file;
}

function capture(): { write(text: string): void; text: () => string } {
  let text = '';
  return { write: (t: string) => void (text += t), text: () => text };
}

describe('the SMTP password file', () => {
  it('is refused when group or others can read it, with how to fix it', async () => {
    const file = passwordFile(0o644);
    await expect(readPasswordFile(file)).rejects.toThrow(`SMTP password file ${file} is open to group or others (mode 644); run chmod 600 ${file}`);
  });

  it('is read without its final newline, and must not be empty', async () => {
    expect(await readPasswordFile(passwordFile(0o600))).toBe(PASSWORD);
    await expect(readPasswordFile(passwordFile(0o600, '\n'))).rejects.toThrow(/is empty/);
    await expect(readPasswordFile(join(dir, 'missing'))).rejects.toThrow(/SMTP password file .*missing: ENOENT/);
  });
});

describe('the mail section', () => {
  const parse = (mail: string) => parseConfig(`node_name: lb1\nmail:\n${mail}`, 'k.yml');

  it('fills in the defaults', () => {
    const mail = parse('  smtp: { host: mx.example.com }\n  from: k@example.com\n  to: [ops@example.com]\n').mail!;
    expect(mail).toEqual({
      smtp: { host: 'mx.example.com', port: 25, secure: false, starttls: 'opportunistic', timeout: 10_000 },
      from: 'k@example.com',
      to: ['ops@example.com'],
      subject_prefix: '[kawatch]',
      events: ['transition', 'verdict', 'action', 'peer'],
      group_window: 30_000,
      max_per_hour: 20,
      retry: { initial: 5000, max: 600_000 },
    });
  });

  it('reports bad addresses, a password without a user and a short retry.max, each on its line', () => {
    const text = [
      '  smtp: { host: mx.example.com, auth_password_file: /etc/kawatch/smtp.password }',
      '  from: not-an-address',
      '  to: [ops@example.com, "ops at example"]',
      '  retry: { initial: 1m, max: 10s }',
      '',
    ].join('\n');
    const err = (() => {
      try {
        parse(text);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(err.message).toContain('k.yml:4: mail.from: expected a plain email address');
    expect(err.message).toContain('k.yml:5: mail.to.1: expected a plain email address');
    expect(err.message).toContain('k.yml:3: mail.smtp.auth_user: auth_password_file needs auth_user');
    expect(err.message).toContain('k.yml:6: mail.retry: retry.max must not be shorter than retry.initial');
  });
});

describe("the lab's kawatch.yml", () => {
  it('sends each daemon\'s mail to the recorder address its node reaches', () => {
    const plan = planLab('kwtmail', '/run/kawatch-lab/kwtmail', 2);
    const [lb1] = plan.nodes;
    const mail = parseConfig(renderKawatchConfig(plan, lb1!, 'alert', '198.18.2.17:2525'), 'lb1/kawatch.yml').mail!;
    expect(mail.smtp).toMatchObject({ host: '198.18.2.17', port: 2525 });
    expect(mail.from).toBe('kawatch@lb1.kwtmail.test');
    expect(parseConfig(renderKawatchConfig(plan, lb1!), 'lb1/kawatch.yml').mail).toBeUndefined();
  });
});

describe('transport options', () => {
  const smtp = (starttls: 'required' | 'opportunistic' | 'off', auth = false) => mailConfig(25, { smtp: { starttls, ...(auth ? { auth_user: 'u', auth_password_file: '/p' } : {}) } }).smtp;

  it('maps starttls onto nodemailer, never falling back to plain text with a password', () => {
    expect(transportOptions(smtp('required'), undefined)).toMatchObject({ requireTLS: true, ignoreTLS: false, opportunisticTLS: false });
    expect(transportOptions(smtp('off'), undefined)).toMatchObject({ requireTLS: false, ignoreTLS: true, opportunisticTLS: false });
    expect(transportOptions(smtp('opportunistic'), undefined)).toMatchObject({ requireTLS: false, ignoreTLS: false, opportunisticTLS: true });
    expect(transportOptions(smtp('opportunistic', true), 'pw')).toMatchObject({ opportunisticTLS: false, auth: { user: 'u', pass: 'pw' } });
    expect(transportOptions(smtp('off'), undefined)).toMatchObject({ connectionTimeout: 2000, greetingTimeout: 2000, socketTimeout: 2000 });
  });
});

describe('kawatch mail test', () => {
  it('sends right away and prints the answer', async () => {
    server = await startSmtpServer({ auth: { user: 'kawatch', pass: PASSWORD } });
    const file = configFile(server.port, `, auth_user: kawatch, auth_password_file: ${passwordFile(0o600)}`);
    const [out, err] = [capture(), capture()];
    expect(await runMailTest({ config: file }, out, err)).toBe(0);
    expect(out.text()).toBe(`127.0.0.1:${server.port} answered: 250 queued as test\naccepted: ops@example.com, noc@example.com\n`);
    expect(err.text()).toBe('');
    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.subject).toBe('[kawatch] lb1: test message');
    expect(server.received[0]!.user).toBe('kawatch');
    expect(server.received[0]!.text).not.toContain(PASSWORD);
  });

  it('fails with the reason: a password file open to others, a wrong password, nobody listening, no mail section', async () => {
    server = await startSmtpServer({ auth: { user: 'kawatch', pass: 'another password' } });
    const attempt = async (file: string) => {
      const [out, err] = [capture(), capture()];
      const code = await runMailTest({ config: file }, out, err);
      expect(out.text() + err.text()).not.toContain(PASSWORD);
      return { code, err: err.text() };
    };

    const open = await attempt(configFile(server.port, `, auth_user: kawatch, auth_password_file: ${passwordFile(0o644)}`));
    expect(open).toEqual({ code: 1, err: expect.stringContaining('is open to group or others (mode 644); run chmod 600') });
    expect(server.received).toHaveLength(0);

    const wrong = await attempt(configFile(server.port, `, auth_user: kawatch, auth_password_file: ${passwordFile(0o600)}`));
    expect(wrong).toEqual({ code: 1, err: expect.stringMatching(new RegExp(`^kawatch: mail test through 127\\.0\\.0\\.1:${server.port} failed: .*535.* \\(SMTP reply 535\\)\\n$`)) });

    const nobody = await attempt(configFile(await freePort()));
    expect(nobody).toEqual({ code: 1, err: expect.stringMatching(/failed: .*ECONNREFUSED/) });

    writeFileSync(join(dir, 'none.yml'), 'node_name: lb1\n');
    expect(await attempt(join(dir, 'none.yml'))).toEqual({ code: 1, err: `kawatch: ${join(dir, 'none.yml')} has no mail section; see README "Email"\n` });
  });
});

describeWithPrereqs('kawatch mail test (the built CLI)', { files: [cli] }, () => {
  it('exits 0 with the server answer, and 1 with the reason', async () => {
    server = await startSmtpServer();
    const ok = await run(launcher, ['mail', 'test', '--config', configFile(server.port)]);
    expect(ok.stdout).toContain(`127.0.0.1:${server.port} answered: 250 queued as test`);
    expect(server.received).toHaveLength(1);

    server.refuseWith = 451;
    const refused = await run(launcher, ['mail', 'test', '--config', configFile(server.port)]).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toMatch(/failed: .*451.*\(SMTP reply 451\)/);
  });
});
