import { Counter, Gauge, type Registry } from 'prom-client';
import type { MailStatsView } from '../mail/stats.js';

/** The mailer's outbox and deliveries, read from its counters at scrape time. */
export function registerMailMetrics(registry: Registry, stats: MailStatsView): void {
  new Gauge({
    name: 'kawatch_mail_outbox_messages',
    help: 'Composed mails waiting in the outbox for the SMTP server to accept them.',
    registers: [registry],
    collect() {
      this.set(stats.outboxMessages);
    },
  });
  new Gauge({
    name: 'kawatch_mail_events_held',
    help: 'Events held for the group sender (another director that mails them); mailed here only if it is lost or does not confirm in time.',
    registers: [registry],
    collect() {
      this.set(stats.held);
    },
  });
  new Counter({
    name: 'kawatch_mail_events_released_total',
    help: 'Held events mailed here after all, by reason: sender-lost (no longer heard), unconfirmed (no confirmation within group_window + confirm_within).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(stats.released)) this.inc({ reason }, n);
    },
  });
  for (const [name, help, read] of [
    ['kawatch_mail_sent_total', 'Mails the SMTP server accepted.', () => stats.sent],
    ['kawatch_mail_send_failures_total', 'Delivery attempts that failed (each is retried; the mail stays in the outbox).', () => stats.sendFailures],
    ['kawatch_mail_events_sent_by_peer_total', 'Held events the group sender confirmed it mailed: not mailed here.', () => stats.confirmedByPeer],
    ['kawatch_mail_startup_transitions_not_mailed_total', 'Transitions learnt at start (spool replay, first dump, first report of an instance) and so not mailed as news.', () => stats.startupNotMailed],
  ] as const) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }
  new Gauge({
    name: 'kawatch_mail_last_success_timestamp_seconds',
    help: 'When the SMTP server last accepted a mail from this daemon; 0 before the first.',
    registers: [registry],
    collect() {
      this.set((stats.lastSuccess ?? 0) / 1000);
    },
  });
}
