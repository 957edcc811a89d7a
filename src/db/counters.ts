import { sql } from 'kysely';
import type { Db } from './database';
import type { Cadence, DeliveryStatus, SubscriptionStatus } from './schema';

/**
 * How many subscriptions a list has per status and cadence, and how many deliveries a send has
 * per status, without counting the rows: PostgreSQL's triggers append each statement's net
 * change to `subscription_counts` / `delivery_counts` (migration 2026-12-07-30-01, which says
 * why changes rather than one counter row), and these functions sum them. A million
 * subscribers or deliveries cost a few dozen rows to read instead of a million to count.
 *
 * The change rows are folded into one per key when a read finds more than FOLD_AT of them, and
 * by each worker's repair pass (foldPiledUpCounters), so a busy list stays a few rows.
 */

const FOLD_AT = 64;

export interface SubscriptionTally {
  status: SubscriptionStatus;
  cadence: Cadence;
  paused: boolean;
  n: number;
}

/** Each list's subscriptions per status, cadence and paused (keys with none left out). */
export async function subscriptionTallies(db: Db, listIds: readonly string[]): Promise<Map<string, SubscriptionTally[]>> {
  const out = new Map<string, SubscriptionTally[]>(listIds.map((id) => [id, []]));
  if (listIds.length === 0) return out;
  const rows = await db
    .selectFrom('subscription_counts')
    .select(['list_id', 'status', 'cadence', 'paused', sql<string>`sum(n)`.as('n'), sql<string>`count(*)`.as('rows')])
    .where('list_id', 'in', listIds)
    .groupBy(['list_id', 'status', 'cadence', 'paused'])
    .execute();
  const changes = new Map<string, number>();
  for (const r of rows) {
    changes.set(r.list_id, (changes.get(r.list_id) ?? 0) + Number(r.rows));
    const n = Number(r.n);
    if (n !== 0) out.get(r.list_id)!.push({ status: r.status, cadence: r.cadence, paused: r.paused, n });
  }
  for (const [listId, count] of changes) if (count > FOLD_AT) await foldSubscriptionCounts(db, listId);
  return out;
}

/** One list's subscriptions per status, every status present. */
export async function subscriptionsByStatus(db: Db, listId: string): Promise<Record<SubscriptionStatus, number>> {
  const counts: Record<SubscriptionStatus, number> = { pending: 0, active: 0, unsubscribed: 0, bounced: 0, complained: 0 };
  for (const t of (await subscriptionTallies(db, [listId])).get(listId)!) counts[t.status] += t.n;
  return counts;
}

/**
 * Folds a list's change rows into one per key. Safe beside writers and beside another fold:
 * a writer's uncommitted rows are not seen and stay; a row two folds both try to delete is
 * handed by DELETE … RETURNING to the one that deletes it first, and skipped by the other.
 */
export async function foldSubscriptionCounts(db: Db, listId: string): Promise<void> {
  await sql`
    WITH gone AS (DELETE FROM subscription_counts WHERE list_id = ${listId} RETURNING status, cadence, paused, n)
    INSERT INTO subscription_counts (list_id, status, cadence, paused, n)
    SELECT ${listId}, status, cadence, paused, sum(n) FROM gone GROUP BY status, cadence, paused HAVING sum(n) <> 0`.execute(db);
}

export interface DeliveryTally {
  counts: Record<DeliveryStatus, number>;
  /** Deliveries that became 'sent' in the last minute (a send's rate). */
  sentLastMinute: number;
}

/**
 * A send's deliveries per status, and how many were sent in the last minute: the change
 * rows of the last 60 s are kept as written (a fold leaves them alone) and dated by their
 * statement's transaction, which for the batch job's result writes is the moment they were
 * recorded.
 */
export async function deliveryTally(db: Db, sendId: string): Promise<DeliveryTally> {
  const rows = await db
    .selectFrom('delivery_counts')
    .select([
      'status',
      sql<string>`sum(n)`.as('n'),
      sql<string>`coalesce(sum(n) FILTER (WHERE n > 0 AND at > now() - interval '60 seconds'), 0)`.as('recent'),
      sql<string>`count(*) FILTER (WHERE at <= now() - interval '60 seconds')`.as('old'),
    ])
    .where('send_id', '=', sendId)
    .groupBy('status')
    .execute();
  const counts: Record<DeliveryStatus, number> = { pending: 0, sent: 0, failed: 0, bounced: 0, suppressed: 0, cancelled: 0 };
  let sentLastMinute = 0;
  let old = 0;
  for (const r of rows) {
    counts[r.status] = Number(r.n);
    if (r.status === 'sent') sentLastMinute = Number(r.recent);
    old += Number(r.old);
  }
  if (old > FOLD_AT) await foldDeliveryCounts(db, sendId);
  return { counts, sentLastMinute };
}

/** Folds a send's change rows older than a minute into one per status (see foldSubscriptionCounts). */
export async function foldDeliveryCounts(db: Db, sendId: string): Promise<void> {
  await sql`
    WITH gone AS (DELETE FROM delivery_counts WHERE send_id = ${sendId} AND at <= now() - interval '60 seconds' RETURNING status, n, at)
    INSERT INTO delivery_counts (send_id, status, n, at)
    SELECT ${sendId}, status, sum(n), max(at) FROM gone GROUP BY status HAVING sum(n) <> 0`.execute(db);
}

/**
 * Folds the change rows of every list and send that has piled up more than FOLD_AT of them,
 * so that one nobody looks at on the desk stays small too. Run by each worker's repair pass
 * (jobs.ts); returns how many lists and sends it folded.
 */
export async function foldPiledUpCounters(db: Db): Promise<number> {
  const lists = await db
    .selectFrom('subscription_counts')
    .select('list_id')
    .groupBy('list_id')
    .having(sql`count(*)`, '>', FOLD_AT)
    .execute();
  for (const { list_id } of lists) await foldSubscriptionCounts(db, list_id);
  const sends = await db
    .selectFrom('delivery_counts')
    .select('send_id')
    .where(sql<boolean>`at <= now() - interval '60 seconds'`)
    .groupBy('send_id')
    .having(sql`count(*)`, '>', FOLD_AT)
    .execute();
  for (const { send_id } of sends) await foldDeliveryCounts(db, send_id);
  return lists.length + sends.length;
}
