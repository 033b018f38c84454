import type { HeldRelease } from './sender.js';

/** What the mailer tells the metrics. */
export interface MailStatsView {
  readonly outboxMessages: number;
  readonly sent: number;
  readonly sendFailures: number;
  /** Epoch ms of the last message the SMTP server accepted. */
  readonly lastSuccess?: number;
  /** Events held now for the group's sender, another director. */
  readonly held: number;
  /** Held events the sender confirmed it mailed: mailed by the peer, not here. */
  readonly confirmedByPeer: number;
  /** Held events mailed here after all: the sender was lost, or did not confirm in time. */
  readonly released: Readonly<Record<HeldRelease, number>>;
  /** Transitions learnt at start (replays, first reports) and so not mailed. */
  readonly startupNotMailed: number;
}

/** Kept by the daemon, not the mailer: counters must not go back to zero when a reload replaces the mailer. */
export class MailStats implements MailStatsView {
  outboxMessages = 0;
  sent = 0;
  sendFailures = 0;
  lastSuccess?: number;
  held = 0;
  confirmedByPeer = 0;
  released: Record<HeldRelease, number> = { 'sender-lost': 0, unconfirmed: 0 };
  startupNotMailed = 0;
}
