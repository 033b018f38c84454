import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readChecked, writeAtomic } from './safe-file.js';

/**
 * The bearer token of the daemon's mutating API routes (a drill moves an instance): written at
 * start into state_dir with mode 600, so only who may read the daemon's own state — root on this
 * director, the `kawatch` commands it runs — can use them, whatever address the API listens on.
 */
export const API_TOKEN_FILE = 'api.token';

export async function writeApiToken(stateDir: string): Promise<string> {
  const token = randomBytes(32).toString('hex');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeAtomic(join(stateDir, API_TOKEN_FILE), `${token}\n`, 0o600);
  return token;
}

export async function readApiToken(stateDir: string): Promise<string> {
  return (await readChecked(join(stateDir, API_TOKEN_FILE), { maxBytes: 1024 })).toString('utf8').trim();
}

/** `Authorization: Bearer TOKEN` against the expected token, in constant time. */
export function bearerMatches(header: string | undefined, token: string | undefined): boolean {
  if (!token || !header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length).trim());
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
