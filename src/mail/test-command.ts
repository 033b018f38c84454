import { ConfigError, loadConfig } from '../config/load.js';
import { VERSION } from '../version.js';
import { deliver, SmtpFailure } from './smtp.js';

export interface MailTestOptions {
  config?: string;
}

interface Output {
  write(text: string): unknown;
}

/** The test message: says where it came from and through what, so the recipient can tell it apart from an alert. */
function testMessage(node: string, subjectPrefix: string, smtp: { host: string; port: number }, now: Date): { subject: string; text: string } {
  return {
    subject: [subjectPrefix, `${node}: test message`].filter(Boolean).join(' '),
    text: [
      `This is a test message from kawatch ${VERSION} on ${node}, sent at ${now.toISOString()}`,
      `through ${smtp.host}:${smtp.port} by \`kawatch mail test\`.`,
      '',
      'Alerts from this director will arrive the same way. Nothing needs to be done.',
      '',
    ].join('\n'),
  };
}

/**
 * `kawatch mail test`: one message through the configured SMTP settings right away, not through
 * the outbox, and the server's answer. 0 when every recipient was accepted, 1 otherwise.
 */
export async function runMailTest(opts: MailTestOptions, stdout: Output = process.stdout, stderr: Output = process.stderr): Promise<number> {
  let config;
  try {
    config = await loadConfig(opts.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr.write(`kawatch: invalid configuration:\n${err.message}\n`);
    return 1;
  }
  const mail = config.mail;
  if (!mail) {
    stderr.write(`kawatch: ${opts.config ?? 'the configuration (no --config given)'} has no mail section; see README "Email"\n`);
    return 1;
  }
  const { host, port } = mail.smtp;
  try {
    const answer = await deliver(mail, config.node_name, testMessage(config.node_name, mail.subject_prefix, mail.smtp, new Date()));
    stdout.write(`${host}:${port} answered: ${answer.response}\naccepted: ${answer.accepted.join(', ') || '(none)'}\n`);
    if (answer.rejected.length === 0) return 0;
    stderr.write(`kawatch: mail test: ${host}:${port} refused ${answer.rejected.join(', ')}\n`);
    return 1;
  } catch (err) {
    const reply = err instanceof SmtpFailure && err.responseCode !== undefined ? ` (SMTP reply ${err.responseCode})` : '';
    stderr.write(`kawatch: mail test through ${host}:${port} failed: ${(err as Error).message}${reply}\n`);
    return 1;
  }
}
