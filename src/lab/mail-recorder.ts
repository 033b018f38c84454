import { mkdir, rename, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

/** What the recorder knows of one message besides its text; written next to it as `<name>.json`. */
export interface RecordedEnvelope {
  receivedAt: string;
  mailFrom: string | null;
  rcptTo: string[];
  remoteAddress: string;
  localAddress: string;
  /** The user name a client authenticated with, if it did (any credentials are accepted). */
  user?: string;
  size: number;
  /** The raw RFC 822 message, in the same directory. */
  message: string;
}

export interface MailRecorderOptions {
  dir: string;
  /** Addresses to listen on, all with the same port. */
  hosts: readonly string[];
  /** 0 picks a free port on the first host. */
  port?: number;
  maxMessageBytes?: number;
  log?: (line: string) => void;
}

export interface MailRecorder {
  port: number;
  hosts: readonly string[];
  close(): Promise<void>;
}

const DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
const CLOSE_TIMEOUT_MS = 1000;

/** Names sort in arrival order; the sequence keeps two messages of one millisecond apart. */
export function messageBaseName(receivedAt: number, sequence: number): string {
  return `${String(receivedAt).padStart(13, '0')}-${String(sequence).padStart(6, '0')}`;
}

async function writeAtomically(dir: string, name: string, data: string | Buffer): Promise<void> {
  const tmp = join(dir, `.tmp-${name}`);
  await writeFile(tmp, data);
  await rename(tmp, join(dir, name));
}

function listen(server: SMTPServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const net = server.listen(port, host, () => {
      server.off('error', reject);
      resolve((net.address() as AddressInfo).port);
    });
  });
}

/**
 * An SMTP server that accepts every message (no TLS, authentication optional and never refused)
 * and stores it as `<name>.eml` (raw) then `<name>.json` (envelope): a `.json` file means its
 * message is complete, so readers watch for those.
 */
export async function startMailRecorder(options: MailRecorderOptions): Promise<MailRecorder> {
  const { dir, hosts } = options;
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const log = options.log ?? (() => {});
  if (hosts.length === 0) throw new Error('the mail recorder needs at least one address to listen on');
  await mkdir(dir, { recursive: true });
  let sequence = 0;

  const store = async (raw: Buffer, session: SMTPServerSession): Promise<string> => {
    const receivedAt = Date.now();
    const base = messageBaseName(receivedAt, sequence++);
    const envelope: RecordedEnvelope = {
      receivedAt: new Date(receivedAt).toISOString(),
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
      rcptTo: session.envelope.rcptTo.map((r: SMTPServerAddress) => r.address),
      remoteAddress: session.remoteAddress,
      localAddress: session.localAddress,
      user: typeof session.user === 'string' ? session.user : undefined,
      size: raw.length,
      message: `${base}.eml`,
    };
    await writeAtomically(dir, `${base}.eml`, raw);
    await writeAtomically(dir, `${base}.json`, `${JSON.stringify(envelope, null, 2)}\n`);
    log(`received ${base}.eml from ${envelope.remoteAddress}: ${envelope.mailFrom ?? '<>'} -> ${envelope.rcptTo.join(', ')} (${raw.length} bytes)`);
    return base;
  };

  const onData = (stream: SMTPServerDataStream, session: SMTPServerSession, done: (err?: Error | null, message?: string) => void) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    stream.on('end', () => {
      if (stream.sizeExceeded || size > maxBytes) {
        done(Object.assign(new Error(`message larger than ${maxBytes} bytes`), { responseCode: 552 }));
        return;
      }
      store(Buffer.concat(chunks), session).then(
        (base) => done(null, `recorded as ${base}`),
        (err: Error) => done(Object.assign(new Error(`cannot record: ${err.message}`), { responseCode: 451 })),
      );
    });
  };

  const servers = hosts.map(
    () =>
      new SMTPServer({
        name: 'kawatch-lab-mail-recorder',
        authOptional: true,
        // Plain SMTP only: a client must not try STARTTLS against a certificate nobody trusts.
        disabledCommands: ['STARTTLS'],
        allowInsecureAuth: true,
        size: maxBytes,
        logger: false,
        closeTimeout: CLOSE_TIMEOUT_MS,
        onAuth: (auth, _session, callback) => callback(null, { user: auth.username ?? auth.method }),
        onData,
      }),
  );
  const close = () => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
  try {
    const port = await listen(servers[0]!, options.port ?? 0, hosts[0]!);
    for (let i = 1; i < hosts.length; i++) await listen(servers[i]!, port, hosts[i]!);
    return { port, hosts, close };
  } catch (err) {
    await close();
    throw err;
  }
}
