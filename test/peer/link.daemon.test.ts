import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type Server } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, expect, it, vi } from 'vitest';
import { newNonce } from '../../src/peer/auth.js';
import { EXCHANGE_PATH, MAX_BODY_BYTES, sealHeaders } from '../../src/peer/protocol.js';
import { freePort } from '../support/net.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { cli, closeAll, healthy, openFds, openMany, rssMb, SECRET, startDaemon, watchRss, type Daemon } from './daemon.js';

// Attacks on the peer API of a real daemon process, from loopback. Sources other than
// 127.0.0.1 (the members' address here) are other loopback addresses: Linux routes all of 127/8.

// Each test starts daemon processes and waits on them under load: bounded, but not by the unit default.
vi.setConfig({ testTimeout: 90_000 });

const daemons: Daemon[] = [];
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of daemons.splice(0)) await d.stop();
});

async function daemon(...args: Parameters<typeof startDaemon>): Promise<Daemon> {
  const d = await startDaemon(...args);
  daemons.push(d);
  return d;
}

/** lb1, listening for peers, with lb2 as its member (nobody listens for lb2 unless a test does). */
async function lb1(options: { lb2Port?: number; peerTimeoutMs?: number } = {}): Promise<Daemon> {
  return daemon({ name: 'lb1', peerPort: await freePort(), members: { lb2: options.lb2Port ?? (await freePort()) }, peerTimeoutMs: options.peerTimeoutMs });
}

function requestHead(headers: Record<string, string | number>): string {
  return [`POST ${EXCHANGE_PATH} HTTP/1.1`, 'host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
}

/** Headers that look like lb2's but carry no valid signature: what anyone on the link can send. */
const unsigned = (node = 'lb2') => ({ 'x-kawatch-node': node, 'x-kawatch-timestamp': Date.now(), 'x-kawatch-nonce': newNonce(), 'x-kawatch-signature': 'ab'.repeat(32) });

/** Sends raw bytes, resolves with everything the daemon answered once it closes the connection. */
async function exchangeRaw(port: number, bytes: string | Buffer, localAddress = '127.0.0.1'): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  socket.on('error', () => {});
  socket.write(bytes);
  await waitFor(() => socket.destroyed, 'the daemon to close the connection').finally(() => socket.destroy());
  return answer;
}

const signedView = (body: object, from = 'lb2', to = 'lb1') => {
  const bytes = Buffer.from(JSON.stringify(body));
  return { headers: sealHeaders(Buffer.from(SECRET), { method: 'POST', path: EXCHANGE_PATH, node: from, recipient: to, body: bytes }, Date.now()), bytes };
};

describeWithPrereqs('the peer API of a daemon under attack', { files: [cli] }, () => {
  it('refuses on the headers alone, without waiting for the body', async () => {
    const d = await lb1();
    // Each declares a body it never sends: only an answer given on the headers can arrive.
    const strangerAnswer = await exchangeRaw(d.peerPort!, requestHead({ ...unsigned('mallory'), 'content-length': 200_000 }));
    expect(strangerAnswer).toMatch(/^HTTP\/1\.1 401 /);
    const staleAnswer = await exchangeRaw(d.peerPort!, requestHead({ ...unsigned(), 'x-kawatch-timestamp': Date.now() - 60_000, 'content-length': 200_000 }));
    expect(staleAnswer).toMatch(/^HTTP\/1\.1 401 /);
    const gzipAnswer = await exchangeRaw(d.peerPort!, requestHead({ ...unsigned(), 'content-encoding': 'gzip', 'content-length': 200_000 }));
    expect(gzipAnswer).toMatch(/^HTTP\/1\.1 415 /);
    const hugeAnswer = await exchangeRaw(d.peerPort!, requestHead({ ...unsigned(), 'content-length': MAX_BODY_BYTES + 1 }));
    expect(hugeAnswer).toMatch(/^HTTP\/1\.1 413 /);
    expect((await d.state()).peerRejected).toMatchObject({ 'unknown-node': 1, stale: 1, compressed: 1, 'too-large': 1 });
  });

  it('drops connections from addresses that are not members, before reading a byte', async () => {
    const d = await lb1();
    const { headers, bytes } = signedView({ v: 1, node: 'lb2', keepalivedUp: true, instances: [] });
    // A genuine message, from the wrong address: refused all the same.
    const answer = await exchangeRaw(d.peerPort!, Buffer.concat([Buffer.from(requestHead({ ...headers, 'content-length': bytes.length })), bytes]), '127.0.0.2');
    expect(answer).toBe('');
    await waitFor(async () => (await d.state()).peerRejected['source-address'] === 1, 'the refused connection counted');
    expect((await d.state()).peers.lb2?.view).toBeUndefined();
  });

  it('holds its memory and file descriptors under a thousand half-sent bodies from a member address', async () => {
    const d = await lb1();
    const baseline = rssMb(d.pid);
    const rss = watchRss(d.pid);
    const almostAll = Buffer.alloc(MAX_BODY_BYTES - 1024, 'x');
    const sockets = await openMany(d.peerPort!, 1000, requestHead({ ...unsigned(), 'content-length': MAX_BODY_BYTES - 1 }));
    cleanups.push(() => closeAll(sockets));
    for (const s of sockets) if (!s.destroyed) s.write(almostAll, () => {});
    // Whatever the daemon does with them, it keeps answering its health check meanwhile.
    expect(await healthy(d.httpPort)).toBe(true);
    expect(openFds(d.pid)).toBeLessThan(300);
    // A body that is never finished is given up on: every connection ends without us closing it.
    await waitFor(() => sockets.every((s) => s.destroyed || s.readableEnded), 'the daemon to close every half-sent body', 20_000);
    rss.stop();
    expect(rss.peak() - baseline).toBeLessThan(80);
    expect(await healthy(d.httpPort)).toBe(true);
  });

  it('reads an answer only up to its cap, and refuses a compressed one', async () => {
    const lb2Port = await freePort();
    let mode: 'garbage' | 'gzip' = 'garbage';
    const written: number[] = [];
    const fake = createHttpServer((req, res) => {
      req.resume();
      const envelope = { 'x-kawatch-node': 'lb2', 'x-kawatch-timestamp': String(Date.now()), 'x-kawatch-nonce': newNonce(), 'x-kawatch-signature': 'cd'.repeat(32) };
      if (mode === 'gzip') {
        res.writeHead(200, { ...envelope, 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(Buffer.alloc(1 << 20, ' ')));
        return;
      }
      res.writeHead(200, { ...envelope, 'content-type': 'application/json' });
      streamGarbage(res, written);
    });
    await new Promise<void>((r) => fake.listen(lb2Port, '127.0.0.1', r));
    cleanups.push(() => closeServer(fake));
    // The longest timeout the config allows a trickle to last: the cap must stop it, not the clock.
    const d = await lb1({ lb2Port, peerTimeoutMs: 2000 });
    const baseline = rssMb(d.pid);
    const rss = watchRss(d.pid);
    await waitFor(() => written.length >= 3, 'three answers streamed to the daemon', 20_000);
    rss.stop();
    // Past the cap only what sat in the socket buffers when the daemon hung up.
    expect(Math.max(...written)).toBeLessThan(32 * 1024 * 1024);
    expect(rss.peak() - baseline).toBeLessThan(60);
    const state = await d.state();
    expect(state.peerRejected['too-large']).toBeGreaterThan(0);
    expect(state.peers.lb2?.lastError).toMatch(/too-large/);
    expect(state.peers.lb2?.view).toBeUndefined();

    mode = 'gzip';
    await waitFor(async () => ((await d.state()).peerRejected.compressed ?? 0) > 0, 'a compressed answer refused');
  });

  it('refuses a message captured on its way to lb2 when it is replayed to lb3', async () => {
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    // lb2's address is a tap: it records what lb1 sends there and answers nothing.
    const captured: Buffer[] = [];
    const tap = createTcpServer((socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        const head = all.indexOf('\r\n\r\n');
        if (head < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(all.subarray(0, head).toString())?.[1] ?? 0);
        if (all.length < head + 4 + length) return;
        if (/x-kawatch-node: lb1/i.test(all.subarray(0, head).toString())) captured.push(all);
        socket.destroy();
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => tap.listen(p2, '127.0.0.1', r));
    cleanups.push(() => closeServer(tap));
    const lb3 = await daemon({ name: 'lb3', peerPort: p3, members: { lb1: p1, lb2: p2 } });
    await daemon({ name: 'lb1', peerPort: p1, members: { lb2: p2, lb3: p3 } });
    await waitFor(async () => (await lb3.state()).peers.lb1?.view !== undefined, 'lb3 to hear lb1 itself');
    await waitFor(() => captured.length > 0, 'a message from lb1 to lb2 on the wire');

    const replayed = await exchangeRaw(p3, captured.at(-1)!);
    expect(replayed).toMatch(/^HTTP\/1\.1 401 /);
    expect(replayed).toContain('refused: signature');
    expect((await lb3.state()).peerRejected.signature).toBe(1);
  });

  it('takes views naming instances after Object.prototype, and refuses names it cannot show', async () => {
    const d = await lb1();
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
    const { headers, bytes } = signedView({ v: 1, node: 'lb2', keepalivedUp: true, instances: names.map((name, i) => ({ name, vrid: i + 1, state: 'MASTER', vips: [] })) });
    const res = await fetch(`http://127.0.0.1:${d.peerPort}${EXCHANGE_PATH}`, { method: 'POST', headers, body: bytes });
    expect(res.status).toBe(200);
    const state = await d.state();
    expect(state.peers.lb2?.view?.instances.map((i) => i.name)).toEqual(names);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    for (const path of ['/', '/metrics', '/healthz', '/api/v1/state']) expect((await fetch(`http://127.0.0.1:${d.httpPort}${path}`)).status, path).toBe(200);

    for (const name of ['VI "1"', 'VI\u00001', 'x'.repeat(129), '']) {
      const bad = signedView({ v: 1, node: 'lb2', keepalivedUp: true, instances: [{ name, state: 'MASTER', vips: [] }] });
      expect((await fetch(`http://127.0.0.1:${d.peerPort}${EXCHANGE_PATH}`, { method: 'POST', headers: bad.headers, body: bad.bytes })).status, JSON.stringify(name)).toBe(400);
    }
    expect((await d.state()).peerRejected.malformed).toBe(4);
    expect((await d.state()).peers.lb2?.view?.instances.map((i) => i.name)).toEqual(names);
  });

  it('tells a flood of refusals in one line with a count, never with the name a stranger claimed', async () => {
    const d = await lb1();
    for (let i = 0; i < 30; i++) await exchangeRaw(d.peerPort!, requestHead({ ...unsigned('mallory-claimed'), 'content-length': 0 }));
    for (let i = 0; i < 10; i++) await exchangeRaw(d.peerPort!, requestHead({ ...unsigned(), 'content-length': 2 }) + '{}');
    expect((await d.state()).peerRejected).toMatchObject({ 'unknown-node': 30, signature: 10 });
    const metrics = await (await fetch(`http://127.0.0.1:${d.httpPort}/metrics`)).text();
    const refusals = () => d.output().split('\n').filter((l) => l.includes('peer messages refused'));
    await waitFor(() => refusals().length > 0, 'the first refusal logged');
    // The interval (a minute) has not passed: the first refusal was told, the rest are being counted.
    expect(refusals()).toHaveLength(1);
    await d.stop();
    daemons.splice(daemons.indexOf(d), 1);
    const told = refusals().map((l) => JSON.parse(l) as { refused: number; reasons: Record<string, number>; sources: string[] });
    expect(told.reduce((sum, l) => sum + l.refused, 0)).toBe(40);
    expect(told.at(-1)!.sources).toEqual(['127.0.0.1']);
    expect(d.output()).not.toContain('mallory');
    expect(metrics).not.toContain('mallory');
  });
});

/** Writes junk as fast as the daemon takes it, counting the bytes, until the daemon hangs up. */
function streamGarbage(res: ServerResponse, written: number[]): void {
  const chunk = Buffer.alloc(64 * 1024, 'g');
  let total = 0;
  let open = true;
  res.on('close', () => {
    open = false;
    written.push(total);
  });
  const pump = () => {
    // Bounded: a daemon that never hangs up still ends the test at 1 GiB.
    while (open && total < 1 << 30) {
      total += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    if (open) res.end();
  };
  pump();
}

async function closeServer(server: Server | ReturnType<typeof createHttpServer>): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

