import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DEPRECATED, REMOVED, SECTIONS, UNDOCUMENTED, editDistance, nearest } from '../../../src/keepalived/conf/keywords.js';
import { describeWithPrereqs } from '../../support/prereq.js';

const run = promisify(execFile);

describe('nearest keyword (Damerau-Levenshtein)', () => {
  it('counts an adjacent transposition as one edit', () => {
    expect(editDistance('lb_algo', 'lb_aglo')).toBe(1);
    expect(editDistance('lib_algo', 'lb_algo')).toBe(1);
    expect(editDistance('priority', 'priority')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests the keyword an OCR or typing slip came from, nothing for a stranger', () => {
    const vs = SECTIONS.get('virtual_server')?.keywords ?? new Set<string>();
    expect(nearest('lib_algo', vs)).toBe('lb_algo');
    expect(nearest('lib_kind', vs)).toBe('lb_kind');
    expect(nearest('persistance_timeout', vs)).toBe('persistence_timeout');
    expect(nearest('hostname', vs)).toBeUndefined();
    expect(nearest('lvs_sync_daemon_inteface', SECTIONS.get('vrrp_instance')?.keywords ?? [])).toBe('lvs_sync_daemon_interface');
  });
});

describe('keyword table', () => {
  it('has the sections keepalived nests, lists marked as lists', () => {
    expect(SECTIONS.get('vrrp_instance')?.keywords.has('virtual_router_id')).toBe(true);
    expect(SECTIONS.get('virtual_server/real_server/HTTP_GET/url')?.keywords.has('status_code')).toBe(true);
    expect(SECTIONS.get('vrrp_instance/virtual_ipaddress')?.list).toBe(true);
    expect(SECTIONS.get('')?.keywords.has('vrrp_instance')).toBe(true);
  });

  it('knows every deprecated keyword in its section', () => {
    for (const [section, entries] of Object.entries(DEPRECATED)) {
      for (const keyword of Object.keys(entries)) expect(SECTIONS.get(section)?.keywords.has(keyword), `${section}/${keyword}`).toBe(true);
    }
  });
});

/** Arguments that let keepalived open a section header. */
const HEADER_ARGS: Record<string, string> = { vrrp_instance: 'VI_X', vrrp_sync_group: 'G_X', virtual_server: '10.0.0.1 80', real_server: '10.0.0.2 80' };

function wrap(section: string, body: string[]): string {
  const parts = section ? section.split('/') : [];
  const open = parts.map((p) => `${p} ${HEADER_ARGS[p] ?? ''} {`);
  return [...open, ...body, ...parts.map(() => '}')].join('\n') + '\n';
}

describeWithPrereqs('keyword table against keepalived 2.2.7 itself', { root: true, commands: ['keepalived', 'unshare', 'ip'] }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kawatch-keywords-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The keywords keepalived -t calls unknown when each is given inside `section`. */
  async function unknownTo(section: string, keywords: string[]): Promise<string[]> {
    const file = join(dir, `${section.replaceAll('/', '_') || 'root'}-${keywords.length}.conf`);
    writeFileSync(file, wrap(section, keywords.map((k) => `${k} 1`)));
    const out = await run('unshare', ['-n', 'sh', '-c', 'ip link add eth0 type veth peer name eth1; keepalived -t -f "$1" 2>&1; true', 'sh', file]);
    return [...new Set([...out.stdout.matchAll(/Unknown keyword '([^']*)'/g)].map((m) => m[1] as string))].sort();
  }

  it.each(Object.entries(UNDOCUMENTED))('keepalived reads the undocumented keywords of section "%s"', async (section, keywords) => {
    expect(await unknownTo(section, keywords.filter((k) => k !== 'host'))).toEqual([]);
  });

  it.each(Object.entries(REMOVED))('keepalived no longer reads the removed keywords of %s', async (section, entries) => {
    const keywords = Object.keys(entries);
    expect(await unknownTo(section, keywords)).toEqual(keywords.sort());
  });

  it('an invented keyword is unknown to keepalived (the probe can fail)', async () => {
    expect(await unknownTo('vrrp_instance', ['kawatch_invented'])).toEqual(['kawatch_invented']);
  });
});

describeWithPrereqs(
  'generated keyword table',
  { root: true, commands: ['keepalived', 'unshare', 'ip', 'man', 'col'], files: ['/usr/share/man/man5/keepalived.conf.5.gz'] },
  () => {
    it('keywords.generated.ts is what scripts/extract-keepalived-keywords.mjs makes of this keepalived', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'kawatch-keywords-gen-'));
      try {
        const out = join(dir, 'keywords.generated.ts');
        await run('node', [fileURLToPath(new URL('../../../scripts/extract-keepalived-keywords.mjs', import.meta.url)), out]);
        const stored = fileURLToPath(new URL('../../../src/keepalived/conf/keywords.generated.ts', import.meta.url));
        expect(readFileSync(out, 'utf8')).toBe(readFileSync(stored, 'utf8'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  },
);
