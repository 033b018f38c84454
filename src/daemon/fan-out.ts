import type { Logger } from '../core/log.js';
import type { DumpSource } from '../keepalived/dump-source.js';
import type { History } from '../jobs/history.js';
import type { Mailer } from '../mail/mailer.js';
import type { PeerLink } from '../peer/link.js';
import type { LastKnownState } from '../state/last-known.js';
import type { Change, Snapshot } from '../state/snapshot.js';
import type { StateStore } from '../state/store.js';
import type { Watchdog, WatchdogEvents } from '../watchdog/watchdog.js';
import type { EventBus } from '../core/bus.js';

/** Everyone who hears of a change; the parts of the running configuration may be absent. */
export interface Listeners {
  history: History;
  countTransition: (change: Change) => void;
  /** Absent where nothing outlives the process (a test's wiring). */
  lastKnown?: LastKnownState;
  peers?: PeerLink;
  dump?: DumpSource;
  mailer?: Mailer;
  watchdog?: Watchdog;
}

/**
 * The one place that says who hears of a change of keepalived's state, and in which order — as
 * keepalived's own send_instance_notifies does for its scripts, FIFO, mail and SNMP:
 *
 * for each change an update makes
 *   1. the log line, the operator's journal
 *   2. the history, for the status page and the digest
 *   3. the transition counter, so a scrape right after sees it
 *   4. the peer link, which tells the peers at once: their verdicts depend on this director's view
 *   5. the dump source, which asks keepalived for a fresh dump to confirm the change and read its settings
 *   6. the mailer, which groups it into a mail
 * then, once per update, with the snapshot that has all of its changes
 *   7. the last known state in state_dir, so a restart resumes from it
 *   8. the watchdog, which draws its verdicts again (and through them the fencer acts)
 *   9. the mailer, for the peers' confirmations of the mails they sent for the group
 *
 * and for each verdict raised or cleared and each watchdog action: the history, then the mailer.
 *
 * A listener that throws is logged and skipped; the listeners after it still hear the change.
 */
export function connectListeners(store: StateStore, watchdogEvents: EventBus<WatchdogEvents>, listeners: () => Listeners, log: Logger): () => void {
  const deliver = (listener: string, hear: () => void) => {
    try {
      hear();
    } catch (err) {
      log.error({ part: 'fan-out', listener, error: (err as Error).message }, 'listener failed');
    }
  };
  const onChange = (change: Change, snapshot: Snapshot) => {
    const l = listeners();
    if (change.type === 'transition') log.info({ part: 'state', ...change }, `${change.scope} ${change.name}: ${change.from} -> ${change.to}`);
    deliver('history', () => l.history.onStateChange(change));
    deliver('metrics', () => l.countTransition(change));
    if (l.peers) deliver('peers', () => l.peers!.onStateChange(change));
    if (l.dump) deliver('dump', () => l.dump!.onStateChange(change));
    if (l.mailer) deliver('mail', () => l.mailer!.onStateChange(change, snapshot));
  };
  const offs = [
    store.events.on('change', (change) => onChange(change, store.snapshot)),
    store.events.on('snapshot', (snapshot) => {
      const { lastKnown, watchdog, mailer } = listeners();
      if (lastKnown) deliver('state', () => lastKnown.save(snapshot));
      if (watchdog) deliver('watchdog', () => watchdog.onSnapshot(snapshot));
      // A peer's view may confirm the mail of events held for it.
      if (mailer) deliver('mail', () => mailer.onSnapshot());
    }),
    ...(['raised', 'cleared'] as const).map((outcome) =>
      watchdogEvents.on(`verdict-${outcome}`, ({ verdict, at }) => {
        const l = listeners();
        deliver('history', () => l.history.onVerdict(outcome, verdict, at));
        if (l.mailer) deliver('mail', () => l.mailer!.onVerdict(outcome, verdict, at));
      }),
    ),
    watchdogEvents.on('action', (entry) => {
      const l = listeners();
      deliver('history', () => l.history.onAction(entry));
      if (l.mailer) deliver('mail', () => l.mailer!.onAction(entry));
    }),
  ];
  return () => offs.forEach((off) => off());
}
