import type { Config } from '../config';
import type { Send } from '../db/schema';
import type { CompileMjml } from '../issues/mjml';
import type { Templates } from '../issues/templates';
import type { Logger } from '../log';
import { formatAddress, bareAddress, stableMessageId, unsubscribeHeaders } from '../mail/headers';
import { MessageBuffer } from '../mail/mime';
import { classifySmtpError, smtpErrorText, type Mailer } from '../mail/transport';
import { metrics, noteSent } from '../metrics';
import type { SendBatchJob } from '../queues';
import { subscriberLink } from '../subscribers/tokens';
import { Recorder } from './recorder';
import type { Throttle } from './throttle';
import type { Claimed, SendStore } from './repository';
import type { VariantCache } from './variants';

/** Temporary failures of one delivery before it is given up as failed. */
export const MAX_DELIVERY_ATTEMPTS = 10;
/** Temporary failures in a row within a batch that end it early: the server is unwell, back off. */
const ABORT_AFTER_TEMPORARY = 3;
/** How often a running batch looks at the send (paused? cancelled?) and its recipients (unsubscribed?). */
const CHECK_EVERY_MS = 1000;
/** Results are written in bulk: at most this many, or every SEND_FLUSH_MS. */
const FLUSH_SIZE = 200;
/** Batch jobs one worker process runs at once (jobs.ts): one claims and records while another sends. */
export const BATCH_JOBS_PER_WORKER = 2;

/**
 * The most messages a `kill -9` of one worker process can make go out twice (README, "What a
 * crash costs"). A message goes twice when SMTP accepted it but its `sent` never reached the
 * database: it was on the wire (at most one per connection loop: jobs × SEND_CONCURRENCY), or
 * its result waited in memory for the next write (at most what the worker sends in one flush
 * interval plus one write, taken as one more interval: rate × 2 × SEND_FLUSH_MS). Never more
 * than the rows the jobs held (jobs × SEND_BATCH_SIZE). SEND_RATE is the whole deployment's cap,
 * so it bounds one worker's rate too; without it only the last term bounds.
 */
export function duplicatesAfterKillBound(config: Pick<Config, 'sendConcurrency' | 'sendRate' | 'sendFlushMs' | 'sendBatchSize'>): number {
  const held = BATCH_JOBS_PER_WORKER * config.sendBatchSize;
  if (config.sendRate <= 0) return held;
  const onTheWire = BATCH_JOBS_PER_WORKER * config.sendConcurrency;
  const waitingInMemory = Math.ceil((config.sendRate * 2 * config.sendFlushMs) / 1000);
  return Math.min(held, onTheWire + waitingInMemory);
}

export interface BatchDeps {
  config: Pick<Config, 'publicUrl' | 'secretKeys' | 'deliveryLeaseMs' | 'sendConcurrency' | 'sendPauseAfterFailures' | 'sendFlushMs' | 'workerGoneAfterMs'>;
  store: SendStore;
  /** This worker process (send_workers.id): the holder of the leases it takes. */
  workerId: string;
  mailer: Mailer;
  throttle: Throttle;
  variants: Pick<VariantCache, 'get'>;
  templates: Templates;
  /** Required: left out, MJML would silently be loaded into the worker (65 MB, a second of CPU). */
  compileMjml: CompileMjml;
  log: Logger;
  /** How often the running batch looks at the send and its recipients again (default 1 s). */
  checkEveryMs?: number;
}

/**
 * Message memory that a finished batch leaves for the next one (see MessageBuffer): at most as
 * many as messages were ever in flight at once in this process.
 */
const spareMemory: MessageBuffer[] = [];

/** Thrown when some deliveries of a batch failed temporarily: the queue retries it with backoff. */
export class RetryLater extends Error {}

export interface BatchResult {
  sent: number;
  bounced: number;
  suppressed: number;
  temporary: number;
  failed: number;
  skipped?: string;
}

/**
 * One batch job: claim the batch's pending deliveries (a lease, so no other job sends them),
 * check each subscription again, write each recipient into the prebuilt message of their
 * variant, hand it to SMTP and record every result in bulk.
 *
 * What makes it safe to crash anywhere: a delivery is `sent` only after the SMTP server
 * accepted it, and is pending (leased, then free again) until then. A crash between the two
 * re-sends only the messages in flight, with the same Message-ID.
 */
export async function sendBatch(deps: BatchDeps, job: SendBatchJob): Promise<BatchResult> {
  const { store } = deps;
  const result: BatchResult = { sent: 0, bounced: 0, suppressed: 0, temporary: 0, failed: 0 };
  const loaded = await store.loadSend(job.sendId);
  if (!loaded) return { ...result, skipped: 'no such send' };
  const { send, issue, list } = loaded;
  if (send.status !== 'sending') return { ...result, skipped: `send is ${send.status}` };

  const claimed = await store.claimBatch(send, job.batch, { ms: deps.config.deliveryLeaseMs, by: deps.workerId, goneAfterMs: deps.config.workerGoneAfterMs });
  const recorder = new Recorder((outcomes) => store.recordOutcomes(send.id, outcomes), {
    flushSize: FLUSH_SIZE,
    retryFirstMs: 100,
    retryMaxMs: 4000,
    onWriteFailed: (err, rows) => deps.log.warn({ err: (err as Error).message, rows }, 'could not record delivery results; keeping them and retrying'),
  });
  const eligible: Claimed[] = [];
  for (const row of claimed) {
    if (isSendable(row, send)) eligible.push(row);
    else recorder.add({ id: row.id, status: 'suppressed', response: 'subscription changed after planning', tried: false });
  }
  result.suppressed = claimed.length - eligible.length;

  // Looked at every second while sending: a pause or cancel stops the batch, and an
  // unsubscribe, bounce or pause of one recipient drops them, within seconds.
  let stopped = false;
  const dropped = new Set<string>();
  const pendingIds = new Set(eligible.map((r) => r.subscription_id));
  const check = setInterval(() => {
    void store
      .recheckSend(send.id, [...pendingIds])
      .then((r) => {
        if (r.sendStatus !== 'sending') stopped = true;
        for (const id of r.unsendable) dropped.add(id);
      })
      .catch(() => {}); // the database is away for a moment: keep the last answer
  }, deps.checkEveryMs ?? CHECK_EVERY_MS);
  const flusher = setInterval(() => recorder.flush(), deps.config.sendFlushMs);

  let temporaryInARow = 0;
  let next = 0;
  const source = { send, issue, list, publicUrl: deps.config.publicUrl, templates: deps.templates, compileMjml: deps.compileMjml, coverTitles: await store.coverTitles(issue) };
  const worker = async () => {
    let memory = spareMemory.pop() ?? new MessageBuffer();
    while (!stopped && next < eligible.length && temporaryInARow < ABORT_AFTER_TEMPORARY) {
      const row = eligible[next++]!;
      pendingIds.delete(row.subscription_id);
      if (dropped.has(row.subscription_id)) {
        result.suppressed++;
        recorder.add({ id: row.id, status: 'suppressed', response: 'subscription changed during the send', tried: false });
        continue;
      }
      await deps.throttle();
      const variant = await deps.variants.get(source, row.excluded_sections ?? []);
      const now = new Date();
      const unsubscribeUrl = subscriberLink(deps.config, 'unsubscribe', row.subscription_id, now);
      const messageId = stableMessageId([send.id, row.subscription_id], deps.config.publicUrl);
      const message = variant.mime.build({
        to: formatAddress(row.name ?? '', row.email!),
        messageId,
        date: now,
        headers: unsubscribeHeaders(unsubscribeUrl, list.from_address),
        values: {
          name: row.name ?? '',
          preferences_url: subscriberLink(deps.config, 'preferences', row.subscription_id, now),
          unsubscribe_url: unsubscribeUrl,
          web_url: `${deps.config.publicUrl}/lists/${encodeURIComponent(list.slug)}/archive/${encodeURIComponent(issue.slug)}`,
        },
      }, memory);
      try {
        const smtp = await deps.mailer.sendRaw({ from: bareAddress(list.from_address), to: row.email!, use8BitMime: message.eightBit }, message.raw, messageId);
        temporaryInARow = 0;
        result.sent++;
        recorder.add({ id: row.id, status: 'sent', response: smtp.response, tried: true });
      } catch (err) {
        memory = new MessageBuffer(); // the failed connection may still hold the old one
        const response = smtpErrorText(err);
        if (classifySmtpError(err) === 'permanent') {
          result.bounced++;
          // The subscription is marked bounced with the row's result, retried with it.
          recorder.add({ id: row.id, status: 'bounced', response, tried: true, subscriptionId: row.subscription_id });
        } else if (row.attempts + 1 >= MAX_DELIVERY_ATTEMPTS) {
          result.failed++;
          recorder.add({ id: row.id, status: 'failed', response, tried: true });
        } else {
          temporaryInARow++;
          result.temporary++;
          recorder.add({ id: row.id, status: 'pending', response, tried: true });
        }
      }
    }
    spareMemory.push(memory);
  };
  // allSettled, not all: a loop that throws (a variant that does not compile) must not let the
  // results be written while the other loops are still sending.
  const loops = await Promise.allSettled(Array.from({ length: Math.min(deps.config.sendConcurrency, eligible.length) }, worker));
  clearInterval(check);
  clearInterval(flusher);
  // Every result is written before the job ends, however long the database is away: the job
  // keeps its rows (no other job can claim this batch while it runs) until then.
  await recorder.settled();
  // Rows this job claimed but did not try (paused, cancelled, cut short) are free again now.
  const untried = claimed.filter((r) => !recorder.has(r.id)).map((r) => r.id);
  await store.releaseDeliveries(untried);
  const broken = loops.find((l): l is PromiseRejectedResult => l.status === 'rejected');
  if (broken) throw broken.reason;

  metrics.sent.inc(result.sent);
  metrics.bounced.inc(result.bounced);
  metrics.failed.inc(result.failed);
  metrics.retried.inc(result.temporary);
  metrics.suppressed.inc(result.suppressed);
  noteSent(result.sent);

  await noteFailures(deps, send, result);
  if (result.temporary > 0 || (!stopped && next < eligible.length)) {
    throw new RetryLater(`${result.temporary} temporary SMTP failure(s); ${result.sent} sent; retrying with backoff`);
  }
  await store.finishSendIfDone(send.id);
  return result;
}

function isSendable(row: Claimed, send: Send): boolean {
  return row.status === 'active' && row.paused === false && row.cadence === send.cadence && !!row.email;
}

/**
 * Temporary failures in a row across the whole send (a success resets the count). Past the
 * limit the send pauses itself, with the reason for `issues status`: retrying for hours
 * against a relay that refuses everything helps nobody.
 */
async function noteFailures(deps: BatchDeps, send: Send, result: BatchResult): Promise<void> {
  if (result.temporary === 0 && result.sent === 0) return;
  const updated = await deps.store.noteFailureStreak(send.id, result.sent, result.temporary);
  if (updated && updated.status === 'sending' && updated.failure_streak >= deps.config.sendPauseAfterFailures) {
    const reason = `paused itself after ${updated.failure_streak} temporary SMTP failures in a row; check the SMTP server, then resume`;
    await deps.store.moveSend(send.id, ['planning', 'sending'], { status: 'paused', pause_reason: reason }).catch(() => {});
    deps.log.error({ send: send.id }, reason);
  }
}
