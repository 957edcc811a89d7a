import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Cadence, DeliveryStatus, SendStatus, SubscriptionEventType, SubscriptionStatus } from '../db/schema';
import { AppError } from '../errors';
import { issueState, type IssueState } from '../issues/repository';
import { findSubscriptionContext, type SubscriberContext } from './repository';

/**
 * The desk's reading side of subscribers: find by address, and a subscription's history.
 * Changes go through the same services as the reader pages, the CLI and the API
 * (preferences.ts, service.ts, forget.ts); nothing here writes.
 */

export interface SubscriberHit {
  subscriberId: string;
  email: string;
  name: string;
  subscriptions: { id: string; list: string; listName: string; status: SubscriptionStatus; cadence: Cadence; paused: boolean }[];
}

export const SEARCH_LIMIT = 50;

/** `%`, `_` and `\` typed by an editor are letters of an address, not LIKE wildcards. */
function likePrefix(text: string): string {
  return `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Subscribers whose address starts with `query`, whatever its case, in address order; with
 * `listId`, only those subscribed (in any status) to that list. Uses the index
 * `subscribers_email_prefix` (migration 2026-12-06-50): the prefix is a range of it, read in
 * order, and the LIMIT stops the scan early.
 */
export async function searchSubscribers(db: Db, query: string, options: { listId?: string; limit?: number } = {}): Promise<SubscriberHit[]> {
  const prefix = query.trim().toLowerCase();
  if (prefix === '') return [];
  if (prefix.length > 320) throw new AppError('invalid_input', 'an address is at most 320 characters');
  const limit = Math.min(options.limit ?? SEARCH_LIMIT, 200);
  const key = sql<string>`lower(s.email) COLLATE "C"`;
  let q = db.selectFrom('subscribers as s').select(['s.id', 's.email', 's.name']).where(key, 'like', likePrefix(prefix)).orderBy(key).limit(limit);
  if (options.listId) {
    const listId = options.listId;
    q = q.where(({ exists, selectFrom }) =>
      exists(selectFrom('subscriptions as m').select('m.id').whereRef('m.subscriber_id', '=', 's.id').where('m.list_id', '=', listId)),
    );
  }
  const people = await q.execute();
  if (people.length === 0) return [];
  const subs = await db
    .selectFrom('subscriptions as m')
    .innerJoin('lists as l', 'l.id', 'm.list_id')
    .select(['m.id', 'm.subscriber_id', 'm.status', 'm.cadence', 'm.paused', 'l.slug', 'l.name'])
    .where(
      'm.subscriber_id',
      'in',
      people.map((p) => p.id),
    )
    .orderBy('l.slug')
    .execute();
  return people.map((p) => ({
    subscriberId: p.id,
    email: p.email,
    name: p.name,
    subscriptions: subs
      .filter((s) => s.subscriber_id === p.id)
      .map((s) => ({ id: s.id, list: s.slug, listName: s.name, status: s.status, cadence: s.cadence, paused: s.paused })),
  }));
}

export interface HistoryEvent {
  at: Date;
  type: SubscriptionEventType;
  data: Record<string, unknown>;
  /** The editor who did it on the desk, 'cli' or 'api'; null when the reader or the mail system did. */
  actor: string | null;
}

export interface HistoryDelivery {
  issue: string;
  issueTitle: string;
  sendId: string;
  sendState: IssueState;
  status: DeliveryStatus;
  finishedAt: Date | null;
  smtpResponse: string | null;
}

export interface SubscriptionHistory extends SubscriberContext {
  /** Oldest first, as the log was written. */
  events: HistoryEvent[];
  /** The issues this subscription was planned for, newest first (rows kept for DELIVERY_RETENTION_DAYS). */
  deliveries: HistoryDelivery[];
}

export async function subscriptionHistory(db: Db, subscriptionId: string, options: { deliveries?: number } = {}): Promise<SubscriptionHistory> {
  const context = await findSubscriptionContext(db, subscriptionId);
  if (!context) throw new AppError('not_found', 'no such subscription (it may have been forgotten)');
  const [events, deliveries] = await Promise.all([
    db.selectFrom('subscription_events').select(['type', 'data', 'created_at', 'actor']).where('subscription_id', '=', subscriptionId).orderBy('id').execute(),
    db
      .selectFrom('deliveries as d')
      .innerJoin('sends as s', 's.id', 'd.send_id')
      .innerJoin('issues as i', 'i.id', 's.issue_id')
      .select(['i.slug', 'i.title', 's.id as send_id', 's.status as send_status', 'd.status', 'd.finished_at', 'd.smtp_response'])
      .where('d.subscription_id', '=', subscriptionId)
      .orderBy('d.id', 'desc')
      .limit(options.deliveries ?? 50)
      .execute(),
  ]);
  return {
    ...context,
    events: events.map((e) => ({ at: e.created_at, type: e.type, data: e.data, actor: e.actor })),
    deliveries: deliveries.map((d) => ({
      issue: d.slug,
      issueTitle: d.title,
      sendId: d.send_id,
      sendState: issueState(d.send_status as SendStatus),
      status: d.status,
      finishedAt: d.finished_at,
      smtpResponse: d.smtp_response,
    })),
  };
}
