/** Something the daemon starts and stops in order: a source, the HTTP server, a job. */
export interface Part {
  readonly name: string;
  start(): Promise<void>;
  /** Must finish what is in flight and release everything it holds. */
  stop(): Promise<void>;
}
