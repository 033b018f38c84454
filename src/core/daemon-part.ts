/**
 * Something the daemon starts and stops in order — a source, the peer link, the watchdog, the
 * mailer, the jobs — under a supervisor that retries a part that cannot start (src/daemon/supervisor.ts).
 */
export interface DaemonPart {
  /** The `part` label of kawatch_part_up and the `part` field of its log lines. */
  readonly name: string;
  /** May fail; the supervisor says why and tries again later. Must be safe to call after a failed start and a stop. */
  start(): Promise<void>;
  /** Must finish what is in flight and release everything it holds; safe after a failed start. */
  stop(): Promise<void>;
}
