import client from 'prom-client';
import type { Queues } from './queues';
import { JOB_KINDS } from './queues';

/**
 * Prometheus metrics of this process (`/metrics`). Counters count what this process did, and
 * only a process with the HTTP server answers a scrape: `broadsheet start` (HTTP and workers
 * in one process) shows its sending counters; `broadsheet worker` alone serves no HTTP, so
 * its counters are not scraped (there is no metrics port of its own). The queue gauges are
 * read from Redis at scrape time, the same from any process.
 */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'broadsheet_' });

const counter = (name: string, help: string) => new client.Counter({ name, help, registers: [registry] });

export const metrics = {
  sent: counter('broadsheet_messages_sent_total', 'Newsletter messages the SMTP server accepted'),
  failed: counter('broadsheet_messages_failed_total', 'Deliveries given up after their temporary failures ran out'),
  bounced: counter('broadsheet_messages_bounced_total', 'Deliveries refused permanently (5xx); the subscription is marked bounced'),
  retried: counter('broadsheet_messages_retried_total', 'Temporary SMTP failures, to be retried'),
  suppressed: counter('broadsheet_messages_suppressed_total', 'Deliveries not sent because the subscription changed after planning'),
};

/** Messages sent in the last 10 s, for the rate gauge: a counter's rate needs Prometheus' rate(). */
const perSecond = new Map<number, number>();
export function noteSent(n: number, now = Date.now()): void {
  const second = Math.floor(now / 1000);
  perSecond.set(second, (perSecond.get(second) ?? 0) + n);
}
new client.Gauge({
  name: 'broadsheet_send_rate',
  help: 'Messages a second sent by this process over the last 10 seconds',
  registers: [registry],
  collect() {
    const oldest = Math.floor(Date.now() / 1000) - 10;
    let sum = 0;
    for (const [second, n] of perSecond) {
      if (second <= oldest) perSecond.delete(second);
      else sum += n;
    }
    this.set(sum / 10);
  },
});

/** Queue depth per job kind, read from Redis at scrape time. */
export function watchQueues(queues: Queues): void {
  if (registry.getSingleMetric('broadsheet_queue_jobs')) registry.removeSingleMetric('broadsheet_queue_jobs');
  new client.Gauge({
    name: 'broadsheet_queue_jobs',
    help: 'Jobs in the queue by kind and state',
    labelNames: ['kind', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const kind of JOB_KINDS) {
        const counts = await queues
          .queue(kind)
          .getJobCounts()
          .catch(() => undefined); // Redis down: /healthz says so; the scrape still answers
        if (!counts) continue;
        for (const [state, n] of Object.entries(counts)) this.set({ kind, state }, n);
      }
    },
  });
}
