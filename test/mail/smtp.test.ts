import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generate as generateCertificate } from 'selfsigned';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { planLab } from '../../src/lab/plan.js';
import { renderKawatchConfig } from '../../src/lab/render.js';
import { readPasswordFile } from '../../src/mail/smtp.js';
import { runMailTest } from '../../src/mail/test-command.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { freePort } from '../support/net.js';
import { startSmtpServer, type TestSmtpServer } from './support.js';

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
      confirm_within: 60_000,
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

// ---- TLS, as a real TLS SMTP server sees it -------------------------------------------------------

/**
 * A self-signed certificate for 127.0.0.1, its own CA. kawatch trusts Node's CA store, to which a
 * private CA is added either with NODE_EXTRA_CA_CERTS (read at process start, so these deliveries
 * run in the built CLI, with and without it) or with `mail.smtp.ca_file`.
 */
async function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  const pems = await generateCertificate([{ name: 'commonName', value: 'kawatch test SMTP server' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

/** Each delivery is one run of the built CLI (a Node start); a test makes up to three. */
const CLI_DELIVERIES = 60_000;

describeWithPrereqs('STARTTLS and implicit TLS against a real TLS SMTP server (the built CLI)', { files: [cli] }, () => {
  let certificate: { key: string; cert: string };
  beforeAll(async () => {
    certificate = await selfSignedCertificate();
  });

  /** `kawatch mail test` with `smtp` added to the mail.smtp line; `trusted`: the server's certificate is a known CA. */
  async function mailTest(port: number, smtp: string, trusted: boolean): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: undefined };
    if (trusted) {
      env.NODE_EXTRA_CA_CERTS = join(dir, 'ca.pem');
      writeFileSync(env.NODE_EXTRA_CA_CERTS, certificate.cert);
    }
    return run(launcher, ['mail', 'test', '--config', configFile(port, smtp)], { env }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
  }
  const withPassword = () => `, auth_user: kawatch, auth_password_file: ${passwordFile(0o600)}`;
  const delivered = (port: number) => ({ code: 0, stdout: expect.stringContaining(`127.0.0.1:${port} answered: 250 queued as test`), stderr: '' });

  it('starttls: required upgrades before AUTH and MAIL, and refuses a server that offers no STARTTLS', async () => {
    server = await startSmtpServer({ auth: { user: 'kawatch', pass: PASSWORD }, tls: certificate });
    expect(await mailTest(server.port, `, starttls: required${withPassword()}`, true)).toEqual(delivered(server.port));
    expect(server.seen).toEqual(['tls', 'auth over tls', 'mail over tls']);
    await server.close();

    server = await startSmtpServer({ auth: { user: 'kawatch', pass: PASSWORD } });
    const refused = await mailTest(server.port, `, starttls: required${withPassword()}`, true);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/failed: Error upgrading connection with STARTTLS/) });
    expect(refused.stderr).not.toContain(PASSWORD);
    expect(server.seen).toEqual([]);
  }, CLI_DELIVERIES);

  it('starttls: opportunistic uses STARTTLS when offered, plain text when not, but never sends a password in plain text', async () => {
    server = await startSmtpServer({ auth: { user: 'kawatch', pass: PASSWORD }, tls: certificate });
    expect(await mailTest(server.port, `, starttls: opportunistic${withPassword()}`, true)).toEqual(delivered(server.port));
    expect(server.seen).toEqual(['tls', 'auth over tls', 'mail over tls']);
    await server.close();

    server = await startSmtpServer();
    expect(await mailTest(server.port, ', starttls: opportunistic', true)).toEqual(delivered(server.port));
    expect(server.seen).toEqual(['mail in plain text']);
    await server.close();

    server = await startSmtpServer({ auth: { user: 'kawatch', pass: PASSWORD } });
    const withSecret = await mailTest(server.port, `, starttls: opportunistic${withPassword()}`, true);
    expect(withSecret).toMatchObject({ code: 1, stderr: expect.stringMatching(/failed: Error upgrading connection with STARTTLS/) });
    expect(server.seen).toEqual([]);
  }, CLI_DELIVERIES);

  it('starttls: off never upgrades, even when the server offers STARTTLS', async () => {
    server = await startSmtpServer({ tls: certificate });
    expect(await mailTest(server.port, ', starttls: off', false)).toEqual(delivered(server.port));
    expect(server.seen).toEqual(['mail in plain text']);
  }, CLI_DELIVERIES);

  it('secure: true speaks TLS from the first byte', async () => {
    server = await startSmtpServer({ auth: { user: 'kawatch', pass: PASSWORD }, tls: { ...certificate, implicit: true } });
    expect(await mailTest(server.port, `, secure: true${withPassword()}`, true)).toEqual(delivered(server.port));
    expect(server.seen).toEqual(['tls', 'auth over tls', 'mail over tls']);
  }, CLI_DELIVERIES);

  it('mail.smtp.ca_file trusts a private CA without NODE_EXTRA_CA_CERTS, and a file that is no PEM says so', async () => {
    server = await startSmtpServer({ auth: { user: 'kawatch', pass: PASSWORD }, tls: certificate });
    const caFile = join(dir, 'private-ca.pem');
    writeFileSync(caFile, certificate.cert);
    expect(await mailTest(server.port, `, starttls: required, ca_file: ${caFile}${withPassword()}`, false)).toEqual(delivered(server.port));
    expect(server.seen).toEqual(['tls', 'auth over tls', 'mail over tls']);

    const notPem = join(dir, 'not-a-ca.pem');
    writeFileSync(notPem, 'hello\n');
    const refused = await mailTest(server.port, `, starttls: required, ca_file: ${notPem}${withPassword()}`, false);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining(`SMTP CA file ${notPem} holds no PEM certificate`) });
    expect(server.received).toHaveLength(1);
  }, CLI_DELIVERIES);

  it('verifies the certificate: one no known CA signed stops the delivery before AUTH, whatever the mode', async () => {
    for (const [smtp, implicit] of [
      [`, starttls: required${withPassword()}`, false],
      [', starttls: opportunistic', false],
      [`, secure: true${withPassword()}`, true],
    ] as const) {
      server = await startSmtpServer({ auth: { user: 'kawatch', pass: PASSWORD }, tls: { ...certificate, implicit } });
      const untrusted = await mailTest(server.port, smtp, false);
      expect(untrusted, smtp).toMatchObject({ code: 1, stderr: expect.stringMatching(/self-signed certificate/) });
      expect(server.seen, smtp).toEqual([]);
      expect(server.received, smtp).toEqual([]);
      await server.close();
      server = undefined;
    }
  }, CLI_DELIVERIES);
});

describe('kawatch mail test', () => {
  // A password in plain text only because these servers offer no TLS and the configs say `starttls: off`
  // (TLS itself: the built CLI's tests above, which can trust a test CA).
  it('sends right away and prints the answer', async () => {
    server = await startSmtpServer({ auth: { user: 'kawatch', pass: PASSWORD } });
    const file = configFile(server.port, `, starttls: off, auth_user: kawatch, auth_password_file: ${passwordFile(0o600)}`);
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

    const open = await attempt(configFile(server.port, `, starttls: off, auth_user: kawatch, auth_password_file: ${passwordFile(0o644)}`));
    expect(open).toEqual({ code: 1, err: expect.stringContaining('is open to group or others (mode 644); run chmod 600') });
    expect(server.received).toHaveLength(0);

    const wrong = await attempt(configFile(server.port, `, starttls: off, auth_user: kawatch, auth_password_file: ${passwordFile(0o600)}`));
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
