import { EventBus } from '../core/bus.js';
import type { Logger } from '../core/log.js';
import { emptySnapshot, type Change, type Snapshot, type Update } from './snapshot.js';
import { reduce } from './reduce.js';

export interface StoreEvents {
  change: Change;
  /** After every applied update, with the new snapshot. */
  snapshot: Snapshot;
}

/**
 * The one writer of kawatch's view of keepalived. Sources hand it updates; consumers read
 * `snapshot` (an immutable value) or subscribe to changes.
 */
export class StateStore {
  private current: Snapshot;
  readonly events: EventBus<StoreEvents>;

  constructor(node: string, log: Logger) {
    this.current = emptySnapshot(node);
    this.events = new EventBus<StoreEvents>(log);
  }

  get snapshot(): Snapshot {
    return this.current;
  }

  apply(update: Update): Change[] {
    const { snapshot, changes } = reduce(this.current, update);
    this.current = snapshot;
    for (const change of changes) this.events.emit('change', change);
    this.events.emit('snapshot', snapshot);
    return changes;
  }
}
