import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keepalivedTmpdir, parseProcStat, probeKeepalived } from '../../src/keepalived/process.js';

let dir: string;
const stat = (pid: number, comm: string, state: string) => {
  mkdirSync(join(dir, 'proc', String(pid)), { recursive: true });
  writeFileSync(join(dir, 'proc', String(pid), 'stat'), `${pid} (${comm}) ${state} 1 ${pid} ${pid} 0 -1 4194560 164 0 0 0\n`);
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-proc-'));
});
afterEach(() => {
  // Releases a reader stuck on the planted FIFO, the flaw the test below guards against.
  try {
    closeSync(openSync(join(dir, 'fifo.pid'), constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // not there, or nobody reading it
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('probeKeepalived', () => {
  it('is up only for a live keepalived named by the pid file', async () => {
    writeFileSync(join(dir, 'pid'), '4242\n');
    stat(4242, 'keepalived', 'S');
    expect(probeKeepalived(join(dir, 'pid'), join(dir, 'proc'))).toEqual({ up: true, pid: 4242 });
  });

  it.each([
    ['a zombie', 'keepalived', 'Z', 'has exited'],
    ['a reused pid', 'nginx', 'S', 'not keepalived'],
  ])('is down for %s', async (_what, comm, state, why) => {
    writeFileSync(join(dir, 'pid'), '4242\n');
    stat(4242, comm, state);
    const probe = probeKeepalived(join(dir, 'pid'), join(dir, 'proc'));
    expect(probe.up).toBe(false);
    expect(probe.reason).toContain(why);
  });

  it('is down, with the reason, for a missing or garbled pid file and a dead pid', async () => {
    expect((probeKeepalived(join(dir, 'none'), join(dir, 'proc'))).reason).toContain('ENOENT');
    writeFileSync(join(dir, 'pid'), 'keepalived\n');
    expect((probeKeepalived(join(dir, 'pid'), join(dir, 'proc'))).reason).toContain('does not hold a pid');
    writeFileSync(join(dir, 'pid'), '999999\n');
    expect((probeKeepalived(join(dir, 'pid'), join(dir, 'proc'))).reason).toContain('is not running');
  });

  it("tells when the process started, from this host's own /proc, to a few ms: what the keepalived before it told came before", async () => {
    // This test's own process, renamed keepalived: its stat line, the host's uptime and boot id as they are.
    const own = readFileSync('/proc/self/stat', 'utf8').replace(/\(.*\)/, '(keepalived)');
    mkdirSync(join(dir, 'proc', '4242'), { recursive: true });
    writeFileSync(join(dir, 'proc', '4242', 'stat'), own);
    writeFileSync(join(dir, 'proc', 'uptime'), readFileSync('/proc/uptime'));
    mkdirSync(join(dir, 'proc', 'sys', 'kernel', 'random'), { recursive: true });
    writeFileSync(join(dir, 'proc', 'sys', 'kernel', 'random', 'boot_id'), readFileSync('/proc/sys/kernel/random/boot_id'));
    writeFileSync(join(dir, 'pid'), '4242\n');
    const probe = probeKeepalived(join(dir, 'pid'), join(dir, 'proc'));
    const nodeClockStarted = Date.now() - process.uptime() * 1000;
    // The kernel's account comes first, in ticks of 10 ms; Node starts its own clock only after exec and its own
    // set-up, which a loaded machine stretches. The boot in whole seconds (btime) would put it up to a second early.
    const lead = nodeClockStarted - (probe.up ? probe.startedAt! : Number.NaN);
    expect(lead).toBeGreaterThan(-50);
    expect(lead).toBeLessThan(5000);
    // Which process it is: this boot, this pid, the tick it started at.
    const ticks = parseProcStat(own)!.startTicks!;
    expect(probe.identity).toBe(`${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/4242/${ticks}`);
  });

  it('still names the process by its start tick on a procfs without the boot (no uptime, no boot id), and has no start time then', async () => {
    mkdirSync(join(dir, 'bare', '4242'), { recursive: true });
    writeFileSync(join(dir, 'bare', '4242', 'stat'), '4242 (keepalived) S 1 4242 4242 0 -1 4194560 164 0 0 0 0 0 0 0 20 0 1 0 5180 0 0\n');
    writeFileSync(join(dir, 'pid'), '4242\n');
    expect(probeKeepalived(join(dir, 'pid'), join(dir, 'bare'))).toEqual({ up: true, pid: 4242, identity: 'boot/4242/5180' });
    // The boot in whole seconds where /proc/uptime is missing: a start time all the same.
    mkdirSync(join(dir, 'old', '4242'), { recursive: true });
    writeFileSync(join(dir, 'old', '4242', 'stat'), readFileSync(join(dir, 'bare', '4242', 'stat')));
    writeFileSync(join(dir, 'old', 'stat'), 'cpu  1 2 3\nbtime 1796000000\n');
    expect(probeKeepalived(join(dir, 'pid'), join(dir, 'old')).startedAt).toBe(1796000000_000 + 51_800);
  });

  it('is down, without waiting or following, for a FIFO or a link planted as the pid file', async () => {
    stat(4242, 'keepalived', 'S');
    execFileSync('mkfifo', [join(dir, 'fifo.pid')]);
    writeFileSync(join(dir, 'elsewhere'), '4242\n');
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'link.pid'));
    expect(probeKeepalived(join(dir, 'fifo.pid'), join(dir, 'proc'))).toEqual({ up: false, reason: `pid file ${join(dir, 'fifo.pid')}: is a FIFO, expected a regular file; refusing to use it` });
    expect((probeKeepalived(join(dir, 'link.pid'), join(dir, 'proc'))).reason).toContain('is a symbolic link');
  });

  it('reads names with spaces and parentheses', () => {
    expect(parseProcStat('77 (a) b) (c) R 1 2')).toEqual({ comm: 'a) b) (c', state: 'R' });
    expect(parseProcStat(`77 (a) b) R ${Array.from({ length: 18 }, (_, i) => i + 1).join(' ')} 4711 0`)).toEqual({ comm: 'a) b', state: 'R', startTicks: 4711 });
  });

  it("finds keepalived's TMPDIR in its environment, else /tmp", async () => {
    mkdirSync(join(dir, 'proc/7'), { recursive: true });
    writeFileSync(join(dir, 'proc/7/environ'), 'PATH=/bin\0TMPDIR=/run/ka-tmp\0LANG=C\0');
    expect(await keepalivedTmpdir(join(dir, 'proc'), 7)).toBe('/run/ka-tmp');
    expect(await keepalivedTmpdir(join(dir, 'proc'), 8)).toBe('/tmp');
  });
});
