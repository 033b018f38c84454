/** What the mailer tells the metrics. */
export interface MailStatsView {
  readonly outboxMessages: number;
  readonly sent: number;
  readonly sendFailures: number;
  /** Epoch ms of the last message the SMTP server accepted. */
  readonly lastSuccess?: number;
}

/** Kept by the daemon, not the mailer: counters must not go back to zero when a reload replaces the mailer. */
export class MailStats implements MailStatsView {
  outboxMessages = 0;
  sent = 0;
  sendFailures = 0;
  lastSuccess?: number;
}
