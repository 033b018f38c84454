import { describe, expect, it } from 'vitest';
import type { Finding } from '../../src/doctor/findings.js';
import { formatDoctorHuman, formatDoctorJson } from '../../src/doctor/format.js';

const findings: Finding[] = [
  { check: 'keepalived.running', severity: 'error', ok: true, message: 'keepalived is running (pid 42)' },
  { check: 'keepalived.config', severity: 'error', ok: false, message: 'keepalived -t failed (exit 5):\nNon-existent interface', fix: 'correct it' },
  { check: 'sysctl.send_redirects', severity: 'warning', ok: false, message: 'send_redirects is on for eth0', fix: 'sysctl -w net.ipv4.conf.eth0.send_redirects=0' },
];

describe('doctor output', () => {
  it('groups by what is checked, indents keepalived\'s own lines, puts each fix under its problem', () => {
    expect(formatDoctorHuman(findings, false)).toBe(
      [
        'keepalived',
        '  ok      keepalived is running (pid 42)  [keepalived.running]',
        '  error   keepalived -t failed (exit 5):  [keepalived.config]',
        '          Non-existent interface',
        '          fix: correct it',
        'kernel settings',
        '  warning send_redirects is on for eth0  [sysctl.send_redirects]',
        '          fix: sysctl -w net.ipv4.conf.eth0.send_redirects=0',
        '1 error(s), 1 warning(s), 0 info; 1 check(s) passed',
        '',
      ].join('\n'),
    );
  });

  it('colours severities on a terminal only', () => {
    const coloured = formatDoctorHuman(findings, true);
    expect(coloured).toContain('\u001b[31merror  \u001b[0m');
    expect(coloured).toContain('\u001b[33mwarning\u001b[0m');
    expect(coloured).toContain('\u001b[32mok     \u001b[0m');
  });

  it('json: every finding, passed ones included', () => {
    expect(JSON.parse(formatDoctorJson(findings))).toEqual(findings);
  });
});
