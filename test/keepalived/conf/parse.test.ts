import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConfNode } from '../../../src/keepalived/conf/ast.js';
import { expandBraces, fileSystemSource, parseKeepalivedConf, parseText, splitWords, type ConfSource } from '../../../src/keepalived/conf/parse.js';

/** keyword args… and children, without places: the shape keepalived builds. */
function shape(nodes: ConfNode[]): unknown[] {
  return nodes.map((n) => (n.children ? { [`${[n.keyword, ...n.args].join(' ')}`]: shape(n.children) } : [n.keyword, ...n.args].join(' ')));
}

/** Files in memory, globbed with the real glob matcher's rules. */
function memorySource(files: Record<string, string>): ConfSource {
  return {
    read: async (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
      return text;
    },
    glob: async (pattern) => {
      const alternatives = expandBraces(pattern).map((p) => new RegExp(`^${p.replace(/[.+^$()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`));
      return Object.keys(files).filter((f) => alternatives.some((re) => re.test(f))).sort();
    },
  };
}

describe('splitWords (keepalived tokenisation)', () => {
  it('cuts comments at ! and # anywhere outside quotes, even glued to a word', () => {
    expect(splitWords('router_id W#not_a_comment')).toEqual(['router_id', 'W']);
    expect(splitWords('auth_pass 1111 ! shared')).toEqual(['auth_pass', '1111']);
    expect(splitWords('script "/bin/check #1 !x"')).toEqual(['script', '/bin/check #1 !x']);
  });

  it('makes braces words of their own outside quotes', () => {
    expect(splitWords('global_defs{ router_id a}')).toEqual(['global_defs', '{', 'router_id', 'a', '}']);
    expect(splitWords('notify "a}b"')).toEqual(['notify', 'a}b']);
  });

  it('keeps a semicolon in the value, as keepalived does', () => {
    expect(splitWords('auth_type PASS;')).toEqual(['auth_type', 'PASS;']);
  });
});

describe('parseText (block building)', () => {
  it('nests blocks and keeps every node at its line', () => {
    const conf = parseText('global_defs {\n  router_id lb1\n}\nvrrp_instance VI_1 {\n  authentication {\n    auth_type PASS\n  }\n}\n', 'k.conf');
    expect(shape(conf.nodes)).toEqual([{ 'global_defs': ['router_id lb1'] }, { 'vrrp_instance VI_1': [{ authentication: ['auth_type PASS'] }] }]);
    const auth = conf.nodes[1]?.children?.[0]?.children?.[0];
    expect(auth).toMatchObject({ keyword: 'auth_type', file: 'k.conf', line: 6 });
    expect(conf.problems).toEqual([]);
  });

  it('reads flattened lines: several blocks, } on the same line, { on the next line', () => {
    const conf = parseText('global_defs { router_id a } vrrp_script s { script x }\nvrrp_instance V\n{\n virtual_ipaddress { 10.0.0.1 }}\n', 'k');
    expect(shape(conf.nodes)).toEqual([{ 'global_defs': ['router_id a'] }, { 'vrrp_script s': ['script x'] }, { 'vrrp_instance V': [{ virtual_ipaddress: ['10.0.0.1'] }] }]);
    expect(conf.problems).toEqual([]);
  });

  it('reports an extra }, a stray { and an unclosed block with their lines', () => {
    const conf = parseText('global_defs {\n}\n}\n{\nvrrp_instance V {\n state BACKUP\n', 'k');
    expect(conf.problems.map((p) => `${p.line} ${p.message}`)).toEqual([
      "3 Extra '}' found",
      "4 Unexpected '{'",
      "4 '{' block opened here is never closed ('}' missing)",
      "5 'vrrp_instance' block opened here is never closed ('}' missing)",
    ]);
  });

  it('does not join lines ending in a backslash (keepalived 2.2.7 only does in $NAME= definitions)', () => {
    const conf = parseText('global_defs {\n long_kw \\\n cont\n}\n', 'k');
    expect(shape(conf.nodes)).toEqual([{ global_defs: ['long_kw \\', 'cont'] }]);
  });

  it('keeps @ID lines marked when no config-id is chosen, filters them when one is', () => {
    const text = 'vrrp_instance V {\n @lb1 priority 150\n @^lb1 priority 100\n}\n';
    const all = parseText(text, 'k').nodes[0]?.children ?? [];
    expect(all.map((n) => [n.args[0], n.condition, n.line])).toEqual([['150', '@lb1', 2], ['100', '@^lb1', 3]]);
    expect(shape(parseText(text, 'k', { configId: 'lb1' }).nodes)).toEqual([{ 'vrrp_instance V': ['priority 150'] }]);
    expect(shape(parseText(text, 'k', { configId: 'lb2' }).nodes)).toEqual([{ 'vrrp_instance V': ['priority 100'] }]);
    expect(parseText(text, 'k', { configId: 'lb1' }).nodes[0]?.children?.[0]?.condition).toBeUndefined();
  });

  it('substitutes $NAME and ${NAME}, leaves unknown names as they are', () => {
    const conf = parseText('$IF=eth0\n$NAME=unk\nvrrp_instance V {\n interface $IF\n ${NAME}_x 1\n $IF_kw 2\n}\n', 'k');
    expect(shape(conf.nodes)).toEqual([{ 'vrrp_instance V': ['interface eth0', 'unk_x 1', '$IF_kw 2'] }]);
  });

  it('expands multiline definitions and ~SEQ lines at the line that uses them', () => {
    const text = '$VIPS= \\\n10.0.0.1 \\\n10.0.0.2\nvrrp_instance V {\n virtual_ipaddress {\n $VIPS\n ~SEQ(N, 5, 2, 9) 10.1.0.$N\n }\n}\n';
    const vips = parseText(text, 'k').nodes[0]?.children?.[0]?.children ?? [];
    expect(vips.map((n) => `${n.keyword}@${n.line}`)).toEqual(['10.0.0.1@6', '10.0.0.2@6', '10.1.0.5@7', '10.1.0.7@7', '10.1.0.9@7']);
  });

  it('reports a broken ~SEQ', () => {
    expect(parseText('~SEQ(N, 1, 0, 3) x', 'k').problems[0]?.message).toMatch(/Invalid ~SEQ values/);
  });
});

describe('expandBraces', () => {
  it('expands csh braces like glob(3) with GLOB_BRACE', () => {
    expect(expandBraces('/etc/{a,b/{c,d}}.conf')).toEqual(['/etc/a.conf', '/etc/b/c.conf', '/etc/b/d.conf']);
    expect(expandBraces('/etc/plain.conf')).toEqual(['/etc/plain.conf']);
  });
});

describe('parseKeepalivedConf (includes)', () => {
  it('splices includes in place; a relative path is relative to the including file', async () => {
    const source = memorySource({
      '/etc/keepalived/keepalived.conf': 'global_defs {\n router_id a\n}\ninclude conf.d/*.conf\nvrrp_script last {\n script x\n}\n',
      '/etc/keepalived/conf.d/b.conf': 'include ../common/{x,y}.inc\n',
      '/etc/keepalived/conf.d/a.conf': 'vrrp_instance A {\n state BACKUP\n}\n',
      '/etc/keepalived/common/x.inc': 'vrrp_script x {\n script x\n}\n',
      '/etc/keepalived/common/y.inc': 'vrrp_script y {\n script y\n}\n',
    });
    const conf = await parseKeepalivedConf('/etc/keepalived/keepalived.conf', { source });
    expect(conf.nodes.map((n) => `${n.keyword} ${n.args[0] ?? ''} ${n.file}:${n.line}`)).toEqual([
      'global_defs  /etc/keepalived/keepalived.conf:1',
      'vrrp_instance A /etc/keepalived/conf.d/a.conf:1',
      'vrrp_script x /etc/keepalived/common/x.inc:1',
      'vrrp_script y /etc/keepalived/common/y.inc:1',
      'vrrp_script last /etc/keepalived/keepalived.conf:5',
    ]);
    expect(conf.files).toEqual([
      '/etc/keepalived/keepalived.conf',
      '/etc/keepalived/conf.d/a.conf',
      '/etc/keepalived/conf.d/b.conf',
      '/etc/keepalived/common/x.inc',
      '/etc/keepalived/common/y.inc',
    ]);
    expect(conf.problems).toEqual([]);
  });

  it('a block may open in one file and close in the included one', async () => {
    const source = memorySource({ '/k/main.conf': 'vrrp_instance A {\ninclude body.inc\n', '/k/body.inc': ' state BACKUP\n}\n' });
    const conf = await parseKeepalivedConf('/k/main.conf', { source });
    expect(shape(conf.nodes)).toEqual([{ 'vrrp_instance A': ['state BACKUP'] }]);
  });

  it('reports an unreadable include (a warning for plain include, as keepalived carries on), a cycle, and throws for the entry file', async () => {
    const source = memorySource({ '/k/main.conf': 'include missing.conf\ninclude main.conf\nincludea none*.conf\n' });
    const conf = await parseKeepalivedConf('/k/main.conf', { source });
    expect(conf.problems.map((p) => `${p.line} ${p.severity ?? 'error'} ${p.message}`)).toEqual([
      '1 warning cannot read included file /k/missing.conf: ENOENT',
      '2 error /k/main.conf includes itself',
      '3 error includea none*.conf: no file matches',
    ]);
    await expect(parseKeepalivedConf('/k/absent.conf', { source })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('shares parameter definitions across included files, in reading order', async () => {
    const source = memorySource({ '/k/main.conf': 'include defs.inc\nvrrp_instance A {\n interface $IF\n}\n', '/k/defs.inc': '$IF=bond0\n' });
    const conf = await parseKeepalivedConf('/k/main.conf', { source });
    expect(shape(conf.nodes)).toEqual([{ 'vrrp_instance A': ['interface bond0'] }]);
  });

  describe('on the real file system', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kawatch-conf-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('globs with *, ?, [..] and braces, skipping dot files, sorted', async () => {
      mkdirSync(join(dir, 'conf.d'));
      for (const name of ['b1.conf', 'a1.conf', '.hidden.conf', 'c.txt', 'x9.conf']) writeFileSync(join(dir, 'conf.d', name), '');
      expect(await fileSystemSource.glob(join(dir, 'conf.d/*.conf'))).toEqual([join(dir, 'conf.d/a1.conf'), join(dir, 'conf.d/b1.conf'), join(dir, 'conf.d/x9.conf')]);
      expect(await fileSystemSource.glob(join(dir, 'conf.d/[ab]?.{conf,txt}'))).toEqual([join(dir, 'conf.d/a1.conf'), join(dir, 'conf.d/b1.conf')]);
      expect(await fileSystemSource.glob(join(dir, 'nowhere/*.conf'))).toEqual([]);
    });

    it('shows the entry file as given and included files by their path', async () => {
      writeFileSync(join(dir, 'main.conf'), 'include conf.d/a1.conf\nglobal_defs {\n}\n');
      writeFileSync(join(dir, 'conf.d/a1.conf'), 'vrrp_script s {\n}\n');
      const conf = await parseKeepalivedConf(join(dir, 'main.conf'));
      expect(conf.nodes.map((n) => `${n.keyword}@${n.file}:${n.line}`)).toEqual([`vrrp_script@${join(dir, 'conf.d/a1.conf')}:1`, `global_defs@${join(dir, 'main.conf')}:2`]);
    });
  });
});
