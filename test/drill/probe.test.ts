import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { formatProbeTarget, parseProbeTarget } from '../../src/core/probe-target.js';
import { recordTry, tryOnce } from '../../src/drill/probe.js';
import { parseDrillRequest } from '../../src/drill/api.js';

describe('parseProbeTarget', () => {
  it('reads tcp and http targets on an address, and writes them back alike', () => {
    for (const text of ['tcp://198.18.0.50:80', 'http://198.18.0.50/health', 'http://[2001:db8::1]:8080/']) {
      const target = parseProbeTarget(text);
      expect(typeof target).toBe('object');
      expect(formatProbeTarget(target as Exclude<typeof target, string>)).toBe(text);
    }
  });
  it('says what is wrong with anything else', () => {
    expect(parseProbeTarget('tcp://vip.example:80')).toMatch(/must be an IP address/);
    expect(parseProbeTarget('tcp://198.18.0.50')).toMatch(/expected tcp:\/\/VIP:PORT/);
    expect(parseProbeTarget('https://198.18.0.50/')).toMatch(/scheme https: is not probed/);
    expect(parseProbeTarget('not a url')).toMatch(/is not a URL/);
  });
});

describe('parseDrillRequest', () => {
  it('takes a request and names the first bad field', () => {
    expect(parseDrillRequest({ instances: ['VI_1'], probe: 'tcp://198.18.0.50:80' })).toEqual({ instances: ['VI_1'], probe: { kind: 'tcp', host: '198.18.0.50', port: 80 }, mode: 'track', stay: false, dryRun: false });
    expect(parseDrillRequest({ instances: [] })).toMatch(/^instances: /);
    expect(parseDrillRequest({ instances: ['VI_1'], mode: 'kill' })).toMatch(/^mode: /);
    expect(parseDrillRequest({ instances: ['VI_1'], extra: 1 })).toMatch(/extra/);
  });
});

describe('recordTry', () => {
  it('adds failed tries in a row up to the success that ends them', () => {
    let r = { target: 't', attempts: 0, failures: 0, outageMs: 0, longestOutageMs: 0 } as Parameters<typeof recordTry>[0];
    r = recordTry(r, true, 0, 5);
    r = recordTry(r, false, 200, 400);
    r = recordTry(r, false, 400, 600);
    r = recordTry(r, true, 600, 610);
    r = recordTry(r, false, 800, 1000);
    r = recordTry(r, true, 1000, 1005);
    expect(r).toEqual({ target: 't', attempts: 6, failures: 3, outageMs: 410 + 205, longestOutageMs: 410, outageStart: undefined });
  });
});

describe('tryOnce', () => {
  let servers: (Server | HttpServer)[] = [];
  afterEach(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    servers = [];
  });
  const listen = async <S extends Server | HttpServer>(s: S): Promise<number> => {
    servers.push(s);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return (s.address() as { port: number }).port;
  };

  it('succeeds on a TCP connect and on an HTTP 2xx, fails on a 5xx and a closed port', async () => {
    const tcp = await listen(createServer((c) => c.end()));
    const http = await listen(createHttpServer((req, res) => res.writeHead(req.url === '/ok' ? 200 : 503).end()));
    expect(await tryOnce({ kind: 'tcp', host: '127.0.0.1', port: tcp }, 1000)).toBe(true);
    expect(await tryOnce({ kind: 'http', host: '127.0.0.1', port: http, path: '/ok' }, 1000)).toBe(true);
    expect(await tryOnce({ kind: 'http', host: '127.0.0.1', port: http, path: '/down' }, 1000)).toBe(false);
    const closed = await listen(createServer());
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect(await tryOnce({ kind: 'tcp', host: '127.0.0.1', port: closed }, 1000)).toBe(false);
  });
});

describe('the drill section of kawatch.yml', () => {
  it('takes probes per instance and says where a bad one is', async () => {
    const { parseConfig } = await import('../../src/config/load.js');
    expect(parseConfig('drill: { probes: { VI_1: "tcp://198.18.0.50:80" } }\n', 'k.yml').drill).toEqual({ timeout: 60_000, probes: { VI_1: 'tcp://198.18.0.50:80' }, probe_interval: 200 });
    expect(() => parseConfig('drill:\n  probes:\n    VI_1: "tcp://vip:80"\n', 'k.yml')).toThrow(/k\.yml:3: drill\.probes\.VI_1: "tcp:\/\/vip:80": the host must be an IP address/);
  });
});
