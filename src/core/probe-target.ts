import { isIP } from 'node:net';

/** A service to reach while a drill moves its VIP: a TCP connect, or an HTTP GET expecting 2xx/3xx. */
export type ProbeTarget = { kind: 'tcp'; host: string; port: number } | { kind: 'http'; host: string; port: number; path: string };

/**
 * `tcp://VIP:PORT` or `http://VIP[:PORT]/path` → the target, or why not. The host must be an IP
 * address: the probe is meant for a VIP, and a name would put DNS between the drill and its figure.
 */
export function parseProbeTarget(text: string): ProbeTarget | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text)} is not a URL: expected tcp://VIP:PORT or http://VIP/path`;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!isIP(host)) return `${JSON.stringify(text)}: the host must be an IP address (the VIP), not ${JSON.stringify(host)}`;
  if (url.username || url.password || url.search || url.hash) return `${JSON.stringify(text)}: no credentials, query or fragment in a probe`;
  if (url.protocol === 'tcp:') {
    if (!url.port || (url.pathname !== '' && url.pathname !== '/')) return `${JSON.stringify(text)}: expected tcp://VIP:PORT`;
    return { kind: 'tcp', host, port: Number(url.port) };
  }
  if (url.protocol === 'http:') return { kind: 'http', host, port: url.port ? Number(url.port) : 80, path: url.pathname || '/' };
  return `${JSON.stringify(text)}: expected tcp://VIP:PORT or http://VIP/path (scheme ${url.protocol} is not probed)`;
}

export function formatProbeTarget(t: ProbeTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return t.kind === 'tcp' ? `tcp://${host}:${t.port}` : `http://${host}${t.port === 80 ? '' : `:${t.port}`}${t.path}`;
}
