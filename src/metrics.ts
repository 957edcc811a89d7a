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

/** How long a scrape waits for Redis before answering with the last good queue depths. */
export const QUEUE_READ_TIMEOUT_MS = 1000;

/**
 * Queue depth per job kind, read from Redis at scrape time. A scrape never waits on Redis
 * longer than QUEUE_READ_TIMEOUT_MS: with Redis down (or silent) it answers with the last good
 * read, marked by `broadsheet_queue_jobs_stale 1` and its age, so Prometheus gets an answer
 * and a stop is never held up by hanging scrapes. One read at a time: scrapes that come while
 * one is in flight share it, instead of piling up reads that all hang.
 */
export function watchQueues(queues: Queues, timeoutMs = QUEUE_READ_TIMEOUT_MS): void {
  for (const name of ['broadsheet_queue_jobs', 'broadsheet_queue_jobs_stale', 'broadsheet_queue_jobs_age_seconds']) {
    if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  }
  let last: { at: number; counts: Array<[string, Record<string, number>]> } | undefined;
  let reading: Promise<void> | undefined;
  const read = () =>
    (reading ??= Promise.all(JOB_KINDS.map(async (kind) => [kind, { ...(await queues.queue(kind).getJobCounts()) }] as [string, Record<string, number>]))
      .then((counts) => {
        last = { at: Date.now(), counts };
      })
      .catch(() => undefined) // Redis down: /healthz says so; the scrape still answers
      .finally(() => {
        reading = undefined;
      }));
  let stale = true;
  const stalenessGauge = new client.Gauge({
    name: 'broadsheet_queue_jobs_stale',
    help: '1 when the queue depths are from an earlier read (Redis did not answer in time)',
    registers: [registry],
  });
  const ageGauge = new client.Gauge({ name: 'broadsheet_queue_jobs_age_seconds', help: 'Age of the queue depths shown', registers: [registry] });
  new client.Gauge({
    name: 'broadsheet_queue_jobs',
    help: 'Jobs in the queue by kind and state',
    labelNames: ['kind', 'state'],
    registers: [registry],
    async collect() {
      const before = last?.at;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([read(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      stale = !last || last.at === before;
      this.reset();
      for (const [kind, counts] of last?.counts ?? []) for (const [state, n] of Object.entries(counts)) this.set({ kind, state }, n);
      stalenessGauge.set(stale ? 1 : 0);
      ageGauge.set(last ? (Date.now() - last.at) / 1000 : -1);
    },
  });
}
