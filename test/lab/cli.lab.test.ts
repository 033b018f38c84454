import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LabInfo, type LabNode } from '../../src/lab/state.js';
import { labDown, type LabDownResult } from '../../src/lab/lifecycle.js';
import type { RecordedEnvelope } from '../../src/lab/mail-recorder.js';
import { defaultLabDir, labPaths } from '../../src/lab/plan.js';
import type { Snapshot } from '../../src/state/snapshot.js';
import { scrape, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

/** Distinct from every other lab test's prefix, so runs never collide. */
const PREFIX = 'kwtcli';
/** The default directory, whatever the caller's environment says: the CLI gets no KAWATCH_LAB_DIR either. */
const LAB_DIR = defaultLabDir(PREFIX, {});
const LAUNCHER = fileURLToPath(new URL('../../bin/kawatch', import.meta.url));
const runFile = promisify(execFile);

const cliEnv = (() => {
  const env = { ...process.env };
  delete env.KAWATCH_LAB_DIR;
  return env;
})();

/** `kawatch lab SUB --prefix kwtcli ARGS…` through the real launcher, as a user would type it. */
async function kawatchLab(sub: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return runFile(LAUNCHER, ['lab', sub, '--prefix', PREFIX, ...args], { env: cliEnv, timeout: 120_000 });
}

/** The `--json` contract: stdout is exactly one JSON object, on one line. */
function oneJsonObject<T>(stdout: string): T {
  expect(stdout.endsWith('\n')).toBe(true);
  const lines = stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  const value = JSON.parse(lines[0]!) as unknown;
  expect(value !== null && typeof value === 'object' && !Array.isArray(value)).toBe(true);
  return value as T;
}

async function labJson<T>(sub: string): Promise<T> {
  return oneJsonObject<T>((await kawatchLab(sub, '--json')).stdout);
}

// ---- what the daemons say ------------------------------------------------------------------

async function stateOf(node: LabNode): Promise<Snapshot> {
  const res = await fetch(`${node.api}/api/v1/state`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${node.api}/api/v1/state answered ${res.status}`);
  return (await res.json()) as Snapshot;
}

/** Instance name → state, as each node's daemon reports it. */
async function instanceStates(lab: LabInfo): Promise<Record<string, Record<string, string>>> {
  const entries = await Promise.all(
    lab.nodes.map(async (n) => [n.name, Object.fromEntries(Object.entries((await stateOf(n)).instances).map(([name, i]) => [name, i.state]))] as const),
  );
  return Object.fromEntries(entries);
}

/** Waits, bounded, until the daemons report exactly these states; VRRP needs about 3 s to elect. */
async function untilStates(lab: LabInfo, want: Record<string, Record<string, string>>, what: string): Promise<void> {
  await waitFor(async () => JSON.stringify(await instanceStates(lab)) === JSON.stringify(want), what, 20_000).catch(async (err: Error) => {
    throw new Error(`${err.message}; last seen ${JSON.stringify(await instanceStates(lab).catch(() => 'unreachable'))}`);
  });
}

const INTENDED = { lb1: { VI_1: 'MASTER', VI_2: 'BACKUP' }, lb2: { VI_1: 'BACKUP', VI_2: 'MASTER' } };
const SPLIT = { lb1: { VI_1: 'MASTER', VI_2: 'MASTER' }, lb2: { VI_1: 'MASTER', VI_2: 'MASTER' } };

// ---- what is left on the host ----------------------------------------------------------------

async function netnsNames(): Promise<string[]> {
  const { stdout } = await runFile('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

async function hostLinkNames(): Promise<string[]> {
  const { stdout } = await runFile('ip', ['-j', 'link', 'show']);
  return (JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname);
}

/** Every process with an argument that mentions the lab directory (zombies have an empty cmdline). */
async function processesMentioning(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((a) => a.includes(dir))) found.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
  }
  return found;
}

async function expectNothingLeft(dir: string): Promise<void> {
  expect((await netnsNames()).filter((n) => n.startsWith(`${PREFIX}-`))).toEqual([]);
  expect((await hostLinkNames()).filter((l) => l.startsWith(`${PREFIX}-`))).toEqual([]);
  expect(existsSync(dir)).toBe(false);
  expect(await processesMentioning(dir)).toEqual([]);
}


interface StatusResult {
  up: boolean;
  split: string[];
  namespaces: { name: string; present: boolean }[];
  processes: { role: string; node?: string; pid: number; running: boolean }[];
  strays: number[];
  nodes: { name: string; api: string; keepalived?: boolean; instances?: Record<string, string>; error?: string }[];
  info?: LabInfo;
}

/**
 * A crash by hand, as after `kill -9`: every daemon and keepalived process (VRRP children too,
 * at least `processes` of them), by command line, and lab.json gone; only the mail recorder is left.
 */
async function crash(processes: number): Promise<{ pid: number }> {
  const recorder = (await labJson<StatusResult>('status')).processes.find((p) => p.role === 'mail-recorder');
  expect(recorder?.running).toBe(true);
  const victims = (await processesMentioning(LAB_DIR)).map((p) => Number(p.split(':')[0])).filter((pid) => pid !== recorder!.pid);
  expect(victims.length).toBeGreaterThanOrEqual(processes);
  for (const pid of victims) process.kill(pid, 'SIGKILL');
  await waitFor(async () => (await processesMentioning(LAB_DIR)).length === 1, 'only the mail recorder to be left');
  unlinkSync(labPaths(LAB_DIR).state);
  return recorder!;
}

describeWithPrereqs('kawatch lab command line (real lab)', { root: true, commands: ['keepalived', 'nft', 'ip'], files: [fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url))] }, () => {
  let lab: LabInfo;

  beforeAll(async () => {
    await labDown({ prefix: PREFIX, dir: LAB_DIR }); // a previous run that crashed
    lab = await labJson<LabInfo>('up');
  });

  // Whatever failed above, the host keeps no namespace, link or process of this lab.
  afterAll(async () => {
    await labDown({ prefix: PREFIX, dir: LAB_DIR });
  });

  it('up --json prints one object naming the nodes, the VIPs and the mail directory', () => {
    expect(lab.prefix).toBe(PREFIX);
    expect(lab.dir).toBe(LAB_DIR);
    expect(lab.nodes.map((n) => n.name)).toEqual(['lb1', 'lb2']);
    for (const node of lab.nodes) {
      expect(node.netns).toBe(`${PREFIX}-${node.name}`);
      expect(new URL(node.api).protocol).toBe('http:');
    }
    expect(new Set(lab.nodes.map((n) => n.api)).size).toBe(2);
    expect(Object.keys(lab.vips).sort()).toEqual(['VI_1', 'VI_2']);
    for (const vip of Object.values(lab.vips)) expect(vip).toMatch(/^198\.1[89]\.\d+\.\d+$/);
    expect(lab.mail).toBe(labPaths(LAB_DIR).mail);
    expect(statSync(lab.mail).isDirectory()).toBe(true);
    // One recorder: the host's address and each node's share its port.
    const port = lab.smtp.split(':')[1];
    expect(Number(port)).toBeGreaterThan(0);
    for (const node of lab.nodes) expect(node.smtp.split(':')[1]).toBe(port);
  });

  it("answers /metrics and /api/v1/state on each node's api from the host namespace", async () => {
    for (const node of lab.nodes) {
      const samples = await scrape(node.api);
      expect(valueOf(samples, 'kawatch_build_info', { node: node.name }), node.name).toBe(1);
      expect(valueOf(samples, 'keepalived_up'), node.name).toBe(1);
      const state = await stateOf(node);
      expect(state.node).toBe(node.name);
      expect(Object.keys(state.instances).sort()).toEqual(Object.keys(lab.vips).sort());
    }
    // `up` returns only once each instance has its intended MASTER.
    expect(await instanceStates(lab)).toEqual(INTENDED);
  });

  it('status --json agrees with up and with the daemons', async () => {
    const status = await labJson<StatusResult>('status');
    expect(status.up).toBe(true);
    expect(status.info).toEqual(lab);
    expect(status.split).toEqual([]);
    expect(status.strays).toEqual([]);
    for (const node of lab.nodes) expect(status.namespaces).toContainEqual({ name: node.netns, present: true });
    expect(status.processes.map((p) => `${p.role}${p.node ? ` ${p.node}` : ''}`).sort()).toEqual(['daemon lb1', 'daemon lb2', 'keepalived lb1', 'keepalived lb2', 'mail-recorder']);
    for (const p of status.processes) expect(p.running, `${p.role} ${p.node ?? ''}`).toBe(true);
    expect(status.nodes.map((n) => ({ name: n.name, api: n.api, keepalived: n.keepalived }))).toEqual(lab.nodes.map((n) => ({ name: n.name, api: n.api, keepalived: true })));
    expect(Object.fromEntries(status.nodes.map((n) => [n.name, n.instances]))).toEqual(await instanceStates(lab));
  });

  it('split --json: both directors become MASTER of both instances', async () => {
    // Drops VRRP on lb2's primary link by default.
    const split = await labJson<{ prefix: string; split: string[] }>('split');
    expect(split).toMatchObject({ prefix: PREFIX, split: ['lb2'] });
    await untilStates(lab, SPLIT, 'both directors MASTER of both instances');
    expect((await labJson<StatusResult>('status')).split).toEqual(['lb2']);
  });

  it('heal: one MASTER per instance again, VI_1 on lb1 and VI_2 on lb2', async () => {
    const { stdout } = await kawatchLab('heal');
    expect(stdout).toContain('healed');
    await untilStates(lab, INTENDED, 'one MASTER per instance after the heal');
    expect((await labJson<StatusResult>('status')).split).toEqual([]);
  });

  it('records a message sent to its SMTP address: envelope and raw message', async () => {
    const [host, port] = lab.smtp.split(':');
    const token = `kwtcli-${process.pid}-${Date.now()}`;
    // Plain SMTP, as the recorder offers no STARTTLS.
    const transport = createTransport({ host, port: Number(port), secure: false, ignoreTLS: true });
    try {
      await transport.sendMail({ from: 'lab-test@kawatch.invalid', to: ['ops@kawatch.invalid', 'oncall@kawatch.invalid'], subject: `test ${token}`, text: `body ${token}\n` });
    } finally {
      transport.close();
    }
    const envelopeFile = await waitFor(() => readdirSync(lab.mail).find((n) => n.endsWith('.json') && readFileSync(join(lab.mail, n), 'utf8').includes('lab-test@')), 'the envelope in the mail directory');
    const envelope = JSON.parse(readFileSync(join(lab.mail, envelopeFile), 'utf8')) as RecordedEnvelope;
    expect(envelope.mailFrom).toBe('lab-test@kawatch.invalid');
    expect(envelope.rcptTo).toEqual(['ops@kawatch.invalid', 'oncall@kawatch.invalid']);
    expect(envelope.remoteAddress).toMatch(/127\.0\.0\.1$/);
    const raw = readFileSync(join(lab.mail, envelope.message));
    expect(envelope.size).toBe(raw.length);
    const text = raw.toString('utf8');
    expect(text).toMatch(new RegExp(`^Subject: test ${token}\\r?$`, 'm'));
    expect(text).toContain(`body ${token}`);
  });

  it('down --json removes namespaces, host links, the directory and every process', async () => {
    const down = await labJson<LabDownResult>('down');
    expect(down.removedDir).toBe(true);
    expect(down.namespaces.sort()).toEqual([`${PREFIX}-lb1`, `${PREFIX}-lb2`, `${PREFIX}-sw`]);
    expect(down.hostLinks.sort()).toEqual(lab.nodes.map((n) => n.netns).sort());
    expect(down.processes.length).toBeGreaterThanOrEqual(5);
    await expectNothingLeft(LAB_DIR);
  });

  it('down again is fine and finds nothing to do', async () => {
    const again = await labJson<LabDownResult>('down');
    expect(again).toMatchObject({ processes: [], namespaces: [], hostLinks: [], removedDir: false });
    await expectNothingLeft(LAB_DIR);
  });

  it('down after a crash (daemons and keepalived SIGKILLed, lab.json gone) still removes everything', async () => {
    lab = await labJson<LabInfo>('up');
    const recorder = await crash(4);

    // Nothing records the mail recorder any more: down must find it by its command line.
    const down = await labJson<LabDownResult>('down');
    expect(down.processes).toEqual([recorder.pid]);
    expect(down.removedDir).toBe(true);
    expect(down.namespaces).toHaveLength(3);
    await expectNothingLeft(LAB_DIR);
  });

  it('up --directors 3: a group of three that status, split --peer, heal and down after a crash all handle', async () => {
    lab = oneJsonObject<LabInfo>((await kawatchLab('up', '--directors', '3', '--json')).stdout);
    expect(lab.nodes.map((n) => n.name)).toEqual(['lb1', 'lb2', 'lb3']);
    const own = { lb1: { VI_1: 'MASTER', VI_2: 'BACKUP', VI_3: 'BACKUP' }, lb2: { VI_1: 'BACKUP', VI_2: 'MASTER', VI_3: 'BACKUP' }, lb3: { VI_1: 'BACKUP', VI_2: 'BACKUP', VI_3: 'MASTER' } };
    await untilStates(lab, own, 'each of the three MASTER of its own instance');
    const status = await labJson<StatusResult>('status');
    expect(status.up).toBe(true);
    expect(status.namespaces.map((n) => n.name).sort()).toEqual([`${PREFIX}-lb1`, `${PREFIX}-lb2`, `${PREFIX}-lb3`, `${PREFIX}-sw`]);

    // lb1 and lb3 deaf to each other, lb2 hearing both: each of the two takes the other's VRID where lb2 ranks below it.
    const split = oneJsonObject<{ splitPairs: string[][] }>((await kawatchLab('split', '--node', 'lb3', '--peer', 'lb1', '--json')).stdout);
    expect(split.splitPairs).toEqual([['lb1', 'lb3']]);
    const pairSplit = { lb1: { VI_1: 'MASTER', VI_2: 'BACKUP', VI_3: 'MASTER' }, lb2: own.lb2, lb3: { VI_1: 'MASTER', VI_2: 'BACKUP', VI_3: 'MASTER' } };
    await untilStates(lab, pairSplit, 'lb1 and lb3 both MASTER of VI_1 and VI_3, lb2 left alone');
    await kawatchLab('heal');
    await untilStates(lab, own, 'the three back on their own instances');

    // A crash, as above: only the mail recorder left, lab.json gone; down knows the names of a group of three.
    await crash(6);
    const down = await labJson<LabDownResult>('down');
    expect(down.namespaces.sort()).toEqual([`${PREFIX}-lb1`, `${PREFIX}-lb2`, `${PREFIX}-lb3`, `${PREFIX}-sw`]);
    expect(down.hostLinks.sort()).toEqual([`${PREFIX}-lb1`, `${PREFIX}-lb2`, `${PREFIX}-lb3`]);
    await expectNothingLeft(LAB_DIR);
  });
});
