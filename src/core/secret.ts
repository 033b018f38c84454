import { readFile, stat } from 'node:fs/promises';

const MIN_SECRET_BYTES = 16;

/** A shared secret, from a file only its owner can read (like an ssh key). */
export async function readSecret(file: string): Promise<Buffer> {
  const info = await stat(file).catch((err: Error) => {
    throw new Error(`peer secret ${file}: ${err.message}`);
  });
  if ((info.mode & 0o077) !== 0) throw new Error(`peer secret ${file} is readable by others (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${file}`);
  const secret = Buffer.from((await readFile(file, 'utf8')).trim(), 'utf8');
  if (secret.length < MIN_SECRET_BYTES) {
    throw new Error(`peer secret ${file} is shorter than ${MIN_SECRET_BYTES} bytes; make one with: head -c 32 /dev/urandom | base64 > ${file}`);
  }
  return secret;
}
