import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { acceptsGzip, createGzipStream } from '../../src/http/compression.js';

describe('acceptsGzip', () => {
  it.each([
    ['gzip', true],
    ['GZip', true],
    ['x-gzip', true],
    ['gzip, deflate, br', true],
    ['br;q=1.0, gzip;q=0.8, *;q=0.1', true],
    ['gzip;q=0.001', true],
    [' gzip ; q = 0.5 ', true],
    ['*', true],
    ['identity, *;q=0.5', true],
    ['gzip;q=0', false],
    ['gzip;q=0.000', false],
    ['gzip;q=0, *', false],
    ['*;q=0', false],
    ['deflate, br', false],
    ['identity', false],
    ['', false],
    ['gzip;q=2', false],
    ['gzip;q=abc', false],
    ['gzip;q=0.1234', false],
    ['gzipx', false],
  ])('%j → %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });

  it('takes no header as no', () => {
    expect(acceptsGzip(undefined)).toBe(false);
  });

  it('answers every header a client can send without throwing, and an explicit gzip;q=0 always refuses', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 40 }), (header, before) => {
        expect(typeof acceptsGzip(header)).toBe('boolean');
        expect(acceptsGzip(`${before.replace(/gzip/gi, '')}, gzip;q=0`)).toBe(false);
      }),
    );
  });
});

describe('createGzipStream', () => {
  it('takes a megabyte of exposition before asking the writer to wait, and makes gzip any reader takes', async () => {
    const gzip = createGzipStream();
    expect(gzip.writableHighWaterMark).toBe(1 << 20);
    const out: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => out.push(chunk));
    const ended = new Promise((resolve) => gzip.on('end', resolve));
    const text = 'ipvs_backend_weight{local_address="10.0.0.1"} 1\n'.repeat(20_000);
    expect(gzip.write(text.slice(0, 512 * 1024))).toBe(true);
    gzip.end(text.slice(512 * 1024));
    await ended;
    expect(gunzipSync(Buffer.concat(out)).toString()).toBe(text);
  });
});
