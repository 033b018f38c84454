import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { labPaths } from '../../src/lab/plan.js';
import { readLabState, updateLabState, withProcess, writeLabState, type LabState } from '../../src/lab/state.js';

// lab.json is updated by more than one process (the test runner or `kawatch lab`, and a daemon's
// start_command): each update holds a lock file naming its owner's pid.
describe('updateLabState', () => {
  let dir: string;
  const lock = () => `${labPaths(dir).state}.lock`;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-lab-state-'));
    const state: LabState = { version: 1, prefix: 'kwtest', dir, policy: 'alert', createdAt: new Date(0).toISOString(), namespaces: [], hostLinks: [], processes: [], split: [], cut: [], isolated: [], splitPairs: [], cutPairs: [] };
    await writeLabState(state);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('waits while another live process holds the lock, then applies the update and releases it', async () => {
    const holder = spawn('sleep', ['30']);
    await new Promise((resolve) => holder.once('spawn', resolve));
    writeFileSync(lock(), String(holder.pid));
    let done = false;
    const update = updateLabState(dir, (s) => withProcess(s, { role: 'daemon', node: 'lb1', pid: 4242 })).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(done).toBe(false);
    expect((await readLabState(dir))!.processes).toEqual([]);
    holder.kill('SIGKILL');
    await update;
    expect((await readLabState(dir))!.processes).toEqual([{ role: 'daemon', node: 'lb1', pid: 4242 }]);
    expect(existsSync(lock())).toBe(false);
  });

  it('takes over a lock whose owner is gone', async () => {
    const gone = spawn('true');
    await new Promise((resolve) => gone.once('exit', resolve));
    writeFileSync(lock(), String(gone.pid));
    await updateLabState(dir, (s) => withProcess(s, { role: 'keepalived', node: 'lb2', pid: 77 }));
    expect(JSON.parse(readFileSync(labPaths(dir).state, 'utf8')).processes).toEqual([{ role: 'keepalived', node: 'lb2', pid: 77 }]);
    expect(existsSync(lock())).toBe(false);
  });
});
