import { stat } from 'node:fs/promises';
import type { Logger } from '../../core/log.js';
import type { ServiceProtocol, SorryServer } from '../../model/ipvs.js';
import type { ConfNode, ParsedConf } from './ast.js';
import { parseKeepalivedConf } from './parse.js';

const PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);

/**
 * The sorry_server of every `virtual_server IP PORT` and `virtual_server fwmark N` block. keepalived
 * puts it into the IPVS table when the service's quorum is lost, so seeing it there means the service
 * is answered by its sorry page. Virtual server groups are left out: their members are elsewhere.
 */
export function sorryServersOf(conf: ParsedConf): SorryServer[] {
  const found: SorryServer[] = [];
  for (const vs of conf.nodes) {
    if (vs.keyword !== 'virtual_server') continue;
    const sorry = vs.children?.find((c) => c.keyword === 'sorry_server');
    const service = serviceOf(vs);
    const [address, port = '0'] = sorry?.args ?? [];
    if (!sorry || !service || address === undefined || !/^\d{1,5}$/.test(port)) continue;
    found.push({ service, address, port: Number(port) });
  }
  return found;
}

function serviceOf(vs: ConfNode): SorryServer['service'] | undefined {
  const [first, second] = vs.args;
  if (first === 'fwmark') return second !== undefined && /^\d+$/.test(second) ? { protocol: 'FWM', address: '', port: 0, fwmark: Number(second) } : undefined;
  if (first === undefined || first === 'group' || second === undefined || !/^\d{1,5}$/.test(second)) return undefined;
  const protocol = (vs.children?.find((c) => c.keyword === 'protocol')?.args[0] ?? 'TCP').toUpperCase();
  return PROTOCOLS.has(protocol) ? { protocol: protocol as ServiceProtocol, address: first, port: Number(second), fwmark: 0 } : undefined;
}

/**
 * keepalived.conf's sorry servers, read again whenever one of its files changes (checked at most
 * once per call, by modification time), so an edited and reloaded keepalived is followed without
 * restarting kawatch. A missing or unreadable file means no sorry server is known.
 */
export class SorryServerSource {
  private known: SorryServer[] = [];
  private stamp?: string;
  private files: string[] = [];
  private lastProblem?: string;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
  ) {}

  async current(): Promise<readonly SorryServer[]> {
    const stamp = await this.stampOf([this.path, ...this.files]);
    if (stamp === this.stamp) return this.known;
    this.stamp = stamp;
    try {
      const conf = await parseKeepalivedConf(this.path);
      this.files = conf.files;
      this.known = sorryServersOf(conf);
      this.report(conf.problems[0] && `${conf.problems[0].file}:${conf.problems[0].line}: ${conf.problems[0].message}`);
    } catch (err) {
      this.known = [];
      this.report(`${(err as Error).message}; no sorry server known`);
    }
    return this.known;
  }

  private async stampOf(files: string[]): Promise<string> {
    const times = await Promise.all(files.map((f) => stat(f).then((s) => `${s.ino}:${s.mtimeMs}`, () => '-')));
    return times.join(' ');
  }

  /** Once per distinct problem, not once per scrape. */
  private report(problem: string | undefined): void {
    if (problem !== undefined && problem !== this.lastProblem) this.log.warn({ file: this.path, problem }, 'keepalived.conf read for sorry servers');
    this.lastProblem = problem;
  }
}
