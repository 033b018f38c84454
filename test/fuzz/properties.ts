/**
 * One property per parser and decoder kawatch feeds untrusted input to: what it may do with any
 * input (return, or fail with its own validation error or problem list, never another exception),
 * and what must hold of what it returns (bounded numbers, valid names, no prototype pollution,
 * no secret shown). The unit tests run them with fixed seeds; bench/fuzz.ts runs them for minutes
 * with random seeds and measures growth on inputs of size n and 8n.
 */
import fc from 'fast-check';
import { canonicalIp } from '../../src/core/ip.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { decodeDestinationReplies, decodeServiceReplies, UnknownAttributes } from '../../src/ipvs/genl.js';
import type { IpvsDestination, IpvsService, IpvsTable, ServiceKey } from '../../src/model/ipvs.js';
import { parseIpVs, parseIpVsStats } from '../../src/ipvs/procfs.js';
import type { ConfSource } from '../../src/keepalived/conf/parse.js';
import { matchSegment, parseText } from '../../src/keepalived/conf/parse.js';
import { DumpError, parseDump } from '../../src/keepalived/dump.js';
import { parseFifoLine } from '../../src/keepalived/fifo-line.js';
import { parseNotifyArgs } from '../../src/keepalived/notify-args.js';
import { checkInterfaceName, checkName, isPlausibleEpochMs } from '../../src/keepalived/report.js';
import { VRRP_STATES, type KeepalivedReport } from '../../src/model/vrrp.js';
import { parseSpoolRecord, SPOOL_MAGIC } from '../../src/keepalived/spool.js';
import { formatHuman, formatJson } from '../../src/lint/format.js';
import { lintFiles } from '../../src/lint/lint.js';
import { ipvsExposition } from '../../src/metrics/ipvs.js';
import { MALFORMED_REASONS, parseDatagram, type Datagram } from '../../src/vrrp/packet.js';

export interface ParserProperty<T> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  /** Throws (or rejects) when the property does not hold for `input`. */
  check: (input: T) => void | Promise<void>;
  /** A hostile input of about `n` units, for the growth comparison of n and 8n. */
  grow: (n: number) => T;
}

class Violation extends Error {
  override name = 'Violation';
}

function assert(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Violation(what);
}

/** Only the module's own error may escape; anything else is a finding. */
function only<E extends Error>(errorClass: new (...args: never[]) => E, run: () => void): void {
  try {
    run();
  } catch (err) {
    if (!(err instanceof errorClass)) throw new Violation(`threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
  }
}

const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'toString', 'prototype', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

/** Object.prototype untouched: no parser may write through a `__proto__` key. */
function assertNoPollution(): void {
  const probe = {} as Record<string, unknown>;
  for (const key of ['polluted', 'x', 'isAdmin', 'weight']) assert(probe[key] === undefined, `Object.prototype.${key} was set`);
}

const inRange = (n: number | undefined, min: number, max: number) => n === undefined || (Number.isFinite(n) && n >= min && n <= max);
const safeCount = (n: number | undefined) => n === undefined || (Number.isSafeInteger(n) && n >= 0);

/** Numbers where parsers break: edges, huge, negative, fractional, non-finite spellings. */
const hostileNumber = fc.oneof(
  fc.integer({ min: -3, max: 300 }),
  fc.constantFrom(0, -0, 1e20, -1e20, 1e300, 2 ** 53, 2 ** 53 + 2, 2 ** 31, 2 ** 32, 4294967296, 0.5, 1795314068.69, 946684799, 4102444801),
  fc.double({ noNaN: true }),
);
const hostileText = fc.oneof(
  fc.constantFrom(...PROTOTYPE_KEYS, '', ' ', 'VI_1', 'eth0', 'a'.repeat(16), 'x'.repeat(1010), 'fe80::1%eth0', 'eth0:1', '..', 'a/b', 'VI\u0000', 'é', '"', '\u009b31m'),
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

// ---------------------------------------------------------------- keepalived JSON dump

const dumpEntry = fc.record(
  {
    data: fc.record(
      {
        iname: hostileText,
        vrid: hostileNumber,
        ifp_ifname: hostileText,
        state: fc.oneof(fc.constantFrom(0, 1, 2, 3, 97, 98), hostileNumber),
        base_priority: hostileNumber,
        effective_priority: hostileNumber,
        last_transition: hostileNumber,
        adver_int: hostileNumber,
        garp_delay: hostileNumber,
        auth_type: hostileNumber,
        auth_data: hostileText,
        nopreempt: fc.oneof(fc.boolean(), hostileNumber),
        vips: fc.array(fc.oneof(hostileText, fc.constantFrom('10.0.0.1/24 dev eth0', 'fd00::1/129', 'fe80::1%eth0/64', '10.0.0.1/24 dev ' + 'x'.repeat(20))), { maxLength: 4 }),
      },
      { requiredKeys: [] },
    ),
    stats: fc.dictionary(fc.constantFrom('advert_rcvd', 'advert_sent', 'become_master', '__proto__', 'toString'), hostileNumber),
  },
  { requiredKeys: [] },
);

export const dumpProperty: ParserProperty<string> = {
  name: 'keepalived JSON dump',
  arbitrary: fc.oneof(
    fc.array(dumpEntry, { maxLength: 3 }).map((entries) => JSON.stringify(entries)),
    fc.array(dumpEntry, { maxLength: 2 }).map((entries) => JSON.stringify({ vrrp: entries })),
    fc.array(dumpEntry, { maxLength: 2 }).map((entries) => JSON.stringify(entries).replace(/"iname"/g, '"__proto__":{"polluted":1},"iname"')),
    fc.string({ maxLength: 60 }),
    fc.json(),
  ),
  check(text) {
    only(DumpError, () => {
      for (const i of parseDump(text, 'fuzz.json', (m) => `digest:${m.length}`)) {
        assert(checkName(i.name, 'instance') === undefined, `invalid instance name ${JSON.stringify(i.name)}`);
        assert(i.interface === undefined || checkInterfaceName(i.interface) === undefined, `invalid interface ${JSON.stringify(i.interface)}`);
        assert(Number.isInteger(i.vrid) && i.vrid >= 1 && i.vrid <= 255, `vrid ${i.vrid}`);
        assert(inRange(i.basePriority, 0, 255) && inRange(i.effectivePriority, 0, 255), 'priority out of 0..255');
        assert(inRange(i.advertInterval, 0, 255), `advert_int ${i.advertInterval}`);
        assert(i.lastTransition === undefined || isPlausibleEpochMs(i.lastTransition * 1000), `last_transition ${i.lastTransition}`);
        if (i.lastTransition !== undefined) new Date(i.lastTransition * 1000).toISOString();
        for (const value of Object.values(i.stats ?? {})) assert(safeCount(value), `counter ${value}`);
        for (const vip of i.vips) assert(canonicalIp(vip.address) === vip.address, `VIP ${vip.address}`);
        assert(!JSON.stringify(i).includes('auth_data'), 'the password field left the parser');
      }
    });
    assertNoPollution();
  },
  grow: (n) => JSON.stringify(Array.from({ length: n }, (_, k) => ({ data: { iname: `VI_${k}`, vrid: (k % 255) + 1, state: 2, vips: ['10.0.0.1/24 dev eth0'] } }))),
};

// ---------------------------------------------------------------- FIFO lines and the checker join

const endpoint = fc.oneof(
  fc.tuple(fc.constantFrom('198.18.9.50', '2001:db8::1', 'fe80::1%eth0', '::ffff:1.2.3.4', 'web_group', '', '[', 'constructor', '1.2.3.4%2'), fc.constantFrom(':tcp', ':udp', ':sctp', ':?', '', ':TCP'), fc.constantFrom(':80', ':0', ':65536', ':99999', ':', ':8080')).map(([a, p, port]) => `[${a}]${p}${port}`),
  fc.constantFrom('FWM 7', 'FWM 4294967296', 'FWM -1', 'FWM '),
  fc.string({ maxLength: 12 }),
);

export const fifoProperty: ParserProperty<string> = {
  name: 'FIFO line',
  arbitrary: fc.oneof(
    fc.tuple(fc.constantFrom('RS', 'VS', 'rs'), endpoint, endpoint, fc.constantFrom('UP', 'DOWN', 'MAYBE', '')).map(([kind, a, b, verdict]) => (kind === 'VS' ? `VS ${a} ${verdict}` : `${kind} ${a} ${b} ${verdict}`)),
    fc.tuple(fc.constantFrom('INSTANCE', 'GROUP'), hostileText, fc.constantFrom(...VRRP_STATES, 'MASTER_RX_LOWER_PRI', 'master', 'x'), fc.oneof(fc.constant(''), hostileNumber.map((n) => ` ${n}`))).map(([s, name, state, prio]) => `${s} "${name}" ${state}${prio}`),
    fc.string({ maxLength: 80 }),
  ),
  check(line) {
    const parsed = parseFifoLine(line);
    if (!parsed.ok) {
      assert(typeof parsed.error === 'string' && parsed.error.length > 0, 'a refusal without a reason');
      return;
    }
    checkReport(parsed.value);
    if (parsed.value.kind === 'checker') {
      // Whatever the parser let through must not break the IPVS exposition (the checker join).
      const checker = { virtualServer: parsed.value.virtualServer, realServer: parsed.value.realServer, up: parsed.value.up, since: 0 };
      const base = [...ipvsExposition({ table: tinyTable(), health: { up: true, durationSeconds: 0, problemsTotal: 0 }, backendLabels: ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark'], checkers: [] })].join('');
      const joined = [...ipvsExposition({ table: tinyTable(), health: { up: true, durationSeconds: 0, problemsTotal: 0 }, backendLabels: ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark'], checkers: [checker] })].join('');
      assert(joined.startsWith(base.slice(0, base.lastIndexOf('ipvs_backend_info'))), 'a checker verdict changed the table series');
    }
  },
  grow: (n) => `RS [${'1'.repeat(n)}]:tcp:80 [${' '.repeat(n)}]:tcp:80 UP`,
};

function tinyTable(): IpvsTable {
  const destination: IpvsDestination = { family: 4, address: '198.18.9.101', port: 80, forwarding: 'route', weight: 1, activeConnections: 0, inactiveConnections: 0 };
  const service: IpvsService = { protocol: 'TCP', family: 4, address: '198.18.9.50', port: 80, fwmark: 0, scheduler: 'rr', flags: [], destinations: [destination] };
  const zero = { connections: 0n, incomingPackets: 0n, outgoingPackets: 0n, incomingBytes: 0n, outgoingBytes: 0n };
  return { services: [service], totals: zero, totalRates: { connectionsPerSecond: 0, incomingPacketsPerSecond: 0, outgoingPacketsPerSecond: 0, incomingBytesPerSecond: 0, outgoingBytesPerSecond: 0 }, problems: [] };
}

function checkReport(report: KeepalivedReport): void {
  if (report.kind === 'checker') return;
  if (report.name !== undefined) assert(checkName(report.name, 'instance') === undefined, `invalid name ${JSON.stringify(report.name)}`);
  assert(inRange(report.priority, 0, 255) && (report.priority === undefined || Number.isInteger(report.priority)), `priority ${report.priority}`);
  if (report.kind === 'state') assert((VRRP_STATES as readonly string[]).includes(report.state), `state ${report.state}`);
}

// ---------------------------------------------------------------- notify arguments

export const notifyProperty: ParserProperty<string[]> = {
  name: 'notify arguments',
  arbitrary: fc.oneof(
    fc.tuple(fc.constantFrom('INSTANCE', 'GROUP', 'master', 'BACKUP', 'fault', 'stop', 'x'), fc.array(fc.oneof(hostileText, hostileNumber.map(String), fc.constantFrom(...VRRP_STATES)), { maxLength: 4 })).map(([a, rest]) => [a, ...rest]),
    fc.array(hostileText, { maxLength: 5 }),
  ),
  check(args) {
    const parsed = parseNotifyArgs(args);
    if (parsed.ok) checkReport(parsed.value);
    else assert(parsed.error.includes('usage:'), 'a refusal without the usage');
  },
  grow: (n) => ['INSTANCE', 'x'.repeat(n), 'MASTER', '1'.repeat(n)],
};

// ---------------------------------------------------------------- spool records

export const spoolProperty: ParserProperty<Uint8Array> = {
  name: 'spool record',
  arbitrary: fc.oneof(
    fc.tuple(fc.constantFrom(SPOOL_MAGIC, 'kawatch-spool-0', ''), fc.oneof(hostileNumber.map(String), fc.constantFrom('1795314068690', '999999999999999', '0001795314068690')), fc.array(hostileText, { maxLength: 4 }), fc.boolean()).map(([magic, at, args, terminated]) =>
      Buffer.from([magic, at, ...args].join('\0') + (terminated ? '\0' : '')),
    ),
    fc.uint8Array({ maxLength: 64 }),
  ),
  check(data) {
    only(Error, () => {
      const record = parseSpoolRecord(Buffer.from(data));
      assert(isPlausibleEpochMs(record.at), `time ${record.at}`);
      new Date(record.at).toISOString();
      assert(Array.isArray(record.args) && record.args.every((a) => typeof a === 'string'), 'arguments');
    });
  },
  grow: (n) => Buffer.from(`${SPOOL_MAGIC}\0${'1'.repeat(n)}\0${'\0'.repeat(n)}`),
};

// ---------------------------------------------------------------- /proc/net/ip_vs

const PROC_HEADER = 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n';
const procLine = fc.oneof(
  fc.tuple(fc.constantFrom('TCP', 'UDP', 'SCTP', 'FWM', 'constructor'), fc.constantFrom('0A000064:0050', '[2001:0db8:0000:0000:0000:0000:0000:0001]:0050', '00000007', 'ZZ', '[fe80::1%eth0]:0050'), fc.constantFrom('rr', 'wlc', '__proto__'), fc.constantFrom('', 'ops ', 'persistent 900 FFFFFFFF', 'persistent 99999999999 FFFFFFFF', 'persistent 1 80000000')).map(
    ([p, a, s, rest]) => `${p}  ${a} ${s} ${rest}`,
  ),
  fc.tuple(fc.constantFrom('0A000001:0050', '[2001:0db8:0000:0000:0000:0000:0000:0002]:1F90', '[::1]:0050', 'ZZZZ'), fc.constantFrom('Route', 'Masq', 'Tunnel', 'Local', 'constructor', 'toString'), hostileNumber, hostileNumber, hostileNumber).map(
    ([a, f, w, x, y]) => `  -> ${a}      ${f}    ${Math.trunc(w)}      ${Math.trunc(x)}          ${Math.trunc(y)}`,
  ),
  fc.string({ maxLength: 40 }),
);

export const procfsProperty: ParserProperty<string> = {
  name: 'procfs IPVS',
  arbitrary: fc.tuple(fc.boolean(), fc.array(procLine, { maxLength: 8 })).map(([header, lines]) => (header ? PROC_HEADER : '') + lines.join('\n')),
  check(text) {
    const parsed = parseIpVs(text, 'ip_vs', 250);
    for (const s of parsed.services) {
      assert(s.protocol === 'FWM' ? s.address === '' : canonicalIp(s.address) === s.address, `service address ${s.address}`);
      assert(inRange(s.port, 0, 65535) && Number.isSafeInteger(s.fwmark) && s.fwmark >= 0 && s.fwmark <= 0xffffffff, 'service port or mark');
      assert(s.persistence?.timeoutSeconds === undefined || safeCount(s.persistence.timeoutSeconds), 'persistence timeout');
      for (const d of s.destinations) checkDestination(d);
    }
    for (const p of parsed.problems) assert(/^ip_vs:\d+(-\d+)?$/.test(p.where), `problem place ${p.where}`);
    const stats = parseIpVsStats(text, 'ip_vs_stats');
    for (const value of Object.values(stats.totals)) assert(value >= 0n && value < 2n ** 64n, 'total out of 64 bits');
  },
  grow: (n) => `${PROC_HEADER}TCP  0A000064:0050 rr ${' '.repeat(n)}x\n${'  -> 0A000001:0050      Masq    1      0          0\n'.repeat(n / 50)}  -> ${' '.repeat(n)}1 1 1 1\n`,
};

function checkDestination(d: IpvsDestination): void {
  assert(canonicalIp(d.address) === d.address, `real server address ${d.address}`);
  assert(inRange(d.port, 0, 65535), `port ${d.port}`);
  assert(['route', 'masq', 'tunnel', 'local'].includes(d.forwarding), `forwarding ${String(d.forwarding)}`);
  for (const n of [d.weight, d.activeConnections, d.inactiveConnections, d.persistentConnections]) assert(n === undefined || (Number.isSafeInteger(n) && n >= 0 && n < 2 ** 31), `figure ${n}`);
}

// ---------------------------------------------------------------- generic netlink decoder

/** Netlink attributes with random types, lengths and nesting: well-framed and broken ones. */
const attribute: fc.Arbitrary<Buffer> = fc.letrec<{ attr: Buffer }>((tie) => ({
  attr: fc.oneof(
    { depthSize: 'small' },
    fc.tuple(fc.integer({ min: 0, max: 16 }), fc.uint8Array({ maxLength: 20 })).map(([type, payload]) => frame(type, Buffer.from(payload))),
    fc.tuple(fc.integer({ min: 0, max: 16 }), fc.array(tie('attr'), { maxLength: 4 })).map(([type, inner]) => frame(type | 0x8000, Buffer.concat(inner))),
    fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
  ),
})).attr;

function frame(type: number, payload: Buffer): Buffer {
  const out = Buffer.alloc((4 + payload.length + 3) & ~3);
  out.writeUInt16LE(Math.min(4 + payload.length, 0xffff), 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

export const genlProperty: ParserProperty<Buffer[]> = {
  name: 'generic netlink decoder',
  arbitrary: fc.array(
    fc.oneof(
      fc.array(attribute, { maxLength: 3 }).map((parts) => frame(1 | 0x8000, Buffer.concat(parts))),
      fc.array(attribute, { maxLength: 3 }).map((parts) => frame(2 | 0x8000, Buffer.concat(parts))),
      attribute,
    ),
    { maxLength: 4 },
  ),
  check(replies) {
    const unknown = new UnknownAttributes();
    const { services } = decodeServiceReplies(replies, unknown);
    for (const s of services) {
      assert(s.protocol === 'FWM' || canonicalIp(s.address) === s.address, `service address ${s.address}`);
      assert(inRange(s.port, 0, 65535), 'service port');
    }
    const key: ServiceKey = { protocol: 'TCP', family: 4, address: '10.0.0.1', port: 80, fwmark: 0 };
    for (const d of decodeDestinationReplies(key, replies, unknown).destinations) checkDestination(d);
    unknown.problems();
  },
  // Replies of a few attributes each: one attribute is at most 64 KiB, a dump has many replies.
  grow: (n) => Array.from({ length: n / 8 }, (_, k) => frame(1 | 0x8000, Buffer.concat(Array.from({ length: 8 }, (_, j) => frame((k + j) % 16, Buffer.alloc(j)))))),
};

// ---------------------------------------------------------------- keepalived.conf and lint

const SECRET = 'Zq9secret';
const confWord = fc.oneof(
  fc.constantFrom('{', '}', '"', '!', '#', '\\', ';', '//x', '$', '${', '@lb1', '@^lb1', '~SEQ(i,1,3)', '~SEQ(i,1,300)', '~SEQx(i,-1,2)', '$V=', '$M=\\', '$V', '${V}', '$__proto__=1', '$constructor'),
  fc.constantFrom('vrrp_instance', 'VI_1', 'state', 'MASTER', 'BACKUP', 'priority', 'virtual_router_id', 'advert_int', 'interface', 'eth0', 'authentication', 'auth_type', 'PASS', 'auth_pass', 'password', `auth_pass ${SECRET}`, `auth_pass "${SECRET}`, `"auth_pass ${SECRET}`, `auth_pass=${SECRET}`, `password //${SECRET}`, `"password ${SECRET}"`),
  fc.constantFrom('virtual_ipaddress', '10.0.0.1/24', 'fe80::1%eth0', 'fe80::1%eth0/64', 'dev', 'unicast_peer', 'unicast_src_ip', 'virtual_server', 'real_server', 'sorry_server', 'fwmark', 'group', '80', '-1', '1e999', '99999999999999999999', 'global_defs', 'vrrp_strict', 'include', '*a*a*a*a*a*b', '{a,b}{a,b}{a,b}', '[z-a]'),
  fc.constantFrom(...PROTOTYPE_KEYS),
  fc.string({ maxLength: 6 }),
);
const confText = fc.array(fc.array(confWord, { maxLength: 8 }).map((words) => words.join(' ')), { maxLength: 14 }).map((lines) => lines.join('\n'));

const memory = (text: string): ConfSource => ({
  read: async (path) => {
    if (path === '/k/keepalived.conf') return text;
    // Only files that exist are read: a file's own name is a path, not a secret.
    if (path === '/k/a.conf' || path === '/k/b.conf') return `vrrp_instance INC {\n auth_pass ${SECRET}\n}\n`;
    throw Object.assign(new Error(path), { code: 'ENOENT' });
  },
  glob: async (pattern) => (pattern.includes('{') ? [] : ['/k/a.conf', '/k/b.conf']),
});

export const confProperty: ParserProperty<string> = {
  name: 'keepalived.conf (parse and lint)',
  arbitrary: confText,
  async check(text) {
    const parsed = parseText(text, 'fuzz.conf');
    for (const p of parsed.problems) assert(p.file === 'fuzz.conf' && Number.isInteger(p.line) && p.line >= 1, `problem place ${p.file}:${p.line}`);
    const result = await lintFiles(['/k/keepalived.conf'], { source: memory(text) });
    const shown = `${formatJson(result)}${formatHuman(result, true)}`;
    assert(!shown.includes(SECRET.slice(0, 5)) && !shown.includes(SECRET.slice(4)), 'a secret reached a finding');
    // eslint-disable-next-line no-control-regex
    assert(!/[\u0000-\u0008\u000b-\u001a\u001c-\u001f\u007f-\u009f]/.test(result.findings.map((f) => f.message + f.fix).join('')), 'a control character reached a finding');
    assertNoPollution();
  },
  grow: (n) => `${'vrrp_instance V {\n'.repeat(n / 20)}${'$'.repeat(n)}\n@${' '.repeat(n)}\rx\r\n~SEQ(i,1,2)${' '.repeat(n)}\rx\n"${'a'.repeat(n)}\n${'}'.repeat(n / 20)}\n`,
};

/** glob(3) segment matching against a regular-expression reference, on small inputs where backtracking is cheap. */
export const globProperty: ParserProperty<[string, string]> = {
  name: 'include glob segment',
  arbitrary: fc.tuple(fc.string({ unit: fc.constantFrom('a', 'b', '.', '*', '?', '\\'), maxLength: 8 }), fc.string({ unit: fc.constantFrom('a', 'b', '.', '*'), maxLength: 8 })),
  check([pattern, name]) {
    const work = { steps: 0 };
    const matched = matchSegment(pattern, name, work);
    assert(work.steps <= (pattern.length + 1) * (name.length + 1), `${work.steps} steps for a pattern of ${pattern.length} and a name of ${name.length}`);
    // The reference backtracks: only small inputs are compared with it.
    if (pattern.length > 12 || name.length > 12) return;
    let re = '';
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i] as string;
      if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`.replace('\\a', 'a').replace('\\b', 'b');
      else re += c === '*' ? '.*' : c === '?' ? '.' : c === '.' ? '\\.' : c === '\\' ? '\\\\' : c;
    }
    const expected = (!name.startsWith('.') || pattern.startsWith('.')) && new RegExp(`^${re}$`, 's').test(name);
    assert(matched === expected, `${JSON.stringify(pattern)} on ${JSON.stringify(name)}: expected ${expected}`);
  },
  grow: (n) => [`${'*a'.repeat(Math.min(n, 64))}*b`, 'a'.repeat(n)],
};

// ---------------------------------------------------------------- kawatch.yml

const yamlLine = fc.oneof(
  fc.constantFrom('node_name: lb1', 'listen: 0.0.0.0:9650', 'listen: "[fe80::1%eth0]:9650"', 'procfs: /proc', 'log_level: info', 'sources:', '  hook:', '    enabled: true', '    spool_dir: relative', '  fifo:', '    paths: [/a, b]', 'ipvs:', '  backend_labels: [proto, __proto__]', 'peers:', '  members:', '    - name: lb2', '      address: 10.0.0.2:9651'),
  fc.constantFrom('__proto__: {polluted: 1}', '__proto__:', '  polluted: 1', 'constructor: 1', 'toString: x', 'a: &a [1,2]', 'b: *a', 'c: *missing', '<<: *a', '? [a]', ': x', '- x', '{', '"', "'", '\t', 'x: !!js/function "f"', 'x: 1e999', 'x: -.inf', 'x: 0x1F'),
  fc.string({ maxLength: 20 }),
);

export const configProperty: ParserProperty<string> = {
  name: 'kawatch.yml',
  arbitrary: fc.array(yamlLine, { maxLength: 10 }).map((lines) => lines.join('\n')),
  check(text) {
    only(ConfigError, () => {
      const config = parseConfig(text, 'fuzz.yml');
      assert(typeof config === 'object' && config !== null, 'a config that is no object');
    });
    assertNoPollution();
  },
  grow: (n) => `${'a: '.repeat(1)}${'['.repeat(Math.min(n, 500))}${']'.repeat(Math.min(n, 500))}\nnode_name: ${'x'.repeat(n)}\n`,
};

// ---------------------------------------------------------------- VRRP adverts off the wire

export const vrrpProperty: ParserProperty<Datagram> = {
  name: 'VRRP advert',
  arbitrary: fc.record({ family: fc.constantFrom(4 as const, 6 as const), data: fc.uint8Array({ maxLength: 1500 }), source: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), destination: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), hopLimit: fc.integer({ min: -1, max: 256 }) }),
  check(d) {
    const parsed = parseDatagram(d, { passwordFor: () => new Uint8Array(8) });
    if (!parsed.ok) assert(MALFORMED_REASONS.includes(parsed.reason), `unknown reason ${parsed.reason}`);
    else assert(parsed.advert.vrid >= 1 && parsed.advert.vrid <= 255 && parsed.advert.intervalMs > 0 && parsed.advert.addresses.length <= 255, 'an advert out of range');
  },
  grow: (n) => ({ family: 4, data: Uint8Array.from([0x45, 0, 0xff, 0xff, ...new Uint8Array(Math.min(n, 65_000))]), source: '10.0.0.1', destination: '224.0.0.18', hopLimit: 255 }),
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const PROPERTIES: readonly ParserProperty<any>[] = [dumpProperty, fifoProperty, notifyProperty, spoolProperty, procfsProperty, genlProperty, confProperty, globProperty, configProperty, vrrpProperty];
