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
  for (const [name, help, read] of [
    ['kawatch_mail_sent_total', 'Mails the SMTP server accepted.', () => stats.sent],
    ['kawatch_mail_send_failures_total', 'Delivery attempts that failed (each is retried; the mail stays in the outbox).', () => stats.sendFailures],
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
