import { readFile, stat } from 'node:fs/promises';
import type * as NodeTls from 'node:tls';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
import type { MailConfig } from './event.js';

export type SmtpConfig = MailConfig['smtp'];

/** The SMTP password, from a file only its owner can use (like the peer secret). */
export async function readPasswordFile(file: string): Promise<string> {
  const info = await stat(file).catch((err: Error) => {
    throw new Error(`SMTP password file ${file}: ${err.message}`);
  });
  if ((info.mode & 0o077) !== 0) {
    throw new Error(`SMTP password file ${file} is open to group or others (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${file}`);
  }
  // One line as `echo secret > file` writes it: the final newline is not part of the password.
  const password = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  if (!password) throw new Error(`SMTP password file ${file} is empty`);
  return password;
}

/** The CA file's certificates, checked to be PEM so a wrong file says so rather than failing the handshake. */
export async function readCaFile(file: string): Promise<string> {
  const pem = await readFile(file, 'utf8').catch((err: Error) => {
    throw new Error(`SMTP CA file ${file}: ${err.message}`);
  });
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem)) {
    throw new Error(`SMTP CA file ${file} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)`);
  }
  return pem;
}

export function transportOptions(smtp: SmtpConfig, password: string | undefined, ca?: string): SMTPTransportOptions {
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    // Opportunistic: STARTTLS when offered, and plain text if the server offers none or refuses it (an
    // alert that arrives beats one that does not) — but never with a password to send: then TLS is required.
    requireTLS: smtp.starttls === 'required' || (smtp.starttls === 'opportunistic' && smtp.auth_user !== undefined),
    ignoreTLS: smtp.starttls === 'off',
    opportunisticTLS: smtp.starttls === 'opportunistic' && smtp.auth_user === undefined,
    connectionTimeout: smtp.timeout,
    greetingTimeout: smtp.timeout,
    socketTimeout: smtp.timeout,
    dnsTimeout: smtp.timeout,
    auth: smtp.auth_user === undefined ? undefined : { user: smtp.auth_user, pass: password },
    // Node's `ca` replaces the system's store: keep it, and add the private CA. node:tls only then,
    // and not as an ES module: its namespace would read rootCertificates, which parses Node's whole
    // CA store, and load TLS at the daemon's start (bench/memory.ts).
    tls: ca === undefined ? undefined : { ca: [...(process.getBuiltinModule('node:tls') as typeof NodeTls).rootCertificates, ca] },
    logger: false,
  };
}

export interface OutgoingMail {
  subject: string;
  text: string;
  /** An outbox message id: the Message-ID header is made from it, the same on every attempt. */
  id?: string;
  date?: Date;
}

/** What the server said when it took a message. */
export interface SmtpAnswer {
  response: string;
  accepted: string[];
  rejected: string[];
}

/** A failed delivery, described without any secret. */
export class SmtpFailure extends Error {
  override name = 'SmtpFailure';
  constructor(
    message: string,
    readonly code?: string,
    readonly responseCode?: number,
  ) {
    super(message);
  }
}

/** Message-ID as RFC 5322 wants it: unique left part, the sender's domain on the right. */
function messageIdHeader(id: string, node: string, from: string): string {
  const safeNode = node.replace(/[^A-Za-z0-9-]/g, '-');
  return `<${id}.${safeNode}@${from.slice(from.lastIndexOf('@') + 1)}>`;
}

/** An error's text with the password taken out, should a server ever echo it back. */
function redact(text: string, password: string | undefined): string {
  if (!password) return text;
  return [password, Buffer.from(password).toString('base64')].reduce((t, secret) => t.split(secret).join('<redacted>'), text);
}

function failure(err: unknown, password: string | undefined): SmtpFailure {
  if (err instanceof SmtpFailure) return err;
  const e = err as Error & { code?: string; responseCode?: number };
  // Only the message, code and reply code: nodemailer's `command` field can hold an AUTH line.
  return new SmtpFailure(redact(e.message ?? String(err), password), e.code, e.responseCode);
}

/**
 * One delivery attempt, bounded by `smtp.timeout` as a whole. The password file is read on each
 * attempt, so fixing its mode or rotating it needs no restart. Throws SmtpFailure.
 */
export async function deliver(mail: MailConfig, node: string, message: OutgoingMail, signal?: AbortSignal): Promise<SmtpAnswer> {
  let password: string | undefined;
  let ca: string | undefined;
  try {
    if (mail.smtp.auth_password_file !== undefined) password = await readPasswordFile(mail.smtp.auth_password_file);
  } catch (err) {
    throw new SmtpFailure((err as Error).message, 'EPASSWORDFILE');
  }
  try {
    if (mail.smtp.ca_file !== undefined) ca = await readCaFile(mail.smtp.ca_file);
  } catch (err) {
    throw new SmtpFailure((err as Error).message, 'ECAFILE');
  }
  // Loaded on the first delivery: most of the time a director has nothing to mail, and nodemailer is
  // a good part of an idle daemon's memory.
  const { createTransport } = await import('nodemailer');
  const transport = createTransport(transportOptions(mail.smtp, password, ca));
  try {
    const info = await transport.sendMail({
      from: { name: `kawatch ${node}`, address: mail.from },
      to: mail.to,
      subject: message.subject,
      text: message.text,
      messageId: message.id === undefined ? undefined : messageIdHeader(message.id, node, mail.from),
      date: message.date,
      // RFC 3834: no vacation or out-of-office replies to an alert.
      headers: { 'Auto-Submitted': 'auto-generated', 'X-Kawatch-Node': node },
      signal: AbortSignal.any([AbortSignal.timeout(mail.smtp.timeout), ...(signal ? [signal] : [])]),
    });
    return { response: info.response, accepted: info.accepted.map(String), rejected: info.rejected.map(String) };
  } catch (err) {
    throw failure(err, password);
  } finally {
    transport.close();
  }
}
