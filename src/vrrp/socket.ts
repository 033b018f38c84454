import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../version.js';

/** One datagram as the addon hands it over (native/vrrp-socket.c). */
export type OnPacket = (data: Buffer, source: string, destination: string, ifindex: number, ttl: number) => void;

interface Addon {
  open(ifname: string, family: 4 | 6, onPacket: OnPacket): () => void;
}

let addon: Addon | undefined;

/**
 * The addon, loaded on first use so that a host without it loses the observer only. Built by
 * `npm run build` into native/build/; packaging/package.mjs ships it beside the bundle and
 * rewrites the path below to that place.
 */
function load(): Addon {
  if (!addon) {
    const path = join(packageRoot(), 'native/build/vrrp-socket.node');
    try {
      addon = createRequire(import.meta.url)(path) as Addon;
    } catch (err) {
      throw new Error(`cannot load the VRRP listener ${path}: ${(err as Error).message.split('\n')[0]}; run npm run build (it needs a C compiler and libuv1-dev)`);
    }
  }
  return addon;
}

/** A raw socket for IP protocol 112 on one interface; the returned function closes it. */
export function listen(ifname: string, family: 4 | 6, onPacket: OnPacket): () => void {
  return load().open(ifname, family, onPacket);
}
