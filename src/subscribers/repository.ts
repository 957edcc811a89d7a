import { hash } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Cadence, List, Subscriber, Subscription, SubscriptionEventType, SubscriptionRequest, SubscriptionUpdate } from '../db/schema';

/**
 * Subscribers and their subscriptions, as plain functions with the database first so a
 * transaction passes straight through. Callers own the transactions.
 */

export function findSubscriberByEmail(db: Db, email: string): Promise<Subscriber | undefined> {
  return db
    .selectFrom('subscribers')
    .selectAll()
    .where(sql<string>`lower(email)`, '=', email.toLowerCase())
    .executeTakeFirst();
}

/**
 * The subscriber with this address, created (with `name`) if new. An existing subscriber is
 * returned as stored: the no-op update only makes RETURNING give their row, and never writes
 * a name that an anonymous request supplied.
 */
export async function upsertSubscriber(db: Db, email: string, name?: string): Promise<Subscriber> {
  const row = await db
    .insertInto('subscribers')
    .values({ email, name: name ?? '' })
    .onConflict((oc) => oc.expression(sql`lower(email)`).doUpdateSet({ email: sql`subscribers.email` }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return row;
}

export function findSubscription(db: Db, listId: string, subscriberId: string): Promise<Subscription | undefined> {
  return db.selectFrom('subscriptions').selectAll().where('list_id', '=', listId).where('subscriber_id', '=', subscriberId).executeTakeFirst();
}

export function findSubscriptionById(db: Db, id: string): Promise<Subscription | undefined> {
  // A token carries the id; a malformed one must be "not found", not a uuid syntax error.
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return Promise.resolve(undefined);
  return db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A subscription with its list and subscriber: what a link or a job acting for it needs. */
export interface SubscriberContext {
  list: List;
  subscriber: Subscriber;
  subscription: Subscription;
}

export async function findSubscriptionContext(db: Db, subscriptionId: string): Promise<SubscriberContext | undefined> {
  const subscription = await findSubscriptionById(db, subscriptionId);
  if (!subscription) return undefined;
  const [list, subscriber] = await Promise.all([
    db.selectFrom('lists').selectAll().where('id', '=', subscription.list_id).executeTakeFirst(),
    db.selectFrom('subscribers').selectAll().where('id', '=', subscription.subscriber_id).executeTakeFirst(),
  ]);
  return list && subscriber ? { list, subscriber, subscription } : undefined;
}

export async function updateSubscription(db: Db, id: string, changes: SubscriptionUpdate): Promise<Subscription> {
  return db
    .updateTable('subscriptions')
    .set({ ...changes, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function appendEvent(
  db: Db,
  subscriptionId: string,
  type: SubscriptionEventType,
  data: Record<string, unknown> = {},
  /** Who did it, when not the reader or Broadsheet itself: an editor's address, 'cli', 'api'. */
  actor: string | null = null,
): Promise<void> {
  await db
    .insertInto('subscription_events')
    .values({ subscription_id: subscriptionId, type, data: JSON.stringify(data), actor })
    .execute();
}

/** The hash kept after "forget": enough to refuse a re-import, not enough to read the address back cheaply. */
export function emailHash(email: string): string {
  // crypto.hash: a third of createHash's time, which an import pays for every row.
  return hash('sha256', email.trim().toLowerCase(), 'hex');
}

export async function isForgotten(db: Db, email: string): Promise<boolean> {
  const row = await db.selectFrom('forgotten_emails').select('email_hash').where('email_hash', '=', emailHash(email)).executeTakeFirst();
  return row !== undefined;
}

/**
 * A suppressed subscription's open request to come back (the form on an unsubscribed or
 * bounced address), or undefined. See migration 2026-12-06-10-01 for why it is a row of its own.
 */
export function findOpenRequest(db: Db, subscriptionId: string): Promise<SubscriptionRequest | undefined> {
  return db.selectFrom('subscription_requests').selectAll().where('subscription_id', '=', subscriptionId).executeTakeFirst();
}

/**
 * Records (or refreshes) a request to come back. The first request's time stays: a link
 * signed before it cannot confirm, and asking twice must not void the first email's link.
 */
export async function recordRequest(
  db: Db,
  subscriptionId: string,
  request: { cadence: Cadence; ip: string | null; user_agent: string | null; source: string },
): Promise<void> {
  await db
    .insertInto('subscription_requests')
    .values({ subscription_id: subscriptionId, ...request })
    .onConflict((oc) => oc.column('subscription_id').doUpdateSet({ ...request, updated_at: sql`now()` }))
    .execute();
}

/**
 * Whether a confirmation link may still make this subscription active: a pending one, or an
 * unsubscribed or bounced one with an open request. A complaint is never lifted from a form:
 * the person said the mail was unwanted, and a confirmation email would be one more.
 */
export function awaitsConfirmation(subscription: Pick<Subscription, 'status'>, request: SubscriptionRequest | undefined): boolean {
  if (subscription.status === 'pending') return true;
  return request !== undefined && (subscription.status === 'unsubscribed' || subscription.status === 'bounced');
}

/** Which pending subscriptions a row-driven pass (a lost confirmation, a reminder) is due for. */
export interface DuePendingQuery {
  /** Consent given before this (`inclusive`: or at it) … */
  consentBefore: { at: Date; inclusive: boolean };
  /** … and after this. */
  consentAfter: Date;
  /** What the pass sends: an event of this type since the consent means it was sent. */
  sent: SubscriptionEventType;
  /** Tried lately: an event of one of these types after `after` (with `sinceConsent`, also since the consent). */
  tried: { types: SubscriptionEventType[]; after: Date; sinceConsent: boolean };
  limit: number;
}

/**
 * The pending subscriptions a pass is due for, oldest consent first, with their address. Locked
 * with SKIP LOCKED (call it in a transaction), so several workers running the pass at once share
 * the rows instead of doubling the mail. The one query behind requeueLostConfirmations
 * (repair.ts) and queueDueReminders (pending.ts).
 */
export function duePendingSubscriptions(db: Db, q: DuePendingQuery): Promise<Array<{ id: string; email: string }>> {
  return db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select(['s.id', 'p.email'])
    .where('s.status', '=', 'pending')
    .where('s.consent_at', q.consentBefore.inclusive ? '<=' : '<', q.consentBefore.at)
    .where('s.consent_at', '>', q.consentAfter)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('subscription_events as e')
            .select('e.id')
            .whereRef('e.subscription_id', '=', 's.id')
            .where((eb) =>
              eb.or([
                eb.and([eb('e.type', '=', q.sent), eb('e.created_at', '>=', eb.ref('s.consent_at'))]),
                eb.and([
                  eb('e.type', 'in', q.tried.types),
                  eb('e.created_at', '>', q.tried.after),
                  ...(q.tried.sinceConsent ? [eb('e.created_at', '>=', eb.ref('s.consent_at'))] : []),
                ]),
              ]),
            ),
        ),
      ),
    )
    .orderBy('s.consent_at')
    .limit(q.limit)
    .forUpdate('s')
    .skipLocked()
    .execute();
}
