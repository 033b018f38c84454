import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandBraces, fileSystemSource, GlobLimitError, LIMITS, matchSegment, parseKeepalivedConf, parseText, type GlobWork } from '../../../src/keepalived/conf/parse.js';

/** Every node of a tree, iteratively (a deep tree must not be what overflows the stack here). */
function countNodes(nodes: { children?: unknown[] }[]): number {
  let n = 0;
  const stack = [...nodes];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    n++;
    for (const child of (node.children ?? []) as { children?: unknown[] }[]) stack.push(child);
  }
  return n;
}

describe('~SEQ and parameter expansion are bounded for the whole configuration', () => {
  it('ten lines of ~SEQ(i,1,10000) stop at the budget, each cut line reported at its file:line', () => {
    const text = Array.from({ length: 10 }, () => '~SEQ(i,1,10000) vrrp_script s_$i { }').join('\n');
    const conf = parseText(text, 'seq.conf');
    expect(conf.nodes.length).toBe(LIMITS.expandedLines);
    const cut = conf.problems.filter((p) => /expands past kawatch's bound/.test(p.message));
    const firstCut = LIMITS.expandedLines / 10_000 + 1;
    expect(cut.map((p) => `${p.file}:${p.line}`)).toEqual(Array.from({ length: 10 - firstCut + 1 }, (_, i) => `seq.conf:${firstCut + i}`));
  });

  it('a ~SEQ of 10^15 values is walked lazily, up to the budget', () => {
    const conf = parseText('~SEQ(i,1,999999999999999) vrrp_script s_$i { }', 'k');
    expect(conf.nodes.length).toBe(LIMITS.expandedLines);
    expect(conf.problems).toHaveLength(1);
    expect(parseText('~SEQ(i,1,1e400) x', 'k').problems[0]?.message).toMatch(/Invalid ~SEQ values/);
  });

  it('multiline parameters count against the same budget', () => {
    const definition = `$MANY= \\\n${Array.from({ length: 99 }, (_, i) => `x${i} \\`).join('\n')}\nlast\n`;
    const uses = Array.from({ length: 300 }, () => '$MANY').join('\n');
    const conf = parseText(definition + uses, 'k');
    expect(conf.nodes.length).toBe(LIMITS.expandedLines);
    expect(conf.problems[0]?.message).toMatch(/a multiline parameter expands past/);
  });

  it('a line made longer than keepalived’s 1023 characters by substitution is reported, not read', () => {
    const conf = parseText(`$A=${'a'.repeat(600)}\nrouter_id $A$A\n`, 'k');
    expect(conf.nodes).toEqual([]);
    expect(conf.problems.map((p) => `${p.line} ${p.message}`)).toEqual([expect.stringMatching(/^2 parameter substitution makes a line of 1210 characters/)]);
  });

  it("reads a line longer than keepalived's MAXBUF in 1023-character pieces, as keepalived does, with a warning", () => {
    const conf = parseText(`router_id ${'x'.repeat(1500)}\n`, 'k');
    expect(conf.nodes.map((n) => n.keyword.length + n.args.join(' ').length)).toEqual([1022, 487]);
    expect(conf.problems).toMatchObject([{ line: 1, severity: 'warning', message: expect.stringMatching(/line of 1510 characters/) }]);
  });

  it('skips blocks nested deeper than the bound, keeping the braces balanced', () => {
    const depth = 5_000;
    const text = `${'a {\n'.repeat(depth)}${'}\n'.repeat(depth)}after 1\n`;
    const conf = parseText(text, 'k');
    expect(countNodes(conf.nodes)).toBe(LIMITS.blockDepth + 1 + 1);
    expect(conf.nodes.at(-1)?.keyword).toBe('after');
    expect(conf.problems.map((p) => p.line)).toEqual([LIMITS.blockDepth + 1]);
  });
});

describe('include globs are bounded and matched without backtracking', () => {
  it('matches *a*a*…*b against a long name in at most pattern × name steps', () => {
    const pattern = `${'*a'.repeat(12)}*b`;
    for (const n of [32, 256]) {
      const work: GlobWork = { steps: 0 };
      expect(matchSegment(pattern, 'a'.repeat(n), work)).toBe(false);
      expect(work.steps).toBeLessThanOrEqual(pattern.length * n);
    }
    // Growth: 8× the name costs at most ~8× the work (plus slack), not 8^12×.
    const steps = (n: number) => {
      const work: GlobWork = { steps: 0 };
      matchSegment(pattern, 'a'.repeat(n), work);
      return work.steps;
    };
    expect(steps(800)).toBeLessThanOrEqual(steps(100) * 8 * 2);
  });

  it('keeps glob(3) semantics: *, ?, sets, negation, escapes, leading dots', () => {
    expect(matchSegment('*.conf', 'a.conf')).toBe(true);
    expect(matchSegment('*.conf', '.a.conf')).toBe(false);
    expect(matchSegment('.*', '.a')).toBe(true);
    expect(matchSegment('[ab]?.c*', 'b1.conf')).toBe(true);
    expect(matchSegment('[!ab]*', 'a1')).toBe(false);
    expect(matchSegment('[!ab]*', 'c1')).toBe(true);
    expect(matchSegment('[a-c]x', 'bx')).toBe(true);
    expect(matchSegment('[]]x', ']x')).toBe(true);
    expect(matchSegment('\\*', '*')).toBe(true);
    expect(matchSegment('\\*', 'a')).toBe(false);
    // A reversed range is an empty set, not an exception (a RegExp would throw "Range out of order").
    expect(matchSegment('[z-a]', 'm')).toBe(false);
    expect(matchSegment('a[', 'a[')).toBe(true);
  });

  it('stops brace expansion at its bound instead of making 2^20 patterns', () => {
    expect(expandBraces('/k/{a,b}{c,d}.conf')).toEqual(['/k/ac.conf', '/k/ad.conf', '/k/bc.conf', '/k/bd.conf']);
    expect(() => expandBraces(`/k/${'{a,b}'.repeat(20)}`)).toThrow(GlobLimitError);
  });

  describe('on the real file system', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kawatch-limits-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'a'.repeat(200)), 'router_id long\n');

    it('an include with a crafted glob finishes and reads what it matches', async () => {
      writeFileSync(join(dir, 'stars.conf'), `include ${'*a'.repeat(12)}*\ninclude ${'*a'.repeat(12)}*b\n`);
      const conf = await parseKeepalivedConf(join(dir, 'stars.conf'));
      expect(conf.nodes.map((n) => `${n.keyword} ${n.args.join(' ')}`)).toEqual(['router_id long']);
    });

    it('a brace bomb in an include is a problem at its line', async () => {
      writeFileSync(join(dir, 'braces.conf'), `global_defs {\n}\ninclude ${'{a,b}'.repeat(20)}.conf\n`);
      const conf = await parseKeepalivedConf(join(dir, 'braces.conf'));
      expect(conf.problems.map((p) => `${p.line} ${p.message}`)).toEqual([expect.stringMatching(/^3 include .*braces expand to more than 256 patterns/)]);
    });

    it('refuses to read what is not a regular file (/dev/zero, a FIFO would never end)', async () => {
      writeFileSync(join(dir, 'dev.conf'), 'include /dev/zero\nincludea /dev/null\n');
      const conf = await parseKeepalivedConf(join(dir, 'dev.conf'));
      expect(conf.problems.map((p) => `${p.line} ${p.message}`)).toEqual([
        '1 cannot read included file /dev/zero: not a regular file',
        '2 cannot read included file /dev/null: not a regular file',
      ]);
      await expect(fileSystemSource.read('/dev/zero')).rejects.toThrow(/not a regular file/);
    });

    it('a diamond of includes stops at the bound on files read', async () => {
      // Each level includes the next twice: 2^12 reads without a bound.
      mkdirSync(join(dir, 'diamond'));
      for (let level = 0; level < 12; level++) writeFileSync(join(dir, 'diamond', `l${level}.conf`), `include l${level + 1}.conf\ninclude l${level + 1}.conf\n`);
      writeFileSync(join(dir, 'diamond', 'l12.conf'), 'router_id x\n');
      const conf = await parseKeepalivedConf(join(dir, 'diamond', 'l0.conf'));
      expect(conf.files.length).toBe(LIMITS.files);
      expect(conf.problems.some((p) => /reads more than 256 files/.test(p.message))).toBe(true);
    });
  });
});
