import { sql } from 'kysely';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { IssueRow, List, Send } from '../db/schema';
import type { CompileMjml } from '../issues/mjml';
import type { Templates } from '../issues/templates';
import type { Logger } from '../log';
import { stableMessageId } from '../mail/headers';
import { MessageBuffer } from '../mail/mime';
import { classifySmtpError, smtpErrorText, type Mailer } from '../mail/transport';
import { metrics, noteSent } from '../metrics';
import type { SendBatchJob } from '../queues';
import { markBounced } from '../subscribers/bounce';
import { subscriberLink } from '../subscribers/tokens';
import { finishSendIfDone, pauseSend } from './control';
import { newsletterAddressing, undeliverableReason } from './envelope';
import { Recorder, type Outcome } from './recorder';
import type { Throttle } from './throttle';
import { coverTitles, type VariantCache } from './variants';

/** Temporary failures of one delivery before it is given up as failed. */
export const MAX_DELIVERY_ATTEMPTS = 10;
/** Temporary failures in a row within a batch that end it early: the server is unwell, back off. */
const ABORT_AFTER_TEMPORARY = 3;
/** How often a running batch looks at the send (paused? cancelled?) and its recipients (unsubscribed?). */
const CHECK_EVERY_MS = 1000;
/** Results are written in bulk: at most this many, or every SEND_FLUSH_MS. */
const FLUSH_SIZE = 200;

export interface BatchDeps {
  config: Pick<Config, 'publicUrl' | 'secretKeys' | 'deliveryLeaseMs' | 'sendConcurrency' | 'sendPauseAfterFailures' | 'sendFlushMs' | 'bounceDomain' | 'feedbackSenderId'>;
  db: Db;
  mailer: Mailer;
  throttle: Throttle;
  variants: VariantCache;
  templates: Templates;
  compileMjml?: CompileMjml;
  log: Logger;
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

interface Claimed {
  id: number;
  subscription_id: string;
  attempts: number;
  status: string | null;
  paused: boolean | null;
  cadence: string | null;
  excluded_sections: string[] | null;
  email: string | null;
  name: string | null;
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
  const { db } = deps;
  const result: BatchResult = { sent: 0, bounced: 0, suppressed: 0, temporary: 0, failed: 0 };
  const loaded = await loadSend(db, job.sendId);
  if (!loaded) return { ...result, skipped: 'no such send' };
  const { send, issue, list } = loaded;
  if (send.status !== 'sending') return { ...result, skipped: `send is ${send.status}` };

  const claimed = await claim(db, send, job.batch, deps.config.deliveryLeaseMs);
  const recorder = new Recorder((outcomes) => writeOutcomes(db, send.id, outcomes), {
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
    void recheck(db, send.id, [...pendingIds])
      .then((r) => {
        if (r.sendStatus !== 'sending') stopped = true;
        for (const id of r.unsendable) dropped.add(id);
      })
      .catch(() => {}); // the database is away for a moment: keep the last answer
  }, CHECK_EVERY_MS);
  const flusher = setInterval(() => recorder.flush(), deps.config.sendFlushMs);

  let temporaryInARow = 0;
  let next = 0;
  const source = { send, issue, list, publicUrl: deps.config.publicUrl, templates: deps.templates, compileMjml: deps.compileMjml, coverTitles: await coverTitles(db, issue), feedbackSenderId: deps.config.feedbackSenderId };
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
      const addressing = newsletterAddressing(deps.config, list, { deliveryId: row.id, subscriptionId: row.subscription_id, email: row.email!, name: row.name ?? '' }, unsubscribeUrl, now);
      try {
        // Remembered by the mailer: a resolved promise for every message but the first.
        const server = await deps.mailer.capabilities();
        const refused = undeliverableReason(row.email!, server);
        if (refused) {
          result.failed++;
          recorder.add({ id: row.id, status: 'failed', response: refused, tried: false });
          continue;
        }
        const message = variant.mime.build({
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
        }, memory, server);
        const smtp = await deps.mailer.sendRaw({ ...addressing.envelope, use8BitMime: message.eightBit }, message.raw, messageId);
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
  if (untried.length) await release(db, untried);
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
  await finishSendIfDone(db, send.id);
  return result;
}

async function loadSend(db: Db, sendId: string): Promise<{ send: Send; issue: IssueRow; list: List } | undefined> {
  const send = await db.selectFrom('sends').selectAll().where('id', '=', sendId).executeTakeFirst();
  if (!send) return undefined;
  const [issue, list] = await Promise.all([
    db.selectFrom('issues').selectAll().where('id', '=', send.issue_id).executeTakeFirstOrThrow(),
    db.selectFrom('lists').selectAll().where('id', '=', send.list_id).executeTakeFirstOrThrow(),
  ]);
  return { send, issue, list };
}

function isSendable(row: Claimed, send: Send): boolean {
  return row.status === 'active' && row.paused === false && row.cadence === send.cadence && !!row.email;
}

/**
 * Takes the batch's pending rows that no live job holds, and reads their subscriptions, in one
 * statement. SKIP LOCKED and the lease keep two jobs for the same batch (a repair racing a
 * retry, a flushed Redis) from sending the same row.
 */
async function claim(db: Db, send: Send, batch: number, leaseMs: number): Promise<Claimed[]> {
  const lo = batch * send.batch_size;
  const hi = lo + send.batch_size;
  const { rows } = await sql<Claimed>`
    WITH claimed AS (
      UPDATE deliveries d SET leased_until = now() + ${`${leaseMs} milliseconds`}::interval
      WHERE d.id IN (
        SELECT id FROM deliveries
        WHERE send_id = ${send.id} AND id >= ${lo} AND id < ${hi} AND status = 'pending'
          AND (leased_until IS NULL OR leased_until < now())
        ORDER BY id
        FOR UPDATE SKIP LOCKED
      )
      RETURNING d.id, d.subscription_id, d.attempts
    )
    SELECT c.id, c.subscription_id, c.attempts, s.status, s.paused, s.cadence, s.excluded_sections, p.email, p.name
    FROM claimed c
    LEFT JOIN subscriptions s ON s.id = c.subscription_id
    LEFT JOIN subscribers p ON p.id = s.subscriber_id
    ORDER BY c.id
  `.execute(db);
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

async function recheck(db: Db, sendId: string, subscriptionIds: string[]): Promise<{ sendStatus: string; unsendable: string[] }> {
  const send = await db.selectFrom('sends').select('status').where('id', '=', sendId).executeTakeFirst();
  const rows = subscriptionIds.length
    ? await db.selectFrom('subscriptions').select(['id', 'status', 'paused']).where('id', 'in', subscriptionIds).execute()
    : [];
  const sendable = new Set(rows.filter((r) => r.status === 'active' && !r.paused).map((r) => r.id));
  // A deleted subscription (forget) is gone from the table: it is unsendable too.
  return { sendStatus: send?.status ?? 'cancelled', unsendable: subscriptionIds.filter((id) => !sendable.has(id)) };
}

async function release(db: Db, ids: number[]): Promise<void> {
  await db.updateTable('deliveries').set({ leased_until: null }).where('id', 'in', ids).where('status', '=', 'pending').execute();
}

/** Writes a set of results; safe to run again (a retry after a write whose answer was lost). */
async function writeOutcomes(db: Db, sendId: string, outcomes: Outcome[]): Promise<void> {
  await sql`
    UPDATE deliveries d SET
      status = u.status,
      smtp_response = u.response,
      attempts = d.attempts + u.tried::int,
      finished_at = CASE WHEN u.status = 'pending' THEN NULL ELSE now() END,
      leased_until = CASE WHEN u.status = 'pending' THEN NULL ELSE d.leased_until END
    FROM unnest(${outcomes.map((o) => o.id)}::bigint[], ${outcomes.map((o) => o.status)}::text[],
                ${outcomes.map((o) => o.response.slice(0, 500))}::text[], ${outcomes.map((o) => o.tried)}::boolean[])
      AS u(id, status, response, tried)
    -- A message accepted just after a cancel still went out: the row says so.
    WHERE d.id = u.id AND (d.status = 'pending' OR (u.status = 'sent' AND d.status = 'cancelled'))
  `.execute(db);
  // Status-guarded: marking a subscription bounced twice records it once.
  for (const o of outcomes) {
    if (o.status === 'bounced' && o.subscriptionId) await markBounced(db, o.subscriptionId, 'bounced', { send: sendId, smtp: o.response });
  }
}

/**
 * Temporary failures in a row across the whole send (a success resets the count). Past the
 * limit the send pauses itself, with the reason for `issues status`: retrying for hours
 * against a relay that refuses everything helps nobody.
 */
async function noteFailures(deps: BatchDeps, send: Send, result: BatchResult): Promise<void> {
  if (result.temporary === 0 && result.sent === 0) return;
  const updated = await deps.db
    .updateTable('sends')
    .set((eb) => ({ failure_streak: result.sent > 0 ? result.temporary : eb('failure_streak', '+', result.temporary) }))
    .where('id', '=', send.id)
    .returning(['failure_streak', 'status'])
    .executeTakeFirst();
  if (updated && updated.status === 'sending' && updated.failure_streak >= deps.config.sendPauseAfterFailures) {
    const reason = `paused itself after ${updated.failure_streak} temporary SMTP failures in a row; check the SMTP server, then resume`;
    await pauseSend(deps.db, send, reason).catch(() => {});
    deps.log.error({ send: send.id }, reason);
  }
}
