import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CapabilitiesError,
  CapabilitiesProbe,
  capabilitiesFrom,
  compareVersions,
  detectCapabilities,
  parseVersion,
  type KeepalivedCapabilities,
} from '../../src/keepalived/capabilities.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { replay } from '../support/keepalived-versions.js';

const versionsDir = new URL('../fixtures/keepalived/versions/', import.meta.url);
const matrixScript = fileURLToPath(new URL('../../scripts/keepalived-matrix.sh', import.meta.url));

type Expected = Omit<KeepalivedCapabilities, 'options' | 'version'> & { version: string };

// What each release's sources say (see the comments in src/keepalived/capabilities.ts).
const before225 = { kind: 'fixed', directory: '/tmp' } as const;
const from225 = { kind: 'tmpdir', fallback: '/tmp' } as const;
const expected: Record<string, Expected> = {
  '1.3.5-nojson': {
    version: '1.3.5',
    signum: false,
    signals: { data: 'SIGUSR1', stats: 'SIGUSR2' },
    jsonDump: false,
    dumpDirectory: before225,
    textVipHeader: 'count-equals',
    masksPasswords: false,
    notifyFifo: false,
    fifoPriorityChanges: false,
    trackFile: 'none',
    notifyTakesArguments: false,
    stopNotification: false,
  },
  '2.0.19-json': {
    version: '2.0.19',
    signum: true,
    signals: { data: 10, stats: 12, json: 36 },
    jsonDump: true,
    dumpDirectory: before225,
    textVipHeader: 'count-equals',
    masksPasswords: false,
    notifyFifo: true,
    fifoPriorityChanges: true,
    trackFile: 'vrrp_track_file',
    notifyTakesArguments: true,
    stopNotification: true,
  },
  '2.1.5-json': {
    version: '2.1.5',
    signum: true,
    signals: { data: 10, stats: 12, json: 36 },
    jsonDump: true,
    dumpDirectory: before225,
    textVipHeader: 'colon',
    masksPasswords: false,
    notifyFifo: true,
    fifoPriorityChanges: true,
    trackFile: 'track_file',
    notifyTakesArguments: true,
    stopNotification: true,
  },
  '2.1.5-nojson': {
    version: '2.1.5',
    signum: true,
    signals: { data: 10, stats: 12 },
    jsonDump: false,
    dumpDirectory: before225,
    textVipHeader: 'colon',
    masksPasswords: false,
    notifyFifo: true,
    fifoPriorityChanges: true,
    trackFile: 'track_file',
    notifyTakesArguments: true,
    stopNotification: true,
  },
  '2.2.8-json': {
    version: '2.2.8',
    signum: true,
    signals: { data: 10, stats: 12, json: 36 },
    jsonDump: true,
    dumpDirectory: from225,
    textVipHeader: 'count-parenthesised',
    masksPasswords: false,
    notifyFifo: true,
    fifoPriorityChanges: true,
    trackFile: 'track_file',
    notifyTakesArguments: true,
    stopNotification: true,
  },
  '2.3.4-json': {
    version: '2.3.4',
    signum: true,
    signals: { data: 10, stats: 12, json: 36 },
    jsonDump: true,
    dumpDirectory: from225,
    dataFileKeyword: 'state_dump_file',
    textVipHeader: 'count-parenthesised',
    masksPasswords: false,
    notifyFifo: true,
    fifoPriorityChanges: true,
    trackFile: 'track_file',
    notifyTakesArguments: true,
    stopNotification: true,
  },
  '2.4.3-json': {
    version: '2.4.3',
    signum: true,
    signals: { data: 10, stats: 12, json: 36 },
    jsonDump: true,
    dumpDirectory: from225,
    dataFileKeyword: 'state_dump_file',
    textVipHeader: 'count-parenthesised',
    masksPasswords: true,
    notifyFifo: true,
    fifoPriorityChanges: true,
    trackFile: 'track_file',
    notifyTakesArguments: true,
    stopNotification: true,
  },
};

function withoutOptions(caps: KeepalivedCapabilities): Expected {
  const { options: _options, version, ...rest } = caps;
  return { ...rest, version: `${version.major}.${version.minor}.${version.patch}` };
}

describe('capabilities of each keepalived the field runs (real -v and --signum output)', () => {
  it.each(Object.keys(expected))('%s', async (flavour) => {
    const caps = await detectCapabilities(`/matrix/${flavour}/sbin/keepalived`, { run: replay(flavour) });
    expect(withoutOptions(caps)).toEqual(expected[flavour]);
    expect(caps.options).toContain('VRRP');
    expect(caps.options.includes('JSON')).toBe(flavour.endsWith('-json'));
  });
});

describe('capabilitiesFrom', () => {
  const v2419 = readFileSync(new URL('2.0.19-json/v.stderr', versionsDir), 'utf8');

  it('refuses output that is not keepalived -v, naming where it came from', () => {
    expect(() => capabilitiesFrom({ versionOutput: 'ipvsadm v1.31 2019/12/24' }, '/usr/sbin/x -v')).toThrow(CapabilitiesError);
    expect(() => capabilitiesFrom({ versionOutput: 'ipvsadm v1.31 2019/12/24' }, '/usr/sbin/x -v')).toThrow(/\/usr\/sbin\/x -v: no "Keepalived vX\.Y\.Z" line/);
  });

  it('refuses a version line without the options line', () => {
    expect(() => capabilitiesFrom({ versionOutput: 'Keepalived v2.2.8 (04/04,2023)\n' })).toThrow(/no "Build options:" or "Config options:" line/);
  });

  it('refuses JSON among the options without a JSON signal', () => {
    expect(() => capabilitiesFrom({ versionOutput: v2419, signum: { DATA: 10, STATS: 12 } })).toThrow(/JSON .* no signal/);
  });

  it('takes the signal numbers keepalived gives, not the usual ones', () => {
    expect(capabilitiesFrom({ versionOutput: v2419, signum: { DATA: 30, STATS: 31, JSON: 40 } }).signals).toEqual({ data: 30, stats: 31, json: 40 });
  });
});

describe('compareVersions', () => {
  it('orders numerically, not as text', () => {
    const sorted = ['2.10.0', '2.2.8', '1.3.5', '2.0.19', '2.0.9'].map((t) => parseVersion(t)!).sort(compareVersions);
    expect(sorted.map((v) => `${v.major}.${v.minor}.${v.patch}`)).toEqual(['1.3.5', '2.0.9', '2.0.19', '2.2.8', '2.10.0']);
  });
});

describe('detectCapabilities on a program that is not keepalived', () => {
  it('gives up after its timeout on a program that never answers', async () => {
    // A stand-in for a hung binary: whatever it is asked, it sleeps.
    const dir = mkdtempSync(join(tmpdir(), 'kawatch-caps-'));
    try {
      const hung = join(dir, 'keepalived');
      writeFileSync(hung, '#!/bin/sh\nexec sleep 60\n', { mode: 0o755 });
      await expect(detectCapabilities(hung, { timeoutMs: 200 })).rejects.toThrow(/no answer within 200 ms/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a program that answers -v with something else', async () => {
    await expect(detectCapabilities('/bin/true')).rejects.toThrow(/no "Keepalived vX.Y.Z" line/);
  });

  it('reports a binary that does not exist', async () => {
    await expect(detectCapabilities('/nonexistent/keepalived')).rejects.toThrow(CapabilitiesError);
  });
});

/** Where the matrix builds FLAVOUR; without the sources (../shared), a path that names the problem. */
function matrixBinary(flavour: string): string {
  try {
    return execFileSync('bash', [matrixScript, 'path', flavour], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    return `<scripts/keepalived-matrix.sh path ${flavour}: ${String((err as { stderr?: string }).stderr ?? err).trim()}>`;
  }
}

for (const flavour of Object.keys(expected)) {
  const binary = matrixBinary(flavour);
  describeWithPrereqs(`detectCapabilities on the real ${flavour} (scripts/keepalived-matrix.sh build)`, { files: [binary] }, () => {
    it('reads the same capabilities from the binary as from its captured output', async () => {
      const live = await detectCapabilities(binary);
      expect(withoutOptions(live)).toEqual(expected[flavour]);
    });
  });
}

// What each keepalived did when it ran (scripts/capture-keepalived-dumps.sh): TMPDIR pointed at
// "tmpdir", /tmp was private to it, state_dump_file (where known) named "dump-files/".
describe('capabilities agree with what each keepalived did in the namespaces', () => {
  const dumpsDir = new URL('../fixtures/keepalived/dumps/', import.meta.url);
  const observed = (flavour: string, file: string) => {
    try {
      return readFileSync(new URL(`${flavour}/${file}`, dumpsDir), 'utf8');
    } catch {
      return undefined;
    }
  };

  it.each(Object.keys(expected))('%s', async (flavour) => {
    const caps = await detectCapabilities(`/matrix/${flavour}/sbin/keepalived`, { run: replay(flavour) });
    const locations = Object.fromEntries(observed(flavour, 'locations.txt')!.trim().split('\n').map((l) => l.split(' ')));
    const dir = caps.dumpDirectory.kind === 'fixed' ? caps.dumpDirectory.directory : 'tmpdir';
    expect(locations).toEqual({
      'keepalived.data': caps.dataFileKeyword ? 'dump-files' : dir,
      'keepalived.stats': dir,
      ...(caps.jsonDump ? { 'keepalived.json': dir } : {}),
    });
    const data = observed(flavour, 'keepalived.data')!;
    expect(data.includes('Password = ********')).toBe(caps.masksPasswords);
    expect(/Track files? >|Track files =|Tracked files = /.test(data)).toBe(caps.trackFile !== 'none');
    expect(observed(flavour, 'fifo.txt') !== undefined).toBe(caps.notifyFifo);
    const notified = observed(flavour, 'notify.txt') ?? '';
    // VI_1's notify has an argument ("notify.sh generic"); VI_2's has none.
    expect(notified.includes('generic INSTANCE VI_1')).toBe(caps.notifyTakesArguments);
    expect(notified.includes('INSTANCE VI_2 STOP')).toBe(caps.stopNotification);
    // VI_2's priority moves as its script succeeds: reported where vrrp_notify_priority_changes exists.
    expect(/^INSTANCE "VI_2" (MASTER|BACKUP)_PRIORITY /m.test(observed(flavour, 'fifo.txt') ?? '')).toBe(caps.fifoPriorityChanges);
  });
});

describe('CapabilitiesProbe', () => {
  it('asks once for every part, and again after a failed detection', async () => {
    let asked = 0;
    let failing = true;
    const probe = new CapabilitiesProbe('/matrix/2.2.8/sbin/keepalived', async (binary) => {
      asked++;
      if (failing) throw new CapabilitiesError(`${binary}: not there yet`);
      return detectCapabilities(binary, { run: replay('2.2.8-json') });
    });
    await expect(probe.get()).rejects.toThrow(/not there yet/);
    expect(probe.current).toBeUndefined();
    failing = false;
    const [a, b] = await Promise.all([probe.get(), probe.get()]);
    expect(a).toBe(b);
    expect(probe.current?.version).toEqual({ major: 2, minor: 2, patch: 8 });
    await probe.get();
    expect(asked).toBe(2);
  });
});
