import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { canonicalIp } from '../core/ip.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { directorChecks, realServerChecks } from '../doctor/checks.js';
import { problems } from '../doctor/findings.js';
import { formatDoctorHuman, formatDoctorJson } from '../doctor/format.js';
import { gatherDirectorFacts, gatherRealServerFacts, runningKeepalivedConf } from '../doctor/gather.js';
import type { Severity } from '../core/severity.js';

export interface DoctorCommandOptions {
  config?: string;
  keepalivedConf?: string;
  realServer?: string[];
  procfs?: string;
  format: 'human' | 'json';
  severity: Severity;
  color?: boolean;
}

const DEFAULT_KEEPALIVED_CONF = '/etc/keepalived/keepalived.conf';

/** Exit status as lint's: 0 nothing at or above --severity, 1 something, 2 an input cannot be read. */
export async function runDoctor(opts: DoctorCommandOptions): Promise<number> {
  const fail = (why: string) => {
    process.stderr.write(`kawatch doctor: ${why}\n`);
    return 2;
  };
  let config;
  try {
    config = await loadConfig(opts.config, { procfs: opts.procfs });
  } catch (err) {
    if (err instanceof ConfigError) return fail(`invalid configuration:\n${err.message}`);
    throw err;
  }
  let findings;
  if (opts.realServer && opts.realServer.length > 0) {
    const bad = opts.realServer.filter((vip) => canonicalIp(vip) === undefined);
    if (bad.length > 0) return fail(`--real-server ${bad.join(', ')}: not an IP address (expected the VIP, e.g. 192.168.1.100)`);
    findings = realServerChecks(await gatherRealServerFacts(config.procfs), opts.realServer);
  } else {
    const keepalivedConf = opts.keepalivedConf ?? (await runningKeepalivedConf(config)) ?? DEFAULT_KEEPALIVED_CONF;
    try {
      await access(keepalivedConf, constants.R_OK);
    } catch (err) {
      return fail(`cannot read ${keepalivedConf}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (pass --keepalived-conf FILE)`);
    }
    findings = directorChecks(await gatherDirectorFacts(config, keepalivedConf));
  }
  const color = opts.color !== false && process.stdout.isTTY === true && !process.env.NO_COLOR;
  process.stdout.write(opts.format === 'json' ? formatDoctorJson(findings) : formatDoctorHuman(findings, color));
  return problems(findings, opts.severity).length > 0 ? 1 : 0;
}
