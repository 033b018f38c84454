import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/log.js';
import { CapabilitiesProbe, detectCapabilities } from '../../src/keepalived/capabilities.js';
import { FifoSource } from '../../src/keepalived/fifo-source.js';
import { ProcessSource } from '../../src/keepalived/process.js';
import type { Change } from '../../src/state/snapshot.js';
import { replay } from '../support/keepalived-versions.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { fakeKeepalived } from '../support/procfs.js';
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

  it('counts the first line of a keepalived restarted since the last process check from STOP, not from the state before', async () => {
    // As the hook's test: only the FIFO line tells kawatch of the new keepalived within the check interval.
    const { pidFile, procfs } = fakeKeepalived(dir, 100, Date.now() - 60_000);
    const processes = new ProcessSource(pidFile, procfs, 3_600_000, store, silentLog);
    const transitions: string[] = [];
    store.events.on('change', (c: Change) => c.type === 'transition' && transitions.push(`${c.name}:${c.from}>${c.to}`));
    await processes.start();
    source = new FifoSource([fifo], { create: true, checkIntervalMs: 50, checkProcess: () => processes.poll() }, store, silentLog);
    await source.start();
    write('INSTANCE "VI_1" MASTER 100\n');
    await waitFor(() => transitions.length === 1, 'VI_1 MASTER applied');
    const masterAt = store.snapshot.instances.VI_1!.stateSince!;
    // A line's time is when it is read: the new keepalived starts after the MASTER line was read, and before the next.
    const restartedAt = masterAt + 20;
    await waitFor(() => Date.now() > restartedAt + 20, 'the restart to be in the past');
    fakeKeepalived(dir, 200, restartedAt);
    write('INSTANCE "VI_1" BACKUP 100\n');
    await waitFor(() => store.snapshot.instances.VI_1?.state === 'BACKUP', 'VI_1 BACKUP applied');
    await processes.stop();
    expect(transitions).toEqual(['VI_1:INIT>MASTER', 'VI_1:MASTER>STOP', 'VI_1:STOP>BACKUP']);
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


describe('FifoSource and the version of keepalived', () => {
  const probeOf = (flavour: string) => new CapabilitiesProbe(`/matrix/${flavour}/sbin/keepalived`, (binary) => detectCapabilities(binary, { run: replay(flavour) }));

  it('stays off on a keepalived without a notify FIFO (1.3.5), says why once, and is not failing', async () => {
    const lines: string[] = [];
    const log = createLogger('debug', new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
    // No FIFO and no create: a FIFO source that tried would fail at every check.
    source = new FifoSource([fifo], { create: false, checkIntervalMs: 20, capabilities: probeOf('1.3.5-nojson') }, store, log);
    await source.start();
    expect(store.snapshot.sources.fifo).toMatchObject({ enabled: false, errors: 0 });
    expect(lines.filter((l) => l.includes('has no notify FIFO (vrrp_notify_fifo came with 1.3.6)'))).toHaveLength(1);
    expect(existsSync(fifo)).toBe(false);
  });

  it('reads the FIFO of a keepalived that has one (2.0.19)', async () => {
    source = new FifoSource([fifo], { create: true, checkIntervalMs: 50, capabilities: probeOf('2.0.19-json') }, store, silentLog);
    await source.start();
    write('INSTANCE "VI_1" MASTER 100\n');
    await waitFor(() => store.snapshot.instances.VI_1?.state === 'MASTER', 'a FIFO line');
    expect(store.snapshot.sources.fifo).toMatchObject({ enabled: true, up: true });
  });
});
