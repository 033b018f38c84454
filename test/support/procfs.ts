import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A boot time, epoch seconds, well before any start a test gives: /proc/stat's btime. */
const BOOT_SECONDS = 1_700_000_000;

/**
 * A keepalived as the process probe sees it: `<dir>/keepalived.pid` naming `pid`, and a procfs at
 * `<dir>/proc` whose /proc/PID/stat says it started at `startedAt` (epoch ms, cut to the 10 ms ticks
 * the kernel counts in). Returns the pid file and the procfs, for ProcessSource or probeKeepalived.
 */
export function fakeKeepalived(dir: string, pid: number, startedAt: number): { pidFile: string; procfs: string } {
  const procfs = join(dir, 'proc');
  mkdirSync(join(procfs, String(pid)), { recursive: true });
  writeFileSync(join(procfs, 'stat'), `cpu  1 2 3 4\nbtime ${BOOT_SECONDS}\n`);
  const ticks = Math.floor((startedAt - BOOT_SECONDS * 1000) / 10);
  // Fields 3 to 21 (state to itrealvalue), then starttime: proc(5).
  const fields = ['S', 1, pid, pid, 0, -1, 4194560, 164, 0, 0, 0, 0, 0, 0, 0, 20, 0, 1, 0, ticks, 1000, 100];
  writeFileSync(join(procfs, String(pid), 'stat'), `${pid} (keepalived) ${fields.join(' ')}\n`);
  const pidFile = join(dir, 'keepalived.pid');
  writeFileSync(pidFile, `${pid}\n`);
  return { pidFile, procfs };
}
