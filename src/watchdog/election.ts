import { isIPv4 } from 'node:net';
import type { PeerInstance } from '../model/peer.js';

/** An address as a number for RFC 5798's tie-break: the higher primary IP address wins. */
export function addressValue(address: string | undefined): bigint | undefined {
  if (!address) return undefined;
  if (isIPv4(address)) return address.split('.').reduce((n, part) => (n << 8n) + BigInt(part), 0n);
  const [head = '', tail = ''] = address.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = [...groups(head), ...Array<string>(address.includes('::') ? missing : 0).fill('0'), ...groups(tail)];
  return all.reduce((n, g) => (n << 16n) + BigInt(parseInt(g, 16) || 0), 0n);
}

export interface Contender {
  node: string;
  instance: PeerInstance;
}

/**
 * VRRP's own election order (RFC 5798 §6.4.3): higher effective priority wins; on a tie the
 * higher primary address. Undefined when the order cannot be told: then nobody acts.
 */
export function electionOrder(contenders: Contender[]): Contender[] | undefined {
  const priority = (c: Contender) => c.instance.effectivePriority ?? c.instance.basePriority;
  if (contenders.some((c) => priority(c) === undefined)) return undefined;
  const sorted = [...contenders].sort((a, b) => {
    const byPriority = priority(b)! - priority(a)!;
    if (byPriority !== 0) return byPriority;
    const [va, vb] = [addressValue(a.instance.primaryAddress), addressValue(b.instance.primaryAddress)];
    if (va === undefined || vb === undefined) return 0;
    return va > vb ? -1 : va < vb ? 1 : 0;
  });
  const [first, second] = sorted;
  if (first && second && priority(first) === priority(second)) {
    const [va, vb] = [addressValue(first.instance.primaryAddress), addressValue(second.instance.primaryAddress)];
    if (va === undefined || vb === undefined || va === vb) return undefined;
  }
  return sorted;
}
