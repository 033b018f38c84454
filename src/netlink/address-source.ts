// rtnetlink only: the package's index also loads the nl80211 and WireGuard message tables.
import { createRtNetlink } from 'netlink/dist/rt/rt.js';
import * as rt from 'netlink/dist/rt/structs.js';
import { ipFromBytes } from '../core/ip.js';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import type { AddressView } from '../state/snapshot.js';
import type { StateStore } from '../state/store.js';

type RtSocket = ReturnType<typeof createRtNetlink>;

const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const AF_INET = 2;
const AF_INET6 = 10;

/** rtnetlink address message → AddressView; IPv4 uses IFA_LOCAL (IFA_ADDRESS is the peer on point-to-point links). */
export function addressFromMessage(data: rt.Address, attrs: rt.AddressAttrs, linkNames: ReadonlyMap<number, string>): AddressView | undefined {
  const family = data.family;
  if (family !== AF_INET && family !== AF_INET6) return undefined;
  const raw = family === AF_INET ? (attrs.local ?? attrs.address) : attrs.address;
  const address = raw ? ipFromBytes(raw) : undefined;
  const ifname = (family === AF_INET ? attrs.label?.split(':')[0] : undefined) ?? linkNames.get(data.index ?? -1);
  if (!address || !ifname || data.prefixlen === undefined) return undefined;
  return { address, prefix: data.prefixlen, ifname, family: family === AF_INET ? 4 : 6 };
}

/**
 * The ground truth of which addresses sit on which interface, independent of what keepalived
 * says: a full dump at start and after any socket error, then RTM_NEWADDR / RTM_DELADDR events.
 */
export class AddressSource implements DaemonPart {
  readonly name = 'netlink' as const;
  private socket?: RtSocket;
  private links = new Map<number, string>();
  /** Events that arrive while a full dump is in flight are applied after it, in order. */
  private held?: { op: 'add' | 'del'; address: AddressView }[];
  private resyncing?: Promise<void>;

  constructor(
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.store.apply({ type: 'source-enabled', source: 'netlink', enabled: true });
    const socket = createRtNetlink();
    this.socket = socket;
    socket.addMembership('IPV4_IFADDR');
    socket.addMembership('IPV6_IFADDR');
    socket.addMembership('LINK');
    socket.socket.on('message', (messages) => {
      for (const m of messages) this.onMessage(m.type, m.data);
    });
    socket.socket.on('error', (err: Error) => this.onError(err.message));
    socket.on('invalid', (err: unknown) => this.onError(`invalid netlink message: ${String(err)}`));
    await this.resync();
  }

  async stop(): Promise<void> {
    await this.resyncing?.catch(() => {});
    this.socket?.socket.close();
    this.socket = undefined;
    this.store.apply({ type: 'source-enabled', source: 'netlink', enabled: false });
  }

  private onMessage(type: number, data: Buffer): void {
    if (type === rt.MessageType.NEWLINK || type === rt.MessageType.DELLINK) {
      const link = rt.parseLinkMessage(data);
      if (link.data.index !== undefined && link.attrs.ifname) {
        if (type === rt.MessageType.NEWLINK) this.links.set(link.data.index, link.attrs.ifname);
        else this.links.delete(link.data.index);
      }
      return;
    }
    if (type !== RTM_NEWADDR && type !== RTM_DELADDR) return;
    const msg = rt.parseAddressMessage(data);
    const address = addressFromMessage(msg.data, msg.attrs, this.links);
    if (!address) {
      void this.resync();
      return;
    }
    const op = type === RTM_NEWADDR ? 'add' : 'del';
    if (this.held) this.held.push({ op, address });
    else this.store.apply({ type: 'address', at: Date.now(), op, address });
  }

  private onError(message: string): void {
    this.log.warn({ error: message }, 'netlink problem, resynchronising');
    this.store.apply({ type: 'source-error', source: 'netlink', at: Date.now(), error: message });
    void this.resync();
  }

  private resync(): Promise<void> {
    this.resyncing ??= this.fullDump().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private async fullDump(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.held = [];
    try {
      const links = await socket.getLinks();
      this.links = new Map(links.filter((l) => l.data.index !== undefined && l.attrs.ifname).map((l) => [l.data.index!, l.attrs.ifname!]));
      const messages = await socket.getAddresses();
      const addresses = messages.map((m) => addressFromMessage(m.data, m.attrs, this.links)).filter((a): a is AddressView => a !== undefined);
      const at = Date.now();
      this.store.apply({ type: 'addresses', at, addresses });
      for (const e of this.held) this.store.apply({ type: 'address', at, op: e.op, address: e.address });
      this.store.apply({ type: 'source-ok', source: 'netlink', at });
    } catch (err) {
      this.store.apply({ type: 'source-error', source: 'netlink', at: Date.now(), error: `address dump failed: ${(err as Error).message}` });
    } finally {
      this.held = undefined;
    }
  }
}
