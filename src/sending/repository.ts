import { sql, type Insertable, type Selectable } from 'kysely';
import { deliveryTally, type DeliveryTally } from '../db/counters';
import type { Db } from '../db/database';
import type { IssueRow, List, Send, SendSummariesTable } from '../db/schema';
import { SENT_STATUSES } from '../issues/published';
import { issueContent } from '../issues/repository';
import { markBounced } from '../subscribers/bounce';
import type { CircuitColumns } from './circuit';
import type { Outcome } from './recorder';

/**
 * The send store: every query of the send path on `sends`, `deliveries` and `send_workers`,
 * and the subscription reads it needs. Plain functions with the database first (a transaction
 * passes straight through); `sendStore(db)` binds them into the `SendStore` interface that the
 * batch job and planning take, so their rules can be tested without a database.
 */

/** A delivery claimed by a batch job, with what its subscription says now. */
export interface Claimed {
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

export interface LoadedSend {
  send: Send;
  issue: IssueRow;
  list: List;
}

/** Who holds a lease: the worker process, and how long its rows stay its own. */
export interface Lease {
  ms: number;
  /** send_workers.id of the claiming process. */
  by: string;
  /** A lease holder that has not said it is alive for this long is gone; its rows are free. */
  goneAfterMs: number;
}

export interface Recheck {
  sendStatus: string;
  /** Subscriptions that must not get this send any more (unsubscribed, bounced, paused, deleted). */
  unsendable: string[];
  /** The send's circuit, as the breaker left it (another job may have opened it). */
  retryAt: Date | null;
}

export interface PlannedChunk {
  inserted: number;
  picked: number;
  /** Whether recipients may remain after this chunk. */
  more: boolean;
}

// ---------------------------------------------------------------------------------------------
// Sends

export function findSend(db: Db, sendId: string): Promise<Send | undefined> {
  return db.selectFrom('sends').selectAll().where('id', '=', sendId).executeTakeFirst();
}

/** The send of an issue (there is at most one: `sends.issue_id` is unique). */
export function findSendOfIssue(db: Db, issueId: string): Promise<Send | undefined> {
  return db.selectFrom('sends').selectAll().where('issue_id', '=', issueId).executeTakeFirst();
}

export async function loadSend(db: Db, sendId: string): Promise<LoadedSend | undefined> {
  const send = await findSend(db, sendId);
  if (!send) return undefined;
  const [issue, list] = await Promise.all([
    db.selectFrom('issues').selectAll().where('id', '=', send.issue_id).executeTakeFirstOrThrow(),
    db.selectFrom('lists').selectAll().where('id', '=', send.list_id).executeTakeFirstOrThrow(),
  ]);
  return { send, issue, list };
}

export function insertSend(
  db: Db,
  values: { issue_id: string; list_id: string; cadence: Send['cadence']; scheduled_at: Date; batch_size: number },
): Promise<Send> {
  return db
    .insertInto('sends')
    .values({ ...values, status: 'scheduled' })
    .returningAll()
    .executeTakeFirstOrThrow();
}

type SendChange = Partial<Pick<Send, 'status' | 'pause_reason' | 'finished_at' | 'started_at' | 'planned_at' | 'scheduled_at'>>;

/** One guarded state move: only a send in one of `from` moves; undefined when none did. */
export function moveSend(db: Db, sendId: string, from: readonly Send['status'][], set: SendChange): Promise<Send | undefined> {
  return db
    .updateTable('sends')
    .set({ ...set, updated_at: new Date() })
    .where('id', '=', sendId)
    .where('status', 'in', [...from])
    .returningAll()
    .executeTakeFirst();
}

/** Unscheduling: the send row goes while it is still only scheduled. Returns whether it went. */
export async function deleteScheduledSend(db: Db, issueId: string): Promise<boolean> {
  const deleted = await db.deleteFrom('sends').where('issue_id', '=', issueId).where('status', '=', 'scheduled').executeTakeFirst();
  return Number(deleted.numDeletedRows) === 1;
}

/** When the list's future weekly sends are scheduled (for the next free slot). */
export async function futureWeeklySlots(db: Db, listId: string, after: Date, exceptSendId?: string): Promise<Date[]> {
  let query = db
    .selectFrom('sends')
    .select('scheduled_at')
    .where('list_id', '=', listId)
    .where('cadence', '=', 'weekly')
    .where('status', '!=', 'cancelled')
    .where('scheduled_at', '>', after);
  if (exceptSendId) query = query.where('id', '!=', exceptSendId);
  return (await query.execute()).flatMap((r) => (r.scheduled_at ? [r.scheduled_at] : []));
}

/** Scheduled sends whose time has come, oldest first, with their issue and list for the log. */
export function dueSends(
  db: Db,
  now: Date,
  limit: number,
): Promise<{ id: string; issue_id: string; scheduled_at: Date | null; issue: string; list: string }[]> {
  return db
    .selectFrom('sends')
    .innerJoin('issues', 'issues.id', 'sends.issue_id')
    .innerJoin('lists', 'lists.id', 'sends.list_id')
    .select(['sends.id', 'sends.issue_id', 'sends.scheduled_at', 'issues.slug as issue', 'lists.slug as list'])
    .where('sends.status', '=', 'scheduled')
    .where('sends.scheduled_at', '<=', now)
    .orderBy('sends.scheduled_at')
    .limit(limit)
    .execute();
}

/** Sends in one status (the repairs: planning jobs, batch jobs). */
export function sendsInStatus(db: Db, status: Send['status']): Promise<Send[]> {
  return db.selectFrom('sends').selectAll().where('status', '=', status).execute();
}

/**
 * Marks a send done once no delivery is pending, whether it is sending or paused (a pause
 * that came while the last messages were in flight). Guarded, so it happens once.
 */
export async function finishSendIfDone(db: Db, sendId: string): Promise<boolean> {
  const done = await db
    .updateTable('sends')
    .set({ status: 'done', finished_at: new Date(), updated_at: new Date(), failing_since: null, retry_at: null, backoff_ms: 0 })
    .where('id', '=', sendId)
    .where('status', 'in', ['sending', 'paused'])
    .where('planned_at', 'is not', null)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('deliveries').select('id').where('send_id', '=', sendId).where('status', '=', 'pending'))))
    .returning('id')
    .executeTakeFirst();
  return !!done;
}

/** The circuit is closed: mail goes out at full speed again. */
export async function closeCircuit(db: Db, sendId: string): Promise<void> {
  await db
    .updateTable('sends')
    .set({ failing_since: null, retry_at: null, backoff_ms: 0, last_error: null, failure_streak: 0 })
    .where('id', '=', sendId)
    .execute();
}

/**
 * Opens the circuit of a send that is closed; false when another job opened it first (only
 * the one that opened it waits to probe).
 */
export async function openCircuit(db: Db, sendId: string, columns: CircuitColumns): Promise<boolean> {
  const done = await db
    .updateTable('sends')
    .set({ ...columns, last_error: columns.last_error?.slice(0, 300) ?? null })
    .where('id', '=', sendId)
    .where('failing_since', 'is', null)
    .returning('id')
    .executeTakeFirst();
  return !!done;
}

/**
 * Takes the probe of a send whose wait is over: moves retry_at from what the caller saw to
 * `holdUntil`, so of all the jobs that wake at once exactly one sends the probe (and if it
 * dies, another takes the probe after the hold).
 */
export async function takeProbe(db: Db, sendId: string, seenRetryAt: Date, holdUntil: Date): Promise<boolean> {
  const taken = await db
    .updateTable('sends')
    .set({ retry_at: holdUntil })
    .where('id', '=', sendId)
    .where('retry_at', '=', seenRetryAt)
    .where('retry_at', '<=', sql<Date>`now()`)
    .returning('id')
    .executeTakeFirst();
  return !!taken;
}

/** A probe failed (or found nobody to probe with): the circuit's next wait. */
export async function probeFailed(db: Db, sendId: string, columns: CircuitColumns): Promise<void> {
  await db
    .updateTable('sends')
    .set({ retry_at: columns.retry_at, backoff_ms: columns.backoff_ms, last_error: columns.last_error?.slice(0, 300) ?? null })
    .where('id', '=', sendId)
    .where('failing_since', 'is not', null)
    .execute();
}

// ---------------------------------------------------------------------------------------------
// Planning

const PLAN_CHUNK = 20_000;

/**
 * Writes the delivery rows of the next chunk of recipients (keyset paging in subscription id
 * order from where planning got to) and the point reached, in one transaction, so planning
 * interrupted by a crash resumes there; `ON CONFLICT DO NOTHING` makes a chunk planned twice
 * harmless. Recipients: active, not paused, of the send's cadence.
 */
export function planChunk(db: Db, send: Send, limit = PLAN_CHUNK): Promise<PlannedChunk> {
  return db.transaction().execute(async (trx) => {
    const after = send.planned_through;
    const result = await sql<{ inserted: number; picked: number; last: string | null }>`
      WITH picked AS (
        SELECT id FROM subscriptions
        WHERE list_id = ${send.list_id} AND cadence = ${send.cadence} AND status = 'active' AND NOT paused
          ${after ? sql`AND id > ${after}` : sql``}
        ORDER BY id
        LIMIT ${limit}
      ), inserted AS (
        INSERT INTO deliveries (send_id, subscription_id)
        SELECT ${send.id}, id FROM picked ORDER BY id
        ON CONFLICT (send_id, subscription_id) DO NOTHING
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM inserted)::int AS inserted,
             (SELECT count(*) FROM picked)::int AS picked,
             (SELECT id FROM picked ORDER BY id DESC LIMIT 1) AS last
    `.execute(trx);
    const row = result.rows[0]!;
    if (row.last) {
      await trx
        .updateTable('sends')
        .set((eb) => ({ planned: eb('planned', '+', row.inserted), planned_through: row.last, updated_at: new Date() }))
        .where('id', '=', send.id)
        .execute();
    }
    return { inserted: row.inserted, picked: row.picked, more: row.picked >= limit };
  });
}

// ---------------------------------------------------------------------------------------------
// Deliveries

/** WORKER_HEARTBEAT_SECONDS' default (5) three times: what callers without the config assume. */
export const DEFAULT_GONE_AFTER_MS = 15_000;

/** Pending and free: not leased, the lease ran out, or its holder is gone. */
function claimable(lease: Pick<Lease, 'goneAfterMs'> & { by?: string }) {
  return sql`(d.leased_until IS NULL OR d.leased_until < now() OR (
    d.leased_by IS NOT NULL ${lease.by ? sql`AND d.leased_by <> ${lease.by}` : sql``}
    AND NOT EXISTS (SELECT 1 FROM send_workers w WHERE w.id = d.leased_by AND w.seen_at > now() - ${`${lease.goneAfterMs} milliseconds`}::interval)))`;
}

/**
 * Takes the batch's pending rows that no live job holds, and reads their subscriptions, in one
 * statement. SKIP LOCKED and the lease keep two jobs for the same batch (a repair racing a
 * retry, a flushed Redis) from sending the same row; a row whose holder has stopped beating
 * (killed) is taken over at once instead of after its lease.
 */
export async function claimBatch(db: Db, send: Pick<Send, 'id' | 'batch_size'>, batch: number, lease: Lease): Promise<Claimed[]> {
  const lo = batch * send.batch_size;
  const hi = lo + send.batch_size;
  const { rows } = await sql<Claimed>`
    WITH claimed AS (
      UPDATE deliveries u SET leased_until = now() + ${`${lease.ms} milliseconds`}::interval, leased_by = ${lease.by}
      WHERE u.id IN (
        SELECT d.id FROM deliveries d
        WHERE d.send_id = ${send.id} AND d.id >= ${lo} AND d.id < ${hi} AND d.status = 'pending' AND ${claimable(lease)}
        ORDER BY d.id
        FOR UPDATE SKIP LOCKED
      )
      RETURNING u.id, u.subscription_id, u.attempts
    )
    SELECT c.id, c.subscription_id, c.attempts, s.status, s.paused, s.cadence, s.excluded_sections, p.email, p.name
    FROM claimed c
    LEFT JOIN subscriptions s ON s.id = c.subscription_id
    LEFT JOIN subscribers p ON p.id = s.subscriber_id
    ORDER BY c.id
  `.execute(db);
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** The send's status and circuit, and which of these subscriptions may no longer get it. */
export async function recheckSend(db: Db, sendId: string, subscriptionIds: string[]): Promise<Recheck> {
  const send = await db.selectFrom('sends').select(['status', 'retry_at']).where('id', '=', sendId).executeTakeFirst();
  const rows = subscriptionIds.length
    ? await db.selectFrom('subscriptions').select(['id', 'status', 'paused']).where('id', 'in', subscriptionIds).execute()
    : [];
  const sendable = new Set(rows.filter((r) => r.status === 'active' && !r.paused).map((r) => r.id));
  // A deleted subscription (forget) is gone from the table: it is unsendable too.
  return { sendStatus: send?.status ?? 'cancelled', unsendable: subscriptionIds.filter((id) => !sendable.has(id)), retryAt: send?.retry_at ?? null };
}

export async function releaseDeliveries(db: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.updateTable('deliveries').set({ leased_until: null, leased_by: null }).where('id', 'in', ids).where('status', '=', 'pending').execute();
}

/**
 * Writes a set of batch results, and marks the bounced subscriptions. Safe to run again (a
 * retry after a write whose answer was lost): rows only move out of `pending`, and a bounce
 * is status-guarded.
 */
export async function recordOutcomes(db: Db, sendId: string, outcomes: Outcome[]): Promise<void> {
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
  for (const o of outcomes) {
    if (o.status === 'bounced' && o.subscriptionId) await markBounced(db, o.subscriptionId, 'bounced', { send: sendId, smtp: o.response });
  }
}

/**
 * The batches of a send with deliveries that are pending and free (see `claimable`): what
 * planning queues, and what the repair queues again after a crash or a flushed Redis.
 */
export async function unsentBatches(
  db: Db,
  send: Pick<Send, 'id' | 'batch_size'>,
  goneAfterMs = DEFAULT_GONE_AFTER_MS,
): Promise<{ sendId: string; batch: number }[]> {
  const { rows } = await sql<{ batch: number }>`
    SELECT DISTINCT d.id / ${send.batch_size} AS batch FROM deliveries d
    WHERE d.send_id = ${send.id} AND d.status = 'pending' AND ${claimable({ goneAfterMs })}
    ORDER BY 1
  `.execute(db);
  return rows.map((r) => ({ sendId: send.id, batch: Number(r.batch) }));
}

export async function cancelPendingDeliveries(db: Db, sendId: string): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ status: 'cancelled', finished_at: new Date() })
    .where('send_id', '=', sendId)
    .where('status', '=', 'pending')
    .execute();
}

/**
 * A send's deliveries per status and the ones sent in the last minute, from the counters the
 * database keeps (db/counters.ts): the live page asks every second, and counting a million
 * rows each time would be most of the database's work while the send runs.
 */
export function deliveryCounts(db: Db, sendId: string): Promise<DeliveryTally> {
  return deliveryTally(db, sendId);
}

/** Whether an issue has a send that went out (or is going out): its content is public then. */
export async function issueWasSent(db: Db, issueId: string): Promise<boolean> {
  const sent = await db.selectFrom('sends').select('id').where('issue_id', '=', issueId).where('status', 'in', SENT_STATUSES).executeTakeFirst();
  return sent !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Reports: what became of a send (report.ts), its summary once the rows are gone (retention.ts)

/** SMTP answers of a send's deliveries as written, with how many rows carry each. */
export function smtpResponseCounts(db: Db, sendId: string): Promise<Array<{ smtp_response: string | null; n: number }>> {
  return db
    .selectFrom('deliveries')
    .select(['smtp_response', (eb) => eb.fn.countAll<number>().as('n')])
    .where('send_id', '=', sendId)
    .where('smtp_response', 'is not', null)
    .groupBy('smtp_response')
    .execute();
}

/** A finished send's answers as grouped on its report's first view (send_smtp_answers), if they were. */
export async function keptSmtpAnswers(db: Db, sendId: string): Promise<Array<{ answer: string; count: number }> | undefined> {
  const kept = await db.selectFrom('send_smtp_answers').select('answers').where('send_id', '=', sendId).executeTakeFirst();
  return kept?.answers;
}

/** Keeps them (once: a row written meanwhile by another view stays). */
export async function keepSmtpAnswers(db: Db, sendId: string, answers: Array<{ answer: string; count: number }>): Promise<void> {
  await db
    .insertInto('send_smtp_answers')
    .values({ send_id: sendId, answers: JSON.stringify(answers) })
    .onConflict((oc) => oc.column('send_id').doNothing())
    .execute();
}

/** Forgets a send's grouped answers: one of them changed (a late bounce). */
export async function forgetSmtpAnswers(db: Db, sendId: string): Promise<void> {
  await db.deleteFrom('send_smtp_answers').where('send_id', '=', sendId).execute();
}

/**
 * Readers who did `type` (`unsubscribed`, `complained`, `bounced`) because of this send: they
 * got this send's email and did it before getting any later one, so the link or the complaint
 * button they used was in this email. (A link from an older email clicked after a newer one
 * arrived is counted against the newer one: the links carry no send id, on purpose, so that a
 * forwarded link says nothing about which email it came from.)
 */
export async function attributedEvents(db: Db, sendId: string, type: 'unsubscribed' | 'complained' | 'bounced'): Promise<number> {
  const row = await db
    .selectFrom('deliveries as d')
    .innerJoin('subscription_events as e', 'e.subscription_id', 'd.subscription_id')
    .select((eb) => eb.fn.count<number>('e.subscription_id').distinct().as('n'))
    .where('d.send_id', '=', sendId)
    .where('d.status', '=', 'sent')
    .where('e.type', '=', type)
    .where(sql<boolean>`e.created_at >= d.finished_at`)
    // Implied by the line above (a delivery finishes after its send starts), and a range of the
    // index subscription_events_departures, so only events since the send are read.
    .where(sql<boolean>`e.created_at >= (SELECT coalesce(started_at, created_at) FROM sends WHERE id = ${sendId})`)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('deliveries as later')
            .select('later.id')
            .whereRef('later.subscription_id', '=', 'd.subscription_id')
            .where('later.status', '=', 'sent')
            .where('later.send_id', '!=', sendId)
            .where(sql<boolean>`later.finished_at > d.finished_at AND later.finished_at <= e.created_at`),
        ),
      ),
    )
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The summary of a send whose delivery rows were removed (past DELIVERY_RETENTION_DAYS), if they were. */
export function summaryOfPrunedSend(db: Db, sendId: string): Promise<Selectable<SendSummariesTable> | undefined> {
  return db.selectFrom('send_summaries').selectAll().where('send_id', '=', sendId).where('rows_removed_at', 'is not', null).executeTakeFirst();
}

/** Soft bounces reported later (DSNs with 4.x.x) over all of a send's deliveries. */
export async function softBounceTotal(db: Db, sendId: string): Promise<number> {
  const soft = await db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('soft_bounces'), sql<number>`0`).as('n'))
    .where('send_id', '=', sendId)
    .executeTakeFirstOrThrow();
  return Number(soft.n);
}

/** Writes a send's summary once: one written already is kept as it is. */
export async function insertSendSummary(db: Db, summary: Insertable<SendSummariesTable>): Promise<void> {
  await db
    .insertInto('send_summaries')
    .values(summary)
    .onConflict((oc) => oc.column('send_id').doNothing())
    .execute();
}

/** Finished sends (done or cancelled before `before`) whose rows are still there, oldest first. */
export function sendsPastRetention(db: Db, before: Date, limit: number): Promise<Array<{ id: string }>> {
  return db
    .selectFrom('sends as s')
    .select('s.id')
    .where('s.status', 'in', ['done', 'cancelled'])
    .where('s.finished_at', '<', before)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('send_summaries as m').select('m.send_id').whereRef('m.send_id', '=', 's.id').where('m.rows_removed_at', 'is not', null))),
    )
    .orderBy('s.finished_at')
    .limit(limit)
    .execute();
}

/** Removes up to `chunk` of a send's delivery rows (small statements: no long lock); returns how many. */
export async function deleteDeliveries(db: Db, sendId: string, chunk: number): Promise<number> {
  const deleted = await sql`
    DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE send_id = ${sendId} LIMIT ${chunk})
  `.execute(db);
  return Number(deleted.numAffectedRows ?? 0);
}

export async function markRowsRemoved(db: Db, sendId: string, at: Date): Promise<void> {
  await db.updateTable('send_summaries').set({ rows_removed_at: at }).where('send_id', '=', sendId).execute();
}

// ---------------------------------------------------------------------------------------------
// Reports that come back by mail (inbound.ts)

/** One more soft bounce on a delivery; false when there is no such delivery. */
export async function countSoftBounce(db: Db, deliveryId: number): Promise<boolean> {
  const row = await db
    .updateTable('deliveries')
    .set((eb) => ({ soft_bounces: eb('soft_bounces', '+', 1) }))
    .where('id', '=', deliveryId)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * A delivery bounced after it went out (a DSN): only a message that was sent can bounce later,
 * and the row keeps the remote server's words. Undefined when no sent delivery has the id.
 */
export async function markDeliveryBounced(db: Db, deliveryId: number, response: string): Promise<{ subscription_id: string; send_id: string } | undefined> {
  const row = await sql<{ subscription_id: string; send_id: string }>`
    UPDATE deliveries SET status = 'bounced', smtp_response = ${response.slice(0, 500)}
    WHERE id = ${deliveryId} AND status IN ('sent', 'bounced')
    RETURNING subscription_id, send_id
  `.execute(db);
  return row.rows[0];
}

/** A complaint about a delivery (the first one's time is kept). Undefined when there is no such delivery. */
export function markDeliveryComplained(db: Db, deliveryId: number): Promise<{ subscription_id: string; send_id: string } | undefined> {
  return db
    .updateTable('deliveries')
    .set((eb) => ({ complained_at: eb.fn.coalesce('complained_at', sql<Date>`now()`) }))
    .where('id', '=', deliveryId)
    .returning(['subscription_id', 'send_id'])
    .executeTakeFirst();
}

// ---------------------------------------------------------------------------------------------
// Workers

/** A worker process says it is alive (and old entries of long-gone processes are dropped). */
export async function beat(db: Db, workerId: string): Promise<void> {
  await db
    .insertInto('send_workers')
    .values({ id: workerId, seen_at: sql`now()` })
    .onConflict((oc) => oc.column('id').doUpdateSet({ seen_at: sql`now()` }))
    .execute();
  await db
    .deleteFrom('send_workers')
    .where('seen_at', '<', sql<Date>`now() - interval '1 day'`)
    .execute();
}

/** A worker that stops cleanly says so: its leases (released already) need no waiting. */
export async function forgetWorker(db: Db, workerId: string): Promise<void> {
  await db.deleteFrom('send_workers').where('id', '=', workerId).execute();
}

// ---------------------------------------------------------------------------------------------
// Issues, as the send path reads them

/**
 * Titles of the weekly issues a digest covers, read once per batch (a digest names a handful).
 * Only sent ones: the title of a draft, a scheduled or a cancelled issue is not public, and a
 * cover without a title here is left out of the email (issues/view.ts).
 */
export async function coverTitles(db: Db, issue: IssueRow): Promise<Record<string, string> | undefined> {
  const covers = issueContent(issue).covers;
  if (!covers?.length) return undefined;
  const rows = await db
    .selectFrom('issues')
    .innerJoin('sends', 'sends.issue_id', 'issues.id')
    .select(['issues.slug', 'issues.title'])
    .where('issues.list_id', '=', issue.list_id)
    .where('issues.slug', 'in', covers)
    .where('sends.status', 'in', SENT_STATUSES)
    .execute();
  return Object.fromEntries(rows.map((r) => [r.slug, r.title]));
}

// ---------------------------------------------------------------------------------------------
// The interface the batch job and planning see

export interface SendStore {
  findSend(sendId: string): Promise<Send | undefined>;
  loadSend(sendId: string): Promise<LoadedSend | undefined>;
  coverTitles(issue: IssueRow): Promise<Record<string, string> | undefined>;
  claimBatch(send: Pick<Send, 'id' | 'batch_size'>, batch: number, lease: Lease): Promise<Claimed[]>;
  recheckSend(sendId: string, subscriptionIds: string[]): Promise<Recheck>;
  recordOutcomes(sendId: string, outcomes: Outcome[]): Promise<void>;
  releaseDeliveries(ids: number[]): Promise<void>;
  unsentBatches(send: Pick<Send, 'id' | 'batch_size'>, goneAfterMs?: number): Promise<{ sendId: string; batch: number }[]>;
  finishSendIfDone(sendId: string): Promise<boolean>;
  planChunk(send: Send): Promise<PlannedChunk>;
  moveSend(sendId: string, from: readonly Send['status'][], set: SendChange): Promise<Send | undefined>;
  openCircuit(sendId: string, columns: CircuitColumns): Promise<boolean>;
  takeProbe(sendId: string, seenRetryAt: Date, holdUntil: Date): Promise<boolean>;
  probeFailed(sendId: string, columns: CircuitColumns): Promise<void>;
  closeCircuit(sendId: string): Promise<void>;
}

export function sendStore(db: Db): SendStore {
  return {
    findSend: (id) => findSend(db, id),
    loadSend: (id) => loadSend(db, id),
    coverTitles: (issue) => coverTitles(db, issue),
    claimBatch: (send, batch, lease) => claimBatch(db, send, batch, lease),
    recheckSend: (id, subs) => recheckSend(db, id, subs),
    recordOutcomes: (id, outcomes) => recordOutcomes(db, id, outcomes),
    releaseDeliveries: (ids) => releaseDeliveries(db, ids),
    unsentBatches: (send, gone) => unsentBatches(db, send, gone),
    finishSendIfDone: (id) => finishSendIfDone(db, id),
    planChunk: (send) => planChunk(db, send),
    moveSend: (id, from, set) => moveSend(db, id, from, set),
    openCircuit: (id, columns) => openCircuit(db, id, columns),
    takeProbe: (id, seen, hold) => takeProbe(db, id, seen, hold),
    probeFailed: (id, columns) => probeFailed(db, id, columns),
    closeCircuit: (id) => closeCircuit(db, id),
  };
}
