import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * kawatch runs as root and reads or writes files in directories that keepalived, an operator or
 * (misconfigured) anyone else can write to. Every such file goes through here: opened without
 * following a symbolic link and without waiting on a FIFO, checked on the open descriptor (type,
 * owner, single link, size) before a byte is read, read with a cap, and written whole through a
 * fresh temporary file, so a planted link or FIFO can neither stall the daemon nor make root
 * read or overwrite another file.
 */

/** Temporary files of `writeAtomic` start with this; a directory's owner may remove leftovers at start. */
export const TEMP_PREFIX = '.tmp-';

/** Who may own what kawatch reads and the directories it uses: root, and the user the daemon runs as. */
export function trustedOwners(): readonly number[] {
  const self = process.getuid?.() ?? 0;
  return self === 0 ? [0] : [0, self];
}

function trustedGroups(): readonly number[] {
  const self = process.getgid?.() ?? 0;
  return self === 0 ? [0] : [0, self];
}

/** A file or directory kawatch refuses to use, with what is wrong and what would be right. */
export class UnsafeFileError extends Error {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = 'UnsafeFileError';
  }
}

export type FileKind = 'file' | 'fifo';

export interface ReadRules {
  /** Larger files are refused before anything is read. */
  maxBytes: number;
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'of an unknown type';
}

/** The checks that need the open descriptor's own status, so what is checked is what is read. */
function checkOpened(path: string, st: Stats, kind: FileKind, maxBytes?: number): void {
  const wanted = kind === 'file' ? st.isFile() : st.isFIFO();
  if (!wanted) throw new UnsafeFileError(path, `is ${kindOf(st)}, expected ${kind === 'file' ? 'a regular file' : 'a FIFO'}; refusing to use it`);
  if (!trustedOwners().includes(st.uid)) {
    throw new UnsafeFileError(path, `is owned by uid ${st.uid}, expected ${trustedOwners().map((u) => `uid ${u}`).join(' or ')}; refusing to use it (remove it, or chown root ${path})`);
  }
  // A second name would let a write here change a file elsewhere, or a read expose one.
  if (kind === 'file' && st.nlink > 1) throw new UnsafeFileError(path, `has ${st.nlink} hard links, expected 1; refusing to use it`);
  if (maxBytes !== undefined && st.size > maxBytes) throw new UnsafeFileError(path, `is ${st.size} bytes, larger than the ${maxBytes} allowed; refusing to read it`);
}

function explainOpenError(path: string, err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code;
  // O_NOFOLLOW on a link in the last component fails with ELOOP (EMLINK on some BSDs).
  if (code === 'ELOOP' || code === 'EMLINK') throw new UnsafeFileError(path, 'is a symbolic link; refusing to follow it');
  throw err;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Reads a whole regular file, or throws: `UnsafeFileError` for a link, a FIFO, a device, a file
 * of another owner or over the cap; the usual errors (ENOENT included) otherwise.
 */
export async function readChecked(path: string, rules: ReadRules): Promise<Buffer> {
  const handle = await open(path, READ_FLAGS).catch((err: unknown) => explainOpenError(path, err));
  try {
    checkOpened(path, await handle.stat(), 'file', rules.maxBytes);
    return await readCapped(handle, path, rules.maxBytes);
  } finally {
    await handle.close();
  }
}

/**
 * `readChecked` without the thread pool, for a file of a few hundred bytes on the path of an event:
 * five round trips through the pool (open, stat, two reads, close) cost more there than the
 * microseconds these calls block the loop. The same checks, the same errors.
 */
export function readCheckedSync(path: string, rules: ReadRules): Buffer {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    explainOpenError(path, err);
  }
  try {
    checkOpened(path, fstatSync(fd), 'file', rules.maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, rules.maxBytes + 1 - total));
      const bytesRead = readSync(fd, chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > rules.maxBytes) throw new UnsafeFileError(path, `grew past the ${rules.maxBytes} bytes allowed while being read; refusing it`);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** The cap holds even for a file that grows between the check and the read. */
async function readCapped(handle: FileHandle, path: string, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - total));
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) break;
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
    if (total > maxBytes) throw new UnsafeFileError(path, `grew past the ${maxBytes} bytes allowed while being read; refusing it`);
  }
  return Buffer.concat(chunks, total);
}

/** Whether a path exists as anything at all (a dangling link included), without following it. */
export async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  return lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

/**
 * Replaces `path` with `data` as one step: a fresh temporary file (never an existing name, never
 * through a link) is written, synced and renamed over it. A link planted at `path` is replaced,
 * not followed; a crash leaves the old content or the new one, never a mix.
 */
export async function writeAtomic(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `${TEMP_PREFIX}${basename(path)}.${randomBytes(6).toString('hex')}`);
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    try {
      await handle.writeFile(data);
      // Renamed before its data reached the disk, a file could come back empty after a power cut.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/**
 * Appends `data` in one write to a regular file of a trusted owner with one link, creating it
 * (mode `mode`) if need be, and syncs it: for append-only journals, where rewriting the whole
 * file for every line would cost more than a torn last line, which their readers skip.
 */
export async function appendChecked(path: string, data: string, mode = 0o600): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  const handle = await open(path, flags, mode).catch((err: unknown) => explainOpenError(path, err));
  try {
    checkOpened(path, await handle.stat(), 'file');
    await handle.write(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Opens a FIFO read-write and non-blocking (the open never waits for a writer, and the pipe never
 * reaches end-of-file when the writer goes away), never through a link; returns the descriptor and
 * the FIFO's inode, both from the descriptor itself.
 */
export function openFifo(path: string): { fd: number; ino: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    explainOpenError(path, err);
  }
  try {
    const st = fstatSync(fd);
    checkOpened(path, st, 'fifo');
    return { fd, ino: st.ino };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * What is wrong with a directory kawatch keeps files in, or undefined when nothing is: it must be
 * a real directory owned by root or the daemon's user, and nobody else may write to it unless the
 * sticky bit stops them replacing others' files (as in /tmp). The same holds for every directory
 * above it, or the directory itself could be swapped.
 */
export async function directoryProblem(dir: string): Promise<string | undefined> {
  const absolute = resolve(dir);
  const chain: string[] = [];
  for (let d = absolute; ; d = dirname(d)) {
    chain.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of chain) {
    const st = await lstat(d);
    const what = d === absolute ? `directory ${d}` : `${d}, a parent of ${absolute},`;
    if (st.isSymbolicLink() && d === absolute) return `${what} is a symbolic link; configure the real path instead`;
    // Links above the directory are the system's own (/var/run → /run), judged by their targets.
    if (st.isSymbolicLink()) continue;
    if (!st.isDirectory()) return `${what} is ${kindOf(st)}, not a directory`;
    const owner = `mode ${octal(st.mode)}, owner uid ${st.uid}, group gid ${st.gid}`;
    if (!trustedOwners().includes(st.uid)) return `${what} is owned by uid ${st.uid} (${owner}); fix: chown root ${d}`;
    const sticky = (st.mode & 0o1000) !== 0;
    const othersWrite = (st.mode & 0o002) !== 0;
    const groupWrite = (st.mode & 0o020) !== 0 && !trustedGroups().includes(st.gid);
    if ((othersWrite || groupWrite) && !sticky) return `${what} is writable by ${othersWrite ? 'any user' : `group gid ${st.gid}`} (${owner}); fix: chmod 0750 ${d}`;
  }
  return undefined;
}

/** Throws a start-up error naming the directory, what is wrong with it and the fix. */
export async function checkDirectory(dir: string): Promise<void> {
  const problem = await directoryProblem(dir);
  if (problem) throw new Error(`unsafe ${problem}`);
}
