import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Queues } from '../queues';
import type { SubscribeLimits } from './rate-limits';
import { appendEvent, duePendingSubscriptions } from './repository';

/**
 * Subscriptions nobody confirmed. Row-driven, like every repeating job here: the rows say what
 * is due, a worker's repair loop (src/jobs.ts) runs these every REPAIR_INTERVAL, and `now` is
 * an argument, so a test moves the clock instead of waiting two days.
 *
 * - After `reminderAfterMs` (48 h by default) a pending subscription gets one reminder: a fresh
 *   confirmation link. One per consent: a `reminder_queued` event marks it queued, a
 *   `reminder_sent` event that it went out (the job checks that again before sending).
 * - After `expireAfterMs` (30 days) the subscription is removed with what it held about the
 *   person (the subscriber row too, when it has no other subscription). What stays is a
 *   `pending_expired` list event that names nobody: when the request came, how, whether it
 *   was reminded.
 */
export interface PendingSettings {
  /** 0: no reminder. */
  reminderAfterMs: number;
  expireAfterMs: number;
}

/** A queued reminder that never went out (Redis lost it) is queued again after this long. */
const REQUEUE_AFTER_MS = 60 * 60_000;
/** Rows one pass handles; the rest are due at the next pass, seconds later. */
const BATCH = 500;

/** Whether the reminder of this consent has gone out already. */
export async function remindedSince(db: Db, subscriptionId: string, consentAt: Date): Promise<boolean> {
  const row = await db
    .selectFrom('subscription_events')
    .select('id')
    .where('subscription_id', '=', subscriptionId)
    .where('type', '=', 'reminder_sent')
    .where('created_at', '>=', consentAt)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Queues the reminders that are due and returns how many. The same per-address limit as every
 * other email a stranger's form can trigger: an address over it is left for a later pass.
 */
export async function queueDueReminders(
  deps: { db: Db; queues: Queues; limits: Pick<SubscribeLimits, 'takeAddress'> },
  settings: PendingSettings,
  now: Date,
): Promise<number> {
  if (settings.reminderAfterMs <= 0) return 0;
  const before = (ms: number) => new Date(now.getTime() - ms);
  return deps.db.transaction().execute(async (trx) => {
    // Past expiry it is about to go: no reminder for a request that is being forgotten.
    const due = await duePendingSubscriptions(trx, {
      consentBefore: { at: before(settings.reminderAfterMs), inclusive: true },
      consentAfter: before(settings.expireAfterMs),
      sent: 'reminder_sent',
      tried: { types: ['reminder_queued'], after: before(REQUEUE_AFTER_MS), sinceConsent: true },
      limit: BATCH,
    });
    let queued = 0;
    for (const { id, email } of due) {
      if (!(await deps.limits.takeAddress(email))) continue;
      // Queued before the event: if Redis is down this throws, nothing is recorded, and the
      // next pass tries again.
      await deps.queues.add('system-mail', { kind: 'reminder', subscriptionId: id });
      await appendEvent(trx, id, 'reminder_queued', { at: now.toISOString() });
      queued++;
    }
    return queued;
  });
}

/**
 * Removes the pending subscriptions older than `expireAfterMs` and returns how many. Locks the
 * subscribers first, then their subscriptions (the order every writer takes, see lockOrFail),
 * so a subscriber is deleted only when nothing else of theirs is left, and a subscription made
 * for the same person meanwhile is never swept away with it.
 */
export async function expirePendingSubscriptions(db: Db, settings: PendingSettings, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - settings.expireAfterMs);
  return db.transaction().execute(async (trx) => {
    const subscribers = await trx
      .selectFrom('subscribers')
      .select('id')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('subscriptions')
          .select('subscriber_id')
          .where('status', '=', 'pending')
          .where('consent_at', '<', cutoff)
          .orderBy('consent_at')
          .limit(BATCH),
      )
      .forUpdate()
      .skipLocked()
      .execute();
    if (subscribers.length === 0) return 0;
    const subscriberIds = subscribers.map((s) => s.id);
    // Status and age read again under the lock: a confirmation may have won the race.
    const gone = await trx
      .deleteFrom('subscriptions as s')
      .where('s.subscriber_id', 'in', subscriberIds)
      .where('s.status', '=', 'pending')
      .where('s.consent_at', '<', cutoff)
      .returning([
        's.list_id',
        's.consent_at',
        's.consent_source',
        // Read before the delete's cascade takes the events: the statement's snapshot has them.
        sql<boolean>`exists (select 1 from subscription_events e where e.subscription_id = s.id and e.type = 'reminder_sent')`.as('reminded'),
      ])
      .execute();
    if (gone.length > 0) {
      await trx
        .insertInto('list_events')
        .values(
          gone.map((g) => ({
            list_id: g.list_id,
            type: 'pending_expired' as const,
            data: JSON.stringify({ requested_at: g.consent_at.toISOString(), source: g.consent_source, reminded: g.reminded }),
          })),
        )
        .execute();
    }
    // A person with nothing left on any list is not kept: the address was never confirmed.
    await trx
      .deleteFrom('subscribers as p')
      .where('p.id', 'in', subscriberIds)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('subscriptions as o').select('o.id').whereRef('o.subscriber_id', '=', 'p.id'))))
      .execute();
    return gone.length;
  });
}
