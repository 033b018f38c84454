import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, parseVersion } from '../../src/keepalived/capabilities.js';
import { parseDump, sameStates, withTextDetails } from '../../src/keepalived/dump.js';
import { type DumpInstance } from '../../src/model/vrrp.js';
import { halfMadeMasters, parseTextDump, parseTextGroups, parseTextScripts, TextDumpError } from '../../src/keepalived/text-dump.js';

// Real dumps of every keepalived of the matrix (scripts/capture-keepalived-dumps.sh): director a of
// a pair, VI_1 MASTER there and VI_2 BACKUP, VI_2 tracking a script (+5) and, from 2.0, a file (-30).
const dumpsDir = new URL('../fixtures/keepalived/dumps/', import.meta.url);
const flavours = readdirSync(dumpsDir).sort();
const read = (flavour: string, file: string) => readFileSync(new URL(`${flavour}/${file}`, dumpsDir), 'utf8');
const hasFile = (flavour: string, file: string) => existsSync(new URL(`${flavour}/${file}`, dumpsDir));
const digest = (material: string) => `digest(${material.length}:${[...material].reverse().join('')})`;
const atLeast = (flavour: string, min: string) => compareVersions(parseVersion(flavour.split('-')[0]!)!, parseVersion(min)!) >= 0;

function parseFixture(flavour: string): DumpInstance[] {
  return parseTextDump(read(flavour, 'keepalived.data'), read(flavour, 'keepalived.stats'), {
    dataFile: `${flavour}/keepalived.data`,
    statsFile: `${flavour}/keepalived.stats`,
    digestAuth: digest,
  });
}

describe('parseTextDump on the real dumps of each release', () => {
  it('has a capture of every flavour of the matrix', () => {
    expect(flavours).toEqual(['1.3.5-nojson', '2.0.19-json', '2.1.5-json', '2.1.5-nojson', '2.2.8-json', '2.3.4-json', '2.4.3-json']);
  });

  it.each(flavours)('%s', (flavour) => {
    const [vi1, vi2, ...rest] = parseFixture(flavour);
    expect(rest).toEqual([]);
    expect([vi1!.name, vi1!.vrid, vi1!.state, vi1!.interface, vi1!.basePriority]).toEqual(['VI_1', 71, 'MASTER', 'matrix-a0', 150]);
    expect([vi2!.name, vi2!.vrid, vi2!.state, vi2!.interface, vi2!.basePriority]).toEqual(['VI_2', 72, 'BACKUP', 'matrix-a0', 100]);
    // 1.3.5 prints no effective priority; from 2.0 the track file's -30 and the script's +5 show.
    expect(vi2!.effectivePriority).toBe(flavour.startsWith('1.') ? undefined : 75);
    expect(vi1!.vips).toEqual([
      { address: '198.18.7.50', prefix: 24, dev: 'matrix-a0' },
      { address: '198.18.7.51', prefix: 24, dev: 'matrix-a0' },
    ]);
    expect(vi2!.vips).toEqual([{ address: '198.18.7.60', prefix: 24, dev: 'matrix-a0' }]);
    for (const vi of [vi1!, vi2!]) {
      expect([vi.advertInterval, vi.nopreempt, vi.authType, vi.garpDelay]).toEqual([1, false, 1, 5]);
      expect(vi.lastTransition).toBeGreaterThan(1_700_000_000);
    }
    expect(vi1!.stats!.advert_sent).toBeGreaterThan(0);
    expect(vi1!.stats!.become_master).toBe(1);
    expect(vi2!.stats!.advert_rcvd).toBeGreaterThanOrEqual(3);
    // The password never leaves the parser; from 2.4.0 keepalived masks it and there is nothing to digest.
    expect(JSON.stringify([vi1, vi2])).not.toMatch(/FAKEpw/);
    if (atLeast(flavour, '2.4.0')) {
      expect(read(flavour, 'keepalived.data')).toContain('Password = ********');
      expect([vi1!.authDigest, vi2!.authDigest]).toEqual([undefined, undefined]);
    } else {
      expect(vi1!.authDigest).toBe(digest('1:FAKEpw1'));
      expect(vi2!.authDigest).toBe(digest('1:FAKEpw2'));
    }
  });

  it.each(flavours.filter((f) => hasFile(f, 'keepalived.json')))('%s: says what the JSON dump taken right after it says', (flavour) => {
    const text = parseFixture(flavour);
    const json = parseDump(read(flavour, 'keepalived.json'), `${flavour}/keepalived.json`, digest);
    // The JSON dump has no script verdicts, nor what has not answered yet: they come from keepalived.data only.
    const settled = (instances: DumpInstance[]) =>
      instances.map(({ stats: _stats, authDigest: _digest, scripts: _scripts, scriptsAwaited: _awaited, ...rest }) => rest);
    expect(settled(text)).toEqual(settled(json));
    text.forEach((instance, i) => {
      const later = json[i]!.stats!;
      for (const [key, value] of Object.entries(instance.stats!)) {
        // Adverts go on between the STATS and the JSON signal; nothing else moves in a settled pair.
        if (key === 'advert_rcvd' || key === 'advert_sent') expect(value).toBeLessThanOrEqual(later[key]);
        else expect([key, value]).toEqual([key, later[key as keyof typeof later]]);
      }
    });
  });
});

describe('vrrp_scripts and excluded VIPs in the dumps of each release', () => {
  it.each(flavours)('%s: the excluded VIP of VI_1, the script VI_2 tracks', (flavour) => {
    const [vi1, vi2] = parseFixture(flavour);
    expect(vi1!.excludedVips).toEqual([{ address: '198.18.7.52', prefix: 24, dev: 'matrix-a0' }]);
    expect(vi2!.excludedVips).toEqual([]);
    expect(vi1!.scripts).toEqual([]);
    // 1.3.5 prints no State line for a script: whether it is running is not known there.
    expect(vi2!.scripts).toEqual([flavour.startsWith('1.') ? { name: 'check_service', good: true } : { name: 'check_service', good: true, state: 'idle' }]);
  });

  it.each(flavours.filter((f) => hasFile(f, 'keepalived.json')))('%s: the JSON dump has the excluded VIP too, and keepalived.data beside it the verdict of the script it lists', (flavour) => {
    const [vi1, vi2] = parseDump(read(flavour, 'keepalived.json'));
    expect(vi1!.excludedVips).toEqual([{ address: '198.18.7.52', prefix: 24, dev: 'matrix-a0' }]);
    expect(vi2!.excludedVips).toEqual([]);
    // The JSON dump lists the tracked scripts' commands without their verdicts.
    expect([vi1!.scripts, vi2!.scripts]).toEqual([undefined, []]);
    const [with1, with2] = withTextDetails([vi1!, vi2!], parseTextDump(read(flavour, 'keepalived.data'), undefined));
    expect([with1!.scripts, with2!.scripts]).toEqual([undefined, parseFixture(flavour)[1]!.scripts]);
    expect(with2!.scripts).toEqual([{ name: 'check_service', good: true, state: 'idle' }]);
    // An instance keepalived.data does not list (a reload in between) tracks scripts of unknown verdict.
    expect(withTextDetails([vi2!], [])[0]!.scripts).toEqual([]);
    // Every tracked script has answered: nothing holds VI_2.
    expect(with2!.scriptsAwaited).toBe(0);
  });

  it('refuses as keepalived.data a file that is not one', () => {
    expect(() => parseTextScripts(read('2.2.8-json', 'keepalived.stats'), 'x/keepalived.data')).toThrow(/x\/keepalived.data: no "------< VRRP Topology >------" section/);
  });

  it('reads a BAD script and leaves a script without a verdict yet out of the statuses', () => {
    const data = read('2.2.8-json', 'keepalived.data');
    expect(parseTextDump(data.replace('   Status = GOOD', '   Status = BAD'), undefined)[1]!.scripts).toEqual([{ name: 'check_service', good: false, state: 'idle' }]);
    const old = read('1.3.5-nojson', 'keepalived.data');
    expect(parseTextDump(old.replace('   Status = GOOD', '   Status = INIT/GOOD'), undefined)[1]!.scripts).toEqual([{ name: 'check_service' }]);
  });

  it('refuses a script name keepalived could not have written, with its line', () => {
    const data = read('2.2.8-json', 'keepalived.data');
    const line = data.split('\n').indexOf(' VRRP Script = check_service') + 1;
    expect(() => parseTextDump(data.replace(' VRRP Script = check_service', ' VRRP Script = check\u0007x'), undefined)).toThrow(new RegExp(`keepalived.data:${line}: `));
  });
});

describe('parseTextDump on broken dumps', () => {
  const data = read('2.1.5-json', 'keepalived.data');
  const stats = read('2.1.5-json', 'keepalived.stats');

  // 2.1 prints no count ("Virtual IP :"); the others do, and a list shorter than it is a torn write.
  it.each([
    ['1.3.5-nojson', 'Virtual IP = 2'],
    ['2.0.19-json', 'Virtual IP = 2'],
    ['2.2.8-json', 'Virtual IP (2):'],
  ])('%s: names the line of a VIP list shorter than its header announces', (flavour, header) => {
    const full = read(flavour, 'keepalived.data');
    const cut = full.replace(/^ {5}198\.18\.7\.51.*\n/m, '');
    const line = full.split('\n').indexOf(`   ${header}`) + 1;
    expect(line).toBeGreaterThan(0);
    expect(() => parseTextDump(cut, undefined)).toThrow(TextDumpError);
    expect(() => parseTextDump(cut, undefined)).toThrow(`keepalived.data:${line}: "${header}" announces 2 VIPs but 1 follow`);
  });

  it('refuses a file that is not keepalived.data', () => {
    expect(() => parseTextDump(stats, stats)).toThrow(/no "------< VRRP Topology >------" section/);
  });

  it('refuses counters of an instance the data does not have', () => {
    expect(() => parseTextDump(data, stats.replace('VRRP Instance: VI_2', 'VRRP Instance: VI_9'))).toThrow(/instance VI_9 is not in keepalived\.data/);
  });

  it('refuses a stats file cut between two instances: every instance has its counters', () => {
    const cut = stats.slice(0, stats.indexOf('VRRP Instance: VI_2'));
    expect(() => parseTextDump(data, cut)).toThrow(/no counters for instance VI_2 of keepalived\.data; an incomplete write is retried/);
  });

  it('refuses an unknown state, with its line', () => {
    const line = data.split('\n').findIndex((l) => l === '   State = BACKUP') + 1;
    expect(() => parseTextDump(data.replace('   State = BACKUP', '   State = unknown'), undefined)).toThrow(`keepalived.data:${line}: instance VI_2 has state "unknown"`);
  });

  it('refuses a stats file cut short, naming the missing counters', () => {
    const cut = stats.slice(0, stats.lastIndexOf('  Priority Zero:'));
    expect(() => parseTextDump(data, cut)).toThrow(/instance VI_2 lacks pri_zero_rcvd, pri_zero_sent/);
  });

  it('reads the data alone when there is no stats file', () => {
    expect(parseTextDump(data, undefined).map((i) => i.stats)).toEqual([undefined, undefined]);
  });
});

describe('parseTextDump on any input', () => {
  const realLines = flavours.flatMap((f) => [...read(f, 'keepalived.data').split('\n'), ...read(f, 'keepalived.stats').split('\n')]);
  const onlyItsOwnErrors = (data: string, stats: string | undefined) => {
    try {
      parseTextDump(data, stats);
    } catch (err) {
      if (!(err instanceof TextDumpError)) throw err;
    }
  };

  it('throws nothing but TextDumpError on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 2000 }), fc.option(fc.string(), { nil: undefined }), onlyItsOwnErrors), { numRuns: 500 });
  });

  it('throws nothing but TextDumpError on real dump lines in any order and mix', () => {
    const line = fc.oneof(fc.constantFrom(...realLines), fc.string({ maxLength: 40 }));
    const text = fc.array(line, { maxLength: 300 }).map((ls) => ls.join('\n'));
    fc.assert(fc.property(text, fc.option(text, { nil: undefined }), onlyItsOwnErrors), { numRuns: 300 });
  });
});

describe('halfMadeMasters: a MASTER keepalived has not made yet (1.3.5 between "Transition to" and "Entering MASTER STATE")', () => {
  const [vi1, vi2] = parseFixture('1.3.5-nojson');
  const asBackup = { ...vi1!, state: 'BACKUP' as const };

  it('names an instance MASTER now, not in the previous dump, whose become_master has not moved', () => {
    expect(vi1!.state).toBe('MASTER');
    expect(halfMadeMasters([asBackup, vi2!], [vi1!, vi2!])).toEqual(['VI_1']);
  });

  it('passes a transition keepalived counted, a MASTER it already was, and a first dump', () => {
    const counted = { ...asBackup, stats: { ...asBackup.stats!, become_master: vi1!.stats!.become_master - 1 } };
    expect(halfMadeMasters([counted, vi2!], [vi1!, vi2!])).toEqual([]);
    expect(halfMadeMasters([vi1!, vi2!], [vi1!, vi2!])).toEqual([]);
    expect(halfMadeMasters(undefined, [vi1!, vi2!])).toEqual([]);
    // An instance new since the last dump (a reload) has nothing to be compared with.
    expect(halfMadeMasters([vi2!], [vi1!, vi2!])).toEqual([]);
  });
});

// Real sync-group sections (CAPTURE=sync-groups scripts/capture-keepalived-dumps.sh): G_WEB of VI_1 and
// VI_2, MASTER on director a, BACKUP on b, then FAULT on a once its tracked script fails.
describe('parseTextGroups on the real dumps of each release', () => {
  const groupsDir = new URL('../fixtures/keepalived/sync-groups/', import.meta.url);
  const readGroup = (flavour: string, file: string) => readFileSync(new URL(`${flavour}/${file}`, groupsDir), 'utf8');
  const groupsOf = (flavour: string, file: string) => {
    const text = readGroup(flavour, file);
    return parseTextGroups(text, parseTextDump(text, undefined), `${flavour}/${file}`);
  };

  it('has a capture of every flavour of the matrix', () => {
    expect(readdirSync(groupsDir).sort()).toEqual(flavours);
  });

  it.each(flavours)('%s: the group and its members in MASTER, BACKUP and FAULT', (flavour) => {
    for (const state of ['MASTER', 'BACKUP', 'FAULT'] as const) {
      expect(groupsOf(flavour, `${state.toLowerCase()}.data`)).toEqual([{ name: 'G_WEB', state, members: ['VI_1', 'VI_2'] }]);
    }
  });

  it('1.3.5 prints a FAULT group as BACKUP: told apart by its members, a BACKUP group stays BACKUP', () => {
    const fault = readGroup('1.3.5-nojson', 'fault.data');
    expect(fault).toContain(' VRRP Sync Group = G_WEB, BACKUP');
    const instances = parseTextDump(fault, undefined);
    expect(instances.map((i) => i.state)).toEqual(['FAULT', 'FAULT']);
    expect(parseTextGroups(fault, instances.map((i) => ({ ...i, state: 'BACKUP' as const })))[0]!.state).toBe('BACKUP');
    // 2.x names FAULT itself: a member's state does not change what keepalived says of the group.
    const later = readGroup('2.2.8-json', 'backup.data');
    expect(parseTextGroups(later, parseTextDump(later, undefined).map((i) => ({ ...i, state: 'FAULT' as const })))[0]!.state).toBe('BACKUP');
  });

  it.each(flavours)('%s: the dumps without a group of two list what keepalived kept', (flavour) => {
    const data = read(flavour, 'keepalived.data');
    const expected = data.includes('------< VRRP Sync groups >------') ? [{ name: 'G_WEB', state: 'MASTER', members: ['VI_1'] }] : [];
    expect(parseTextGroups(data, parseTextDump(data, undefined))).toEqual(expected);
  });

  it('refuses a state or a name keepalived could not have written, with its line', () => {
    const data = readGroup('2.4.3-json', 'master.data');
    const line = data.split('\n').indexOf(' VRRP Sync Group = G_WEB, MASTER') + 1;
    expect(() => parseTextGroups(data.replace('G_WEB, MASTER', 'G_WEB, unknown'), [], 'k.data')).toThrow(`k.data:${line}: sync group G_WEB has state "unknown"; expected one of INIT, BACKUP, MASTER, FAULT`);
    expect(() => parseTextGroups(data.replace('G_WEB, MASTER', 'G_WEB MASTER'), [], 'k.data')).toThrow(`k.data:${line}: "VRRP Sync Group = G_WEB MASTER": expected "VRRP Sync Group = NAME, STATE"`);
    expect(() => parseTextGroups(data.replace('G_WEB, MASTER', 'G\u0007, MASTER'), [], 'k.data')).toThrow(new RegExp(`^k.data:${line}: `));
  });

  it('throws nothing but TextDumpError on real sync-group lines in any order and mix', () => {
    const realLines = flavours.flatMap((f) => ['master', 'backup', 'fault'].flatMap((k) => readGroup(f, `${k}.data`).split('\n')));
    const line = fc.oneof(fc.constantFrom(...realLines), fc.string({ maxLength: 40 }));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 200 }), (ls) => {
        try {
          parseTextGroups(ls.join('\n'), []);
        } catch (err) {
          expect(err).toBeInstanceOf(TextDumpError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

// Real dumps of keepalived holding VI_1 until its weight-0 script first answers
// (CAPTURE=script-init scripts/capture-keepalived-dumps.sh): the script's first run kept waiting, then let pass.
describe('the hold before a weight-0 vrrp_script first answers, on the real dumps of each release', () => {
  const initDir = new URL('../fixtures/keepalived/script-init/', import.meta.url);
  const captured = readdirSync(initDir).sort();
  const readInit = (flavour: string, file: string) => readFileSync(new URL(`${flavour}/${file}`, initDir), 'utf8');

  it('has a capture of every flavour from 2.0 (1.3.5 has no such hold)', () => {
    expect(captured).toEqual(flavours.filter((f) => atLeast(f, '2.0.0')));
  });

  it.each(captured)('%s: FAULT with one script awaited and no verdict yet, then none awaited and its verdict', (flavour) => {
    const [held] = parseTextDump(readInit(flavour, 'awaiting.data'), undefined);
    expect([held!.state, held!.scriptsAwaited, held!.scripts]).toEqual(['FAULT', 1, [{ name: 'first_answer', state: 'running' }]]);
    const [answered] = parseTextDump(readInit(flavour, 'answered.data'), undefined);
    expect([answered!.state, answered!.scriptsAwaited, answered!.scripts]).toEqual(['MASTER', 0, [{ name: 'first_answer', good: true, state: 'idle' }]]);
  });

  it.each(captured)('%s: keepalived neither logs nor notifies the hold', (flavour) => {
    expect(readInit(flavour, 'notify.txt').trim().split('\n')).toEqual(['INSTANCE VI_1 BACKUP 150', 'INSTANCE VI_1 MASTER 150']);
    expect(readInit(flavour, 'log-states.txt')).not.toMatch(/FAULT/i);
  });
});

describe('sameStates', () => {
  it('tells the JSON dump and keepalived.data of one moment from two', () => {
    const json = parseDump(read('2.2.8-json', 'keepalived.json'));
    const data = parseTextDump(read('2.2.8-json', 'keepalived.data'), undefined);
    expect(sameStates(json, data)).toBe(true);
    expect(sameStates(json, data.map((i) => (i.name === 'VI_2' ? { ...i, state: 'MASTER' as const } : i)))).toBe(false);
    // An instance only one of them shows (a reload in between) is compared no further.
    expect(sameStates(json, data.slice(1))).toBe(true);
  });
});
