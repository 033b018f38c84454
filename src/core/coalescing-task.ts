/**
 * Runs a task one at a time: a call while it runs does not start a second copy, it asks for one
 * more run after the current one, however many calls arrive meanwhile. For work that must see
 * everything that happened before it was asked for (draining a spool, taking a dump).
 */
export class CoalescingTask {
  private running?: Promise<void>;
  private again = false;

  constructor(private readonly task: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.task();
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Resolves when no run is in progress. */
  async idle(): Promise<void> {
    await this.running;
  }
}
