import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendChecked, checkDirectory, directoryProblem, openFifo, readChecked, UnsafeFileError, writeAtomic } from '../../src/core/safe-file.js';
import { describeWithPrereqs } from '../support/prereq.js';

let dir: string;
/** A file outside the directory under attack, which nothing may read or change through a planted name. */
let outside: string;
const SECRET = 'outside, not to be read or written\n';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-safe-'));
  outside = join(mkdtempSync(join(tmpdir(), 'kawatch-outside-')), 'target');
  writeFileSync(outside, SECRET);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(outside, '..'), { recursive: true, force: true });
});

const mkfifo = (path: string) => execFileSync('mkfifo', ['-m', '0600', path]);
const NOBODY = 65534;
const asRoot = { root: true, commands: ['mkfifo'] };

async function refusal(op: Promise<unknown>): Promise<string> {
  const err = await op.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnsafeFileError);
  return (err as Error).message;
}

describe('readChecked', () => {
  it('reads a regular file of its own', async () => {
    writeFileSync(join(dir, 'ok'), 'content');
    expect((await readChecked(join(dir, 'ok'), { maxBytes: 100 })).toString()).toBe('content');
  });

  it('refuses a link to a file elsewhere, and to /dev/zero, without reading through it', async () => {
    symlinkSync(outside, join(dir, 'to-outside'));
    symlinkSync('/dev/zero', join(dir, 'to-zero'));
    expect(await refusal(readChecked(join(dir, 'to-outside'), { maxBytes: 1 << 20 }))).toContain('is a symbolic link');
    expect(await refusal(readChecked(join(dir, 'to-zero'), { maxBytes: 1 << 20 }))).toContain('is a symbolic link');
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    mkfifo(join(dir, 'fifo'));
    // Without O_NONBLOCK this open would never return: no test timeout would save it from hanging.
    expect(await refusal(readChecked(join(dir, 'fifo'), { maxBytes: 100 }))).toContain('is a FIFO, expected a regular file');
  });

  it('refuses a directory, a hard link and a file over the cap', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'big'), Buffer.alloc(101));
    linkSync(outside, join(dir, 'hard'));
    expect(await refusal(readChecked(join(dir, 'sub'), { maxBytes: 100 }))).toContain('is a directory');
    expect(await refusal(readChecked(join(dir, 'big'), { maxBytes: 100 }))).toContain('101 bytes, larger than the 100 allowed');
    expect(await refusal(readChecked(join(dir, 'hard'), { maxBytes: 100 }))).toContain('2 hard links');
  });

  it.skipIf(process.getuid?.() !== 0 && process.env.CI !== 'true')('refuses a file that someone else owns (as root, who can give it away)', async () => {
    writeFileSync(join(dir, 'theirs'), 'planted');
    chownSync(join(dir, 'theirs'), NOBODY, NOBODY);
    expect(await refusal(readChecked(join(dir, 'theirs'), { maxBytes: 100 }))).toContain(`owned by uid ${NOBODY}`);
  });

  it('passes ENOENT through, as the callers tell "nothing there" from "refused"', async () => {
    await expect(readChecked(join(dir, 'none'), { maxBytes: 1 })).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('writeAtomic', () => {
  it('replaces a planted link instead of writing through it', async () => {
    symlinkSync(outside, join(dir, 'state'));
    await writeAtomic(join(dir, 'state'), 'mine\n');
    expect(readFileSync(outside, 'utf8')).toBe(SECRET);
    expect(lstatSync(join(dir, 'state')).isFile()).toBe(true);
    expect(readFileSync(join(dir, 'state'), 'utf8')).toBe('mine\n');
  });

  it('leaves a hard-linked file elsewhere unchanged, writes with the mode asked, and leaves no temporary file', async () => {
    linkSync(outside, join(dir, 'state'));
    await writeAtomic(join(dir, 'state'), 'mine\n', 0o644);
    expect(readFileSync(outside, 'utf8')).toBe(SECRET);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(['state']);
  });
});

describe('appendChecked', () => {
  it('appends to its own file and creates it 0600', async () => {
    await appendChecked(join(dir, 'log'), 'a\n');
    await appendChecked(join(dir, 'log'), 'b\n');
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('a\nb\n');
    expect(statSync(join(dir, 'log')).mode & 0o777).toBe(0o600);
  });

  it('refuses a planted link or hard link, leaving the target unchanged', async () => {
    symlinkSync(outside, join(dir, 'soft'));
    linkSync(outside, join(dir, 'hard'));
    expect(await refusal(appendChecked(join(dir, 'soft'), 'x\n'))).toContain('symbolic link');
    expect(await refusal(appendChecked(join(dir, 'hard'), 'x\n'))).toContain('hard links');
    expect(readFileSync(outside, 'utf8')).toBe(SECRET);
  });
});

describe('openFifo', () => {
  it('opens a FIFO without a writer, and refuses a link to one or a regular file', () => {
    mkfifo(join(dir, 'fifo'));
    symlinkSync(join(dir, 'fifo'), join(dir, 'link'));
    writeFileSync(join(dir, 'plain'), '');
    const { fd, ino } = openFifo(join(dir, 'fifo'));
    closeSync(fd);
    expect(ino).toBe(statSync(join(dir, 'fifo')).ino);
    expect(() => openFifo(join(dir, 'link'))).toThrow(/symbolic link/);
    expect(() => openFifo(join(dir, 'plain'))).toThrow(/is a regular file, expected a FIFO/);
  });
});

describeWithPrereqs('checkDirectory', asRoot, () => {
  it('names the directory, its mode and owner, and the fix', async () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    await expect(checkDirectory(shared)).rejects.toThrow(`directory ${shared} is writable by any user (mode 0777, owner uid 0, group gid 0); fix: chmod 0750 ${shared}`);
    chmodSync(shared, 0o750);
    chownSync(shared, NOBODY, 0);
    await expect(checkDirectory(shared)).rejects.toThrow(`is owned by uid ${NOBODY}`);
    await expect(checkDirectory(shared)).rejects.toThrow(`fix: chown root ${shared}`);
  });

  it('judges the directories above too, and refuses a link in place of the directory', async () => {
    const parent = join(dir, 'parent');
    mkdirSync(join(parent, 'child'), { recursive: true });
    chmodSync(parent, 0o777);
    expect(await directoryProblem(join(parent, 'child'))).toContain(`${parent}, a parent of ${join(parent, 'child')}, is writable by any user`);
    chmodSync(parent, 0o755);
    expect(await directoryProblem(join(parent, 'child'))).toBeUndefined();
    symlinkSync(join(parent, 'child'), join(dir, 'link'));
    expect(await directoryProblem(join(dir, 'link'))).toContain('is a symbolic link');
  });

  it('accepts exactly the modes and owners that keep others out (any mode, any owner)', async () => {
    const target = join(dir, 'target');
    mkdirSync(target);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 0o1777 }), fc.constantFrom(0, NOBODY), fc.constantFrom(0, NOBODY), async (mode, uid, gid) => {
        chownSync(target, uid, gid);
        chmodSync(target, mode);
        const sticky = (mode & 0o1000) !== 0;
        const othersMayWrite = (mode & 0o002) !== 0 || ((mode & 0o020) !== 0 && gid !== 0);
        const safe = uid === 0 && (sticky || !othersMayWrite);
        expect(await directoryProblem(target)).toEqual(safe ? undefined : expect.any(String));
      }),
      { numRuns: 200 },
    );
  });
});
