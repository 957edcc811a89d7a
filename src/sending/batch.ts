import type { Config } from '../config';
import type { Send } from '../db/schema';
import type { CompileMjml } from '../issues/mjml';
import { issueContent } from '../issues/repository';
import type { Templates } from '../issues/templates';
import type { Logger } from '../log';
import { stableMessageId } from '../mail/headers';
import { MessageBuffer } from '../mail/mime';
import { classifySmtpError, smtpErrorText, type Mailer } from '../mail/transport';
import { metrics, noteSent } from '../metrics';
import type { Queues, SendBatchJob } from '../queues';
import { subscriberLink } from '../subscribers/tokens';
import { gate, opened, probeFailed } from './circuit';
import { newsletterAddressing, undeliverableReason } from './envelope';
import { Recorder } from './recorder';
import type { Throttle } from './throttle';
import type { Claimed, SendStore } from './repository';
import { nothingLeftToRead, type VariantCache } from './variants';

/** Temporary failures of one delivery before it is given up as failed. */
export const MAX_DELIVERY_ATTEMPTS = 10;
/** How often a running batch looks at the send (paused? cancelled?) and its recipients (unsubscribed?). */
const CHECK_EVERY_MS = 1000;
/** Results are written in bulk: at most this many, or every SEND_FLUSH_MS. */
const FLUSH_SIZE = 200;
/** Batch jobs one worker process runs at once (jobs.ts): one claims and records while another sends. */
export const BATCH_JOBS_PER_WORKER = 2;

/**
 * The most results a batch job keeps unwritten: before it hands SMTP another message it waits
 * for the write once this many are (Recorder.room). With SEND_RATE, what the job sends in two
 * flush intervals: writes that keep up never make it wait. Without SEND_RATE, no limit but the
 * job's rows.
 */
export function unwrittenLimit(config: Pick<Config, 'sendRate' | 'sendFlushMs'>): number {
  return config.sendRate > 0 ? Math.max(1, Math.ceil((config.sendRate * 2 * config.sendFlushMs) / 1000)) : Infinity;
}

/**
 * The most messages a `kill -9` of one worker process can make go out twice (README, "What a
 * crash costs"). A message goes twice when SMTP accepted it but its `sent` never reached the
 * database: it was on the wire (at most one per connection loop: SEND_CONCURRENCY a job), or
 * its result was not written yet (at most unwrittenLimit a job, held so by the job itself, not
 * by how fast the machine is). Never more than the rows the jobs held (SEND_BATCH_SIZE a job).
 */
export function duplicatesAfterKillBound(config: Pick<Config, 'sendConcurrency' | 'sendRate' | 'sendFlushMs' | 'sendBatchSize'>): number {
  return BATCH_JOBS_PER_WORKER * Math.min(config.sendBatchSize, config.sendConcurrency + unwrittenLimit(config));
}

export interface BatchDeps {
  config: Pick<
    Config,
    | 'publicUrl'
    | 'secretKeys'
    | 'deliveryLeaseMs'
    | 'sendConcurrency'
    | 'sendFlushMs'
    | 'sendRate'
    | 'workerGoneAfterMs'
    | 'circuit'
    | 'bounceDomain'
    | 'feedbackSenderId'
  >;
  store: SendStore;
  /** Where a send's batches are queued again when its circuit closes. */
  queues: Pick<Queues, 'addBulk'>;
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

/**
 * Thrown when some deliveries of a batch failed temporarily: the queue retries the job, after
 * `retryInMs` when the circuit says how long, else with its own backoff.
 */
export class RetryLater extends Error {
  override name = 'RetryLater';
  constructor(
    message: string,
    readonly retryInMs?: number,
  ) {
    super(message);
  }
}

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

  // The circuit: while SMTP refuses, the send waits (the job that opened it, or that failed
  // the last probe, is queued again for the next probe; other jobs end here and are queued
  // again when it closes). After the wait one job takes the probe: one message.
  let probing = false;
  const entry = gate(send, new Date());
  if (entry.kind === 'wait') return { ...result, skipped: 'SMTP refusing: the send waits for its next probe' };
  if (entry.kind === 'probe') {
    probing = await store.takeProbe(send.id, send.retry_at!, new Date(Date.now() + Math.max(send.backoff_ms, deps.config.circuit.firstBackoffMs)));
    if (!probing) return { ...result, skipped: 'another job is probing SMTP' };
  }

  const claimed = await store.claimBatch(send, job.batch, { ms: deps.config.deliveryLeaseMs, by: deps.workerId, goneAfterMs: deps.config.workerGoneAfterMs });
  const recorder = new Recorder((outcomes) => store.recordOutcomes(send.id, outcomes), {
    flushSize: FLUSH_SIZE,
    retryFirstMs: 100,
    retryMaxMs: 4000,
    onWriteFailed: (err, rows) => deps.log.warn({ err: (err as Error).message, rows }, 'could not record delivery results; keeping them and retrying'),
  });
  const eligible: Claimed[] = [];
  const sectionIds = new Set(issueContent(issue).sections.map((s) => s.id));
  for (const row of claimed) {
    if (!isSendable(row, send)) recorder.add({ id: row.id, status: 'suppressed', response: 'subscription changed after planning', tried: false });
    else if (nothingLeftToRead(sectionIds, row.excluded_sections ?? [])) {
      recorder.add({ id: row.id, status: 'suppressed', response: 'every section of this issue is one the reader left out: no empty email', tried: false });
    } else eligible.push(row);
  }
  result.suppressed = claimed.length - eligible.length;
  // A probe goes to a recipient picked at random, so one mailbox that keeps saying 4xx cannot
  // hold the whole send's circuit open.
  if (probing && eligible.length > 1) {
    const pick = Math.floor(Math.random() * eligible.length);
    [eligible[0], eligible[pick]] = [eligible[pick]!, eligible[0]!];
  }

  // Looked at every second while sending: a pause or cancel stops the batch, and an
  // unsubscribe, bounce or pause of one recipient drops them, within seconds.
  // Another job opening the circuit stops this one too (its rows are queued again on close).
  let stopped = false;
  let waitingElsewhere = false;
  let circuitMoves = 0;
  const dropped = new Set<string>();
  const pendingIds = new Set(eligible.map((r) => r.subscription_id));
  const check = setInterval(() => {
    const asked = circuitMoves;
    void store
      .recheckSend(send.id, [...pendingIds])
      .then((r) => {
        if (r.sendStatus !== 'sending') stopped = true;
        // An answer from before this job moved the circuit itself says nothing about it.
        if (r.retryAt && !probing && asked === circuitMoves) {
          stopped = true;
          waitingElsewhere = true;
        }
        for (const id of r.unsendable) dropped.add(id);
      })
      .catch(() => {}); // the database is away for a moment: keep the last answer
  }, deps.checkEveryMs ?? CHECK_EVERY_MS);
  const flusher = setInterval(() => recorder.flush(), deps.config.sendFlushMs);
  const unwritten = unwrittenLimit(deps.config);

  let temporaryInARow = 0;
  let lastError = '';
  /** Whether SMTP took or refused a message of this job (what a probe is for). */
  let answered = 0;
  let refusals = 0;
  let next = 0;
  /** How many of the eligible rows the loops may take: one while probing. */
  let allowed = probing ? 1 : eligible.length;
  const source = {
    send,
    issue,
    list,
    publicUrl: deps.config.publicUrl,
    templates: deps.templates,
    compileMjml: deps.compileMjml,
    coverTitles: await store.coverTitles(issue),
    feedbackSenderId: deps.config.feedbackSenderId,
  };
  const worker = async () => {
    let memory = spareMemory.pop() ?? new MessageBuffer();
    while (!stopped && next < allowed && temporaryInARow < deps.config.circuit.openAfter) {
      const row = eligible[next++]!;
      pendingIds.delete(row.subscription_id);
      if (dropped.has(row.subscription_id)) {
        result.suppressed++;
        recorder.add({ id: row.id, status: 'suppressed', response: 'subscription changed during the send', tried: false });
        continue;
      }
      await recorder.room(unwritten);
      await deps.throttle();
      const variant = await deps.variants.get(source, row.excluded_sections ?? []);
      const now = new Date();
      const unsubscribeUrl = subscriberLink(deps.config, 'unsubscribe', row.subscription_id, now);
      const messageId = stableMessageId([send.id, row.subscription_id], deps.config.publicUrl);
      const addressing = newsletterAddressing(
        deps.config,
        list,
        { deliveryId: row.id, subscriptionId: row.subscription_id, email: row.email!, name: row.name ?? '' },
        unsubscribeUrl,
        now,
      );
      try {
        // Remembered by the mailer: a resolved promise for every message but the first.
        const server = await deps.mailer.capabilities();
        const refused = undeliverableReason(row.email!, server);
        if (refused) {
          result.failed++;
          recorder.add({ id: row.id, status: 'failed', response: refused, tried: false });
          continue;
        }
        const message = variant.mime.build(
          {
            to: addressing.to,
            messageId,
            date: now,
            headers: addressing.headers,
            values: {
              name: row.name ?? '',
              preferences_url: subscriberLink(deps.config, 'preferences', row.subscription_id, now),
              unsubscribe_url: unsubscribeUrl,
              web_url: `${deps.config.publicUrl}/lists/${encodeURIComponent(list.slug)}/archive/${encodeURIComponent(issue.slug)}`,
            },
          },
          memory,
          server,
        );
        const smtp = await deps.mailer.sendRaw({ ...addressing.envelope, use8BitMime: message.eightBit }, message.raw, messageId);
        temporaryInARow = 0;
        answered++;
        result.sent++;
        recorder.add({ id: row.id, status: 'sent', response: smtp.response, tried: true });
      } catch (err) {
        memory = new MessageBuffer(); // the failed connection may still hold the old one
        const response = smtpErrorText(err);
        if (classifySmtpError(err) === 'permanent') {
          answered++; // a 5xx for one address: the server is there and answering
          result.bounced++;
          // The subscription is marked bounced with the row's result, retried with it.
          recorder.add({ id: row.id, status: 'bounced', response, tried: true, subscriptionId: row.subscription_id });
        } else if (row.attempts + 1 >= MAX_DELIVERY_ATTEMPTS) {
          lastError = response;
          refusals++;
          result.failed++;
          recorder.add({ id: row.id, status: 'failed', response, tried: true });
        } else {
          temporaryInARow++;
          lastError = response;
          refusals++;
          result.temporary++;
          recorder.add({ id: row.id, status: 'pending', response, tried: true });
        }
      }
    }
    spareMemory.push(memory);
  };
  // allSettled, not all: a loop that throws (a variant that does not compile) must not let the
  // results be written while the other loops are still sending.
  const run = () => Promise.allSettled(Array.from({ length: Math.min(deps.config.sendConcurrency, allowed - next) }, worker));
  let loops = await run();
  let circuit: 'closed' | 'opened' | 'probe failed' | 'already open' | 'nothing to probe' = 'closed';
  if (probing) {
    circuitMoves++;
    if (refusals > 0) circuit = 'probe failed';
    else if (answered === 0) {
      // Nobody here to probe with: hand the probe on at once to the send's other batches.
      circuit = 'nothing to probe';
      await store.probeFailed(send.id, { failing_since: send.failing_since, retry_at: new Date(), backoff_ms: send.backoff_ms, last_error: send.last_error });
    } else {
      // SMTP answers again: full speed, and every batch that stopped for the circuit is queued.
      await store.closeCircuit(send.id);
      circuitMoves++; // a check that read the circuit before it closed must not stop the batch
      probing = false;
      deps.log.info({ send: send.id }, 'SMTP answers again: the send goes on at full speed');
      await deps.queues.addBulk('send-batch', await store.unsentBatches(send, deps.config.workerGoneAfterMs));
      allowed = eligible.length;
      loops = loops.concat(await run());
    }
  } else if (temporaryInARow >= deps.config.circuit.openAfter) {
    circuitMoves++;
    const columns = opened(deps.config.circuit, new Date(), lastError);
    circuit = (await store.openCircuit(send.id, columns)) ? 'opened' : 'already open';
    if (circuit === 'opened') deps.log.warn({ send: send.id, error: lastError, retryInMs: columns.backoff_ms }, 'SMTP refuses: the send waits, then probes');
  }
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

  if (circuit === 'opened')
    throw new RetryLater(`SMTP refuses (${lastError}); probing in ${deps.config.circuit.firstBackoffMs} ms`, deps.config.circuit.firstBackoffMs);
  if (circuit === 'probe failed') {
    const now = new Date();
    const after = probeFailed(send, deps.config.circuit, now, lastError, list.timezone);
    if (after.kind === 'give up') {
      await store.moveSend(send.id, ['sending'], { status: 'paused', pause_reason: after.reason });
      await store.closeCircuit(send.id);
      deps.log.error({ send: send.id }, after.reason);
      return { ...result, skipped: 'gave up: paused for a person' };
    }
    await store.probeFailed(send.id, after.columns);
    throw new RetryLater(`SMTP still refuses (${lastError}); next probe in ${after.waitMs} ms`, after.waitMs);
  }
  if (circuit === 'nothing to probe') {
    await deps.queues.addBulk('send-batch', await store.unsentBatches(send, deps.config.workerGoneAfterMs));
    return { ...result, skipped: 'nothing to probe with in this batch' };
  }
  // Stopped for a circuit another job opened, or one this job found open: it queues us again.
  if (circuit === 'already open' || waitingElsewhere) return { ...result, skipped: 'SMTP refusing: the send waits for its next probe' };
  if (result.temporary > 0 || (!stopped && next < eligible.length)) {
    throw new RetryLater(`${result.temporary} temporary SMTP failure(s); ${result.sent} sent; retrying with backoff`);
  }
  await store.finishSendIfDone(send.id);
  return result;
}

function isSendable(row: Claimed, send: Send): boolean {
  return row.status === 'active' && row.paused === false && row.cadence === send.cadence && !!row.email;
}
