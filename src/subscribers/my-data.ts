import { AppError } from '../errors';
import { forgetSubscriber } from './forget';
import { appendEvent, findSubscriptionById, findSubscriptionContext } from './repository';
import { eventMeta, type RequestMeta, type SubscriberDeps } from './service';
import { enqueueDataLink } from './system-mail';

/**
 * The reader's data: a copy of it, and its erasure. A copy goes only to the mailbox: the
 * preferences page (whose link lives long and travels in forwarded mail) only asks for a
 * short-lived `export` link to be emailed, and that link's page hands the data over.
 */

export interface MyData {
  exported_at: string;
  subscriber: { email: string; name: string; created_at: string };
  subscriptions: Array<{
    list: { slug: string; name: string };
    status: string;
    cadence: string;
    excluded_sections: string[];
    paused: boolean;
    consent: { at: string; ip: string | null; user_agent: string | null; source: string };
    confirmed_at: string | null;
    unsubscribed_at: string | null;
    created_at: string;
    events: Array<{ type: string; data: Record<string, unknown>; at: string }>;
  }>;
}

/**
 * Everything held about the person behind this subscription: the subscriber, each of their
 * subscriptions (on every list of this site) and each one's event log. The link proves
 * control of the mailbox, which is what every one of those subscriptions is tied to.
 */
export async function exportMyData(deps: Pick<SubscriberDeps, 'db'>, subscriptionId: string, meta: RequestMeta): Promise<MyData> {
  const sub = await findSubscriptionById(deps.db, subscriptionId);
  if (!sub) throw new AppError('not_found', 'no such subscription');
  await appendEvent(deps.db, sub.id, 'exported', { by: meta.actor ? 'editor' : 'reader', ...eventMeta(meta) }, meta.actor);

  const subscriber = await deps.db.selectFrom('subscribers').selectAll().where('id', '=', sub.subscriber_id).executeTakeFirstOrThrow();
  const subs = await deps.db
    .selectFrom('subscriptions')
    .innerJoin('lists', 'lists.id', 'subscriptions.list_id')
    .selectAll('subscriptions')
    .select(['lists.slug as list_slug', 'lists.name as list_name'])
    .where('subscriptions.subscriber_id', '=', subscriber.id)
    .orderBy('subscriptions.created_at')
    .execute();
  const events = subs.length
    ? await deps.db
        .selectFrom('subscription_events')
        .selectAll()
        .where(
          'subscription_id',
          'in',
          subs.map((s) => s.id),
        )
        .orderBy('id')
        .execute()
    : [];
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    exported_at: new Date().toISOString(),
    subscriber: { email: subscriber.email, name: subscriber.name, created_at: subscriber.created_at.toISOString() },
    subscriptions: subs.map((s) => ({
      list: { slug: s.list_slug, name: s.list_name },
      status: s.status,
      cadence: s.cadence,
      excluded_sections: s.excluded_sections,
      paused: s.paused,
      consent: { at: s.consent_at.toISOString(), ip: s.consent_ip, user_agent: s.consent_user_agent, source: s.consent_source },
      confirmed_at: iso(s.confirmed_at),
      unsubscribed_at: iso(s.unsubscribed_at),
      created_at: s.created_at.toISOString(),
      events: events.filter((e) => e.subscription_id === s.id).map((e) => ({ type: e.type, data: e.data, at: e.created_at.toISOString() })),
    })),
  };
}

/**
 * Emails a short-lived link to download the data. Limited per address like the other
 * emails a reader can trigger; says nothing back, as the page is the same either way.
 */
export async function requestDataLink(deps: SubscriberDeps, subscriptionId: string): Promise<void> {
  const context = await findSubscriptionContext(deps.db, subscriptionId);
  if (!context) return;
  if (await deps.limits.takeAddress(context.subscriber.email)) await enqueueDataLink(deps.queues, subscriptionId);
}

/**
 * Erases the person behind this subscription: the subscriber row and, through the foreign
 * keys, all their subscriptions and events. Only a hash of the address is kept, so that an
 * import cannot bring them back: `broadsheet subscribers forget`, by the reader's own hand.
 */
export async function deleteMe(deps: Pick<SubscriberDeps, 'db'>, subscriptionId: string): Promise<void> {
  const context = await findSubscriptionContext(deps.db, subscriptionId);
  if (context) await forgetSubscriber(deps.db, context.subscriber.email);
}
