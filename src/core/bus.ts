import type { Logger } from './log.js';

type Listener<T> = (payload: T) => void;

/**
 * A typed fan-out point. A listener that throws is logged and skipped: one broken consumer
 * (a mailer, a metric) must never stop the others or crash the daemon.
 */
export class EventBus<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly log: Logger) {}

  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    for (const listener of this.listeners.get(name) ?? []) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (err) {
        this.log.error({ err, event: String(name) }, 'event listener failed');
      }
    }
  }
}
