import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { beforeAll, expect, it } from 'vitest';
import { type LabNode } from '../../src/lab/state.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { readMasters } from '../../src/lab/observe.js';
import { packageRoot } from '../../src/version.js';
import { nodeState, useLab } from '../support/lab.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { bannerText, cells, row, text } from './support.js';

const PREFIX = 'kwtpage';
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(packageRoot(), 'test-artifacts');
/** The machine is shared and loaded: generous, but bounded. */
const CHROMIUM_DEADLINE_MS = 90_000;
/** Chromium's helpers can hold its output open after it exits: how long they get before they are ended. */
const EXIT_GRACE_MS = 5000;
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-proxy-server',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
  // The page's console, CSP violations included, goes to stderr.
  '--enable-logging=stderr',
  '--v=0',
  // Stops loading after this long, well before the deadline at which the whole process group is killed.
  '--timeout=30000',
];

/** Whether `promise` settles within `ms`; the timer is cleared either way. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  const timedOut = delay(ms, true, { signal: timer.signal }).catch(() => false);
  try {
    return (await Promise.race([promise.then(() => false), timedOut])) === false;
  } finally {
    timer.abort();
  }
}

/** Loads `url` in a fresh headless Chromium with `extra` flags (--dump-dom, --screenshot=…): its stdout, and its log. */
async function chromium(url: string, extra: string[]): Promise<{ stdout: string; log: string }> {
  const profile = await mkdtemp(join(tmpdir(), `${PREFIX}-chromium-`));
  // Its own process group, so the browser and every helper it starts end together.
  const child = spawn(CHROMIUM, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, ...extra, url], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-200_000)));
  const exited = new Promise<number | null>((resolve, reject) => child.once('exit', resolve).once('error', reject));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  try {
    if (!(await within(exited, CHROMIUM_DEADLINE_MS))) throw new Error(`chromium did not finish ${url} within ${CHROMIUM_DEADLINE_MS} ms; its last words:\n${stderr.slice(-3000)}`);
    const code = await exited;
    await within(closed, EXIT_GRACE_MS);
    if (code !== 0) throw new Error(`chromium exited with ${code} on ${url}:\n${stderr.slice(-3000)}`);
    return { stdout, log: stderr };
  } finally {
    killGroup();
    await within(closed, EXIT_GRACE_MS);
    await rm(profile, { recursive: true, force: true });
  }
}

/** The page as the browser built it (the DOM after parsing, serialized), checked to need nothing its policy forbids. */
async function dom(node: LabNode): Promise<string> {
  const { stdout, log } = await chromium(`${node.api}/`, ['--dump-dom']);
  expect(log).not.toMatch(/Content Security Policy|Refused to/);
  return stdout;
}

/** A screenshot of the page into test-artifacts/; checks it is a PNG of the window's size. */
async function screenshot(node: LabNode, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, name);
  await rm(file, { force: true });
  await chromium(`${node.api}/`, [`--screenshot=${file}`, '--window-size=1280,1024']);
  const png = await readFile(file);
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
  expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 1024]);
  // A blank or error page compresses to a few kilobytes; the rendered tables do not.
  expect((await stat(file)).size).toBeGreaterThan(30_000);
}

const verdictKinds = async (node: LabNode, iname?: string) => (await nodeState(node)).verdicts.filter((v) => !iname || ('iname' in v && v.iname === iname)).map((v) => v.kind);

describeWithPrereqs('status page in headless Chromium (lab)', { root: true, commands: ['chromium', 'keepalived', 'nft', 'ip'] }, () => {
  const lab = useLab(PREFIX);
  let lb1: LabNode;
  beforeAll(() => {
    ({ lb1 } = lab);
  });

  it('shows both instances, both MASTERs and the split-brain verdict while the lab is split, and writes a screenshot', async () => {
    await labSplit({ prefix: PREFIX, link: 'primary' });
    for (const iname of ['VI_1', 'VI_2']) await waitFor(async () => (await verdictKinds(lb1, iname)).includes('split-brain'), `lb1's verdicts show the split of ${iname}`, 60_000);

    const page = await dom(lb1);
    expect(page).toContain('<title>CRITICAL · lb1 · kawatch</title>');
    expect(bannerText(page)).toMatch(/split brain on VI_1 \(vrid \d+\): MASTER on lb1 and lb2/);
    expect(bannerText(page)).toMatch(/split brain on VI_2 \(vrid \d+\): MASTER on lb1 and lb2/);
    // Each instance: MASTER here and MASTER on lb2, with its VIPs on this node.
    for (const iname of ['VI_1', 'VI_2']) {
      const [, vrid, here, there, , , , vips] = cells(row(page, iname));
      expect(vrid).toMatch(/^\d+$/);
      expect(here).toMatch(/^MASTER\b/);
      expect(there).toMatch(/^MASTER prio \d+/);
      expect(vips).toMatch(/^\S+ present\b/);
    }
    expect(text(page)).toContain('IP protocol 112');
    expect(text(row(page, 'lb2'))).toMatch(/reachable [\d.]+ ms/);
    expect(text(page)).toMatch(/raised: split brain on VI_\d/);

    await screenshot(lb1, 'status-page-split.png');
  });

  it('shows the lab healthy again after the heal, without the banner and with the split in its recent history', async () => {
    await labHeal({ prefix: PREFIX });
    await waitFor(
      async () => (await verdictKinds(lb1)).length === 0 && Object.values(await readMasters(lab.info)).every((masters) => masters.length === 1),
      'lb1 without verdicts and one MASTER per instance after the heal',
      60_000,
    );

    const page = await dom(lb1);
    expect(bannerText(page)).toBeUndefined();
    expect(page).toContain('<title>lb1 · kawatch</title>');
    expect(text(page)).toContain('Nothing wrong');
    // One MASTER per instance again: the states here and on lb2 (each cell leads with its state).
    for (const iname of ['VI_1', 'VI_2']) {
      const [, , here, there] = cells(row(page, iname));
      expect([here?.split(' ')[0], there?.split(' ')[0]].sort(), `${iname}: ${here} | ${there}`).toEqual(['BACKUP', 'MASTER']);
    }
    // The split's end is in the recent history, marked as the good news it is.
    expect(page).toMatch(/<span class="badge ok">verdict<\/span><\/td><td>cleared: split brain on VI_\d/);

    await screenshot(lb1, 'status-page-healthy.png');
  });
});
