import { describe, expect, it } from 'vitest';
import type { ConfSource } from '../../src/keepalived/conf/parse.js';
import { formatHuman, formatJson } from '../../src/lint/format.js';
import { lintFiles } from '../../src/lint/lint.js';

/** One file in memory: these tests are about what lint makes of a text, not about reading it. */
const oneFile = (text: string): ConfSource => ({
  read: async (path) => {
    if (path !== '/k/keepalived.conf') throw Object.assign(new Error(path), { code: 'ENOENT' });
    return text;
  },
  glob: async () => [],
});

const lint = (text: string) => lintFiles(['/k/keepalived.conf'], { source: oneFile(text) });

const instance = (body: string) => `vrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n${body}\n}\n`;

describe('lint on hostile input', () => {
  it('reports a VIP with a zone id as keepalived does (inet_pton refuses it), without crashing', async () => {
    const result = await lint(instance(' virtual_ipaddress {\n  fe80::1%eth0\n  fe80::2%eth0/64 dev eth0\n }\n unicast_peer {\n  fe80::3%eth0\n }'));
    const zone = result.findings.filter((f) => /zone id/.test(f.message));
    expect(zone.map((f) => `${f.line} ${f.code}`)).toEqual(['7 invalid-value', '8 invalid-value', '11 invalid-value']);
    expect(zone[0]?.fix).toMatch(/dev eth0/);
  });

  it.each([
    ['unbalanced quote before the keyword', ' authentication {\n  auth_type PASS\n  "auth_pass s3cr3tpw\n }'],
    ['unbalanced quote inside the value', ' authentication {\n  auth_type PASS\n  auth_pass s3c"r3tpw }\n }'],
    ['quoted keyword and value as one word', ' authentication {\n  "auth_pass s3cr3tpw"\n }'],
    ['value read as a comment-lookalike', ' authentication {\n  auth_pass //s3cr3tpw\n }'],
    ['keyword in the wrong section', ' auth_pass s3cr3tpw'],
    ['password quoted with its keyword', ' "password s3cr3tpw'],
    ['secret glued to its keyword', ' authentication {\n  auth_type PASS\n  "auth_pass=s3cr3tpw}"\n }'],
  ])('never shows an auth_pass or password value in a finding: %s', async (_, body) => {
    const result = await lint(instance(body));
    expect(result.findings.length).toBeGreaterThan(0);
    const shown = [formatJson(result), formatHuman(result, false)].join('\n');
    expect(shown).not.toMatch(/s3c"?r3tpw|s3c|r3tpw/);
  });

  it('ten lines of ~SEQ(i,1,10000) give bounded findings at their lines, not a crash or a hang', async () => {
    const text = Array.from({ length: 10 }, () => '~SEQ(i,1,10000) vrrp_instance VI_$i { }').join('\n');
    const result = await lint(text);
    const cut = result.findings.filter((f) => f.code === 'parse-error' && /expands past/.test(f.message));
    expect(cut.map((f) => f.line)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(formatHuman(result, false)).toContain(`${result.findings.filter((f) => f.severity === 'error').length} error(s)`);
  });

  it('escapes control characters and cuts long words quoted from the file', async () => {
    // U+009B is the one-byte CSI: a terminal reads what follows as a command.
    const result = await lint(`global_defs {\n \u009b31mevil${'x'.repeat(500)} 1\n}\n`);
    const unknown = result.findings.find((f) => f.code === 'unknown-keyword');
    expect(unknown?.message).toContain('\\x9b31mevil');
    expect(unknown?.message).not.toContain('\u009b');
    expect(unknown!.message.length).toBeLessThan(200);
  });
});
