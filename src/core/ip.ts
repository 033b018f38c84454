import { isIPv4, isIPv6 } from 'node:net';

/**
 * One spelling per address so VIPs from keepalived and addresses from netlink compare equal:
 * dotted quad for IPv4, RFC 5952 compressed lowercase for IPv6 (the WHATWG URL serializer does it).
 * Undefined for anything inet_pton(3) refuses — keepalived reads addresses with it — including a
 * zone id (`fe80::1%eth0`), which node:net accepts but neither inet_pton nor a URL host does.
 */
export function canonicalIp(text: string): string | undefined {
  if (text.includes('%')) return undefined;
  if (isIPv4(text)) return text;
  if (isIPv6(text)) return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  return undefined;
}

/** `fe80::1%eth0` → the zone (`eth0`); undefined when the text carries none. */
export function zoneOf(text: string): string | undefined {
  const at = text.indexOf('%');
  return at < 0 ? undefined : text.slice(at + 1);
}

export function ipFromBytes(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    return canonicalIp(groups.join(':'));
  }
  return undefined;
}
