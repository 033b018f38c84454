import { readdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { parseConfig } from '../../src/config/load.js';
import type { MailConfig } from '../../src/mail/event.js';
import type { RecordedEnvelope } from '../../src/lab/mail-recorder.js';

/** A message as a reader sees it: decoded headers and text. */
export interface ParsedMail {
  headers: Map<string, string>;
  subject: string;
  messageId: string;
  text: string;
}

function decodeQuotedPrintable(body: string): string {
  const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Enough of RFC 5322/2045 for what nodemailer writes: unfolded headers, 7bit/QP/base64 text. */
export function parseMail(raw: string): ParsedMail {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n(?=[ \t])/g, '');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const body = raw.slice(split + 4);
  const encoding = headers.get('content-transfer-encoding') ?? '7bit';
  const text = encoding === 'quoted-printable' ? decodeQuotedPrintable(body) : encoding === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body;
  return { headers, subject: headers.get('subject') ?? '', messageId: headers.get('message-id') ?? '', text: text.replace(/\r\n/g, '\n') };
}

export interface ReceivedMail extends ParsedMail {
  mailFrom: string;
  rcptTo: string[];
  user?: string;
}

export interface TestSmtpServer {
  port: number;
  received: ReceivedMail[];
  /**
   * What the server saw, in order, with whether the connection was encrypted at that point:
   * `tls` (a handshake completed, STARTTLS or implicit), `auth over tls`, `auth in plain text`,
   * `mail over tls`, `mail in plain text` (a MAIL FROM).
   */
  seen: string[];
  /** Errors of connections (e.g. a client that gave up on the certificate during the handshake). */
  errors: string[];
  /** While set, every MAIL FROM is answered with this reply code (a 4xx: "try again later"). */
  refuseWith?: number;
  close(): Promise<void>;
}

export interface TestSmtpServerOptions {
  port?: number;
  host?: string;
  auth?: { user: string; pass: string };
  /**
   * With a certificate the server offers STARTTLS (and, `implicit`, speaks TLS from the first
   * byte); without one it offers no TLS at all. AUTH is offered either way, so a client that sends
   * a password in plain text is seen doing so.
   */
  tls?: { key: string; cert: string; implicit?: boolean };
}

const encrypted = (secure: boolean) => (secure ? 'over tls' : 'in plain text');

/** A real SMTP server on 127.0.0.1 that keeps what it accepts; AUTH PLAIN/LOGIN checked against `auth`. */
export async function startSmtpServer(options: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const handle: TestSmtpServer = { port: 0, received: [], seen: [], errors: [], close: async () => {} };
  const server = new SMTPServer({
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert, secure: options.tls.implicit === true } : { disabledCommands: ['STARTTLS'] }),
    allowInsecureAuth: true,
    authOptional: options.auth === undefined,
    logger: false,
    onSecure(_socket, _session, callback) {
      handle.seen.push('tls');
      callback();
    },
    onAuth(auth, session, callback) {
      handle.seen.push(`auth ${encrypted(session.secure)}`);
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) callback(null, { user: auth.username });
      else callback(Object.assign(new Error('authentication failed'), { responseCode: 535 }));
    },
    onMailFrom(_address, session, callback) {
      handle.seen.push(`mail ${encrypted(session.secure)}`);
      if (handle.refuseWith !== undefined) callback(Object.assign(new Error('try again later'), { responseCode: handle.refuseWith }));
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        handle.received.push({
          ...parseMail(raw),
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : undefined,
        });
        callback(null, 'queued as test');
      });
    },
  });
  server.on('error', (err: Error) => handle.errors.push(err.message));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const net = server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      handle.port = (net.address() as AddressInfo).port;
      resolve();
    });
  });
  handle.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return handle;
}

/** A mail section through the real schema, so tests use what an operator's file would give. */
export function mailConfig(port: number, extra: Record<string, unknown> = {}): MailConfig {
  const mail = {
    smtp: { host: '127.0.0.1', port, timeout: '2s', ...((extra.smtp as object | undefined) ?? {}) },
    from: 'kawatch@lb1.example.com',
    to: ['ops@example.com'],
    group_window: '100ms',
    retry: { initial: '50ms', max: '200ms' },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'smtp')),
  };
  return parseConfig(JSON.stringify({ node_name: 'lb1', mail }), 'test.yml').mail!;
}

export interface RecordedMail extends ParsedMail {
  envelope: RecordedEnvelope;
}

/** What the lab's mail recorder has stored: each `.json` envelope (written last) with its `.eml`. */
export async function readRecordedMail(dir: string): Promise<RecordedMail[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  return Promise.all(
    names.map(async (name) => {
      const envelope = JSON.parse(await readFile(join(dir, name), 'utf8')) as RecordedEnvelope;
      return { envelope, ...parseMail(await readFile(join(dir, envelope.message), 'utf8')) };
    }),
  );
}
