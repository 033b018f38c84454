import { describe, expect, it } from 'vitest';
import { DEPRECATED, SECTIONS, editDistance, nearest } from '../../../src/keepalived/conf/keywords.js';

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

// What the real keepalived reads of the table: keywords.lab.test.ts.
