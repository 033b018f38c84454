import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FifoSource } from '../../src/keepalived/fifo-source.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { waitFor } from '../support/wait.js';

let dir: string;
let fifo: string;
let store: StateStore;
let source: FifoSource;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-fifo-'));
  fifo = join(dir, 'notify.fifo');
  store = new StateStore('lb1', silentLog);
  source = new FifoSource([fifo], { create: true, checkIntervalMs: 50 }, store, silentLog);
});
afterEach(async () => {
  await source.stop();
  rmSync(dir, { recursive: true, force: true });
});

// Writing to a FIFO the source holds open for reading never blocks.
const write = (text: string) => writeFileSync(fifo, text);

describe('FifoSource', () => {
  it('creates a missing FIFO and applies lines, surviving malformed ones and partial writes', async () => {
    await source.start();
    write('INSTANCE "VI_1" BACKUP 100\nthis is not keepalived\nINSTANCE "VI_1" MAS');
    write('TER 100\nRS [10.0.0.11]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n');
    await waitFor(() => store.snapshot.sources.fifo.events === 3, 'three FIFO events');
    expect(store.snapshot.instances.VI_1!.state).toBe('MASTER');
    expect(Object.values(store.snapshot.checkers)).toEqual([expect.objectContaining({ realServer: '[10.0.0.11]:tcp:80', up: false })]);
    expect(store.snapshot.sources.fifo).toMatchObject({ rejected: 1, up: true });
  });

  it('picks up a FIFO that was removed and recreated (as keepalived does on reload)', async () => {
    await source.start();
    write('INSTANCE "VI_1" BACKUP 100\n');
    await waitFor(() => store.snapshot.instances.VI_1?.state === 'BACKUP', 'first line');
    unlinkSync(fifo);
    execFileSync('mkfifo', [fifo]);
    // Opening the new FIFO for writing blocks until the source has reopened it: bounded by the timeout.
    await promisify(execFile)('sh', ['-c', 'echo \'INSTANCE "VI_1" MASTER 100\' > "$1"', 'sh', fifo], { timeout: 5000 });
    await waitFor(() => store.snapshot.instances.VI_1?.state === 'MASTER', 'line through the recreated FIFO');
  });

  it('refuses to touch a path that is not a FIFO', async () => {
    writeFileSync(fifo, 'a regular file');
    await source.start();
    expect(store.snapshot.sources.fifo).toMatchObject({ up: false, errors: 1 });
    expect(store.snapshot.sources.fifo.lastError).toContain('is not a FIFO');
  });

  it('refuses a FIFO someone else owns, and a link to a FIFO', async () => {
    execFileSync('mkfifo', [fifo]);
    chownSync(fifo, 65534, 65534);
    await source.start();
    expect(store.snapshot.sources.fifo).toMatchObject({ up: false, errors: 1 });
    expect(store.snapshot.sources.fifo.lastError).toContain('is owned by uid 65534');
    await source.stop();
    unlinkSync(fifo);
    execFileSync('mkfifo', [join(dir, 'real.fifo')]);
    symlinkSync(join(dir, 'real.fifo'), fifo);
    store = new StateStore('lb1', silentLog);
    source = new FifoSource([fifo], { create: true, checkIntervalMs: 50 }, store, silentLog);
    await source.start();
    expect(store.snapshot.sources.fifo.lastError).toContain('is not a FIFO');
  });

  it('does not start when anyone may write to the FIFO\'s directory, and says how to fix it', async () => {
    chmodSync(dir, 0o777);
    await expect(source.start()).rejects.toThrow(`directory ${dir} is writable by any user (mode 0777, owner uid 0, group gid 0); fix: chmod 0750 ${dir}`);
  });
});

