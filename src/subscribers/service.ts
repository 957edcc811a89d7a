import type { Config } from '../config';
import type { Db } from '../db/database';
import type { List, Subscription } from '../db/schema';
import { AppError } from '../errors';
import { findListById, getListBySlug } from '../lists/repository';
import type { Queues } from '../queues';
import type { SubscribeLimits } from './rate-limits';
import {
  appendEvent,
  awaitsConfirmation,
  emailHash,
  findOpenRequest,
  findSubscriberByEmail,
  findSubscription,
  findSubscriptionContext,
  recordRequest,
  type SubscriberContext,
  updateSubscription,
  upsertSubscriber,
} from './repository';
import { parseCadence, parseEmail, parseName } from './input';
import { enqueueConfirmation, enqueuePreferencesLink, enqueueWelcome } from './system-mail';
import { verifyToken, type TokenPurpose } from './tokens';

/**
 * What a reader can do without a link (subscribe, ask for a preferences link) and with the
 * confirmation link; `preferences.ts` and `my-data.ts` hold what the other links do. Each
 * function owns its transaction; state changes lock the rows first (`lockOrFail`), so a double
 * click or a replayed link changes things (and logs an event) once. Emails are enqueued after
 * the commit, so the worker never reads a row before it exists.
 */
export interface SubscriberDeps {
  db: Db;
  config: Pick<Config, 'secretKeys' | 'publicUrl'>;
  queues: Queues;
  limits: SubscribeLimits;
}

/** Where a request came from: recorded with the consent and with every event. */
export interface RequestMeta {
  ip?: string;
  userAgent?: string;
  /**
   * Who acted, when not the reader: an editor's address (the desk, their API token), 'cli' or
   * 'api'. Stored in the event's `actor` column, so a subscriber's history names the editor.
   */
  actor?: string;
}

export type ConsentSource = 'form' | 'api';

export type { SubscriberContext };

export function eventMeta(meta: RequestMeta): Record<string, string> {
  const data: Record<string, string> = {};
  if (meta.ip) data.ip = meta.ip;
  if (meta.userAgent) data.user_agent = meta.userAgent.slice(0, 500);
  return data;
}

// ---------------------------------------------------------------------------------------
// Tokens

export type TokenLookup =
  | ({ state: 'valid'; issuedAt: Date | null } & SubscriberContext)
  /** Signed by us but out of date: the page may offer a fresh link for this subscription. */
  | ({ state: 'expired' } & SubscriberContext);

/**
 * The subscription a link acts for. A tampered, truncated or foreign token (or one made for
 * another purpose) is `invalid_input`; a good token whose subscription is gone is `not_found`.
 */
export async function openToken(deps: Pick<SubscriberDeps, 'db' | 'config'>, token: unknown, purpose: TokenPurpose): Promise<TokenLookup> {
  const check = verifyToken(deps.config.secretKeys, token, purpose);
  if (!check.ok && check.reason !== 'expired') throw new AppError('invalid_input', 'this link is not valid');
  const context = await findSubscriptionContext(deps.db, check.subscriptionId);
  if (!context) throw new AppError('not_found', 'this link points to a subscription that no longer exists');
  return check.ok ? { state: 'valid', issuedAt: check.issuedAt, ...context } : { state: 'expired', ...context };
}

/**
 * Locks a subscription for a change, and its subscriber before it. Every writer takes the two
 * in this order (subscriber, then subscription), as `forgetSubscriber`'s delete does through
 * its cascade: a name change racing "delete me" took them the other way round and deadlocked.
 */
export async function lockOrFail(db: Db, id: string): Promise<Subscription> {
  await db
    .selectFrom('subscribers')
    .select('id')
    .where('id', '=', (eb) => eb.selectFrom('subscriptions').select('subscriber_id').where('id', '=', id))
    .forUpdate()
    .execute();
  const found = await db.selectFrom('subscriptions').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (!found) throw new AppError('not_found', 'no such subscription');
  return found;
}

// ---------------------------------------------------------------------------------------
// Subscribe and confirm

export interface SubscribeInput {
  email: unknown;
  name?: unknown;
  cadence?: unknown;
}

/**
 * Asks for a subscription. Whatever the address's state, the caller answers the same, and
 * what happens is invisible from outside:
 * - new: a pending subscription with a consent record, and a confirmation email;
 * - unsubscribed or bounced: the subscription stays as it is, suppressed, with its consent
 *   record; the request to come back is kept beside it (`subscription_requests`) and a
 *   confirmation email goes out. Only the click in the mailbox makes it active again, with
 *   the request's details as the new consent. Until then no import can lift it either
 *   (import/rules.ts skips suppressed rows), `--confirmed` or not;
 * - complained: nothing at all, not even an email: the person told their mail provider our
 *   mail was unwanted, and a form anyone can fill in is no reason to write to them again;
 * - pending: the confirmation email again;
 * - active: nothing changes; the reader gets an email with their preferences link instead.
 * An address gets at most 3 such emails an hour; past that, nothing is sent.
 *
 * Anyone may type anyone's address, so this request proves nothing about who sent it: it may
 * create a pending subscription (name and cadence included) and trigger an email, never change
 * what is stored for an existing subscriber or a pending subscription. Those changes need the
 * preferences link, which only the mailbox receives.
 */
export async function subscribe(deps: SubscriberDeps, listSlug: string, input: SubscribeInput, meta: RequestMeta & { source: ConsentSource }): Promise<List> {
  const list = await getListBySlug(deps.db, listSlug);
  const email = parseEmail(input.email);
  const name = parseName(input.name);
  const cadence = parseCadence(input.cadence);
  const now = new Date();
  const consent = {
    consent_at: now,
    consent_ip: meta.ip ?? null,
    consent_user_agent: meta.userAgent?.slice(0, 500) ?? null,
    consent_source: meta.source,
  };
  const event = { source: meta.source, ...eventMeta(meta) };

  const next = await deps.db.transaction().execute(async (trx) => {
    // An existing subscriber keeps their name, even an empty one (see above).
    const subscriber = (await findSubscriberByEmail(trx, email)) ?? (await upsertSubscriber(trx, email, name || undefined));

    const inserted = await trx
      .insertInto('subscriptions')
      .values({ list_id: list.id, subscriber_id: subscriber.id, status: 'pending', cadence: cadence ?? 'weekly', ...consent })
      .onConflict((oc) => oc.columns(['list_id', 'subscriber_id']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted) {
      await appendEvent(trx, inserted.id, 'subscribed', { ...event, cadence: cadence ?? 'weekly' });
      return { mail: 'confirm' as const, subscriptionId: inserted.id };
    }

    const existing = await findSubscription(trx, list.id, subscriber.id);
    const sub = existing && (await lockOrFail(trx, existing.id));
    if (!sub) throw new AppError('internal', 'subscription vanished while subscribing');
    if (sub.status === 'active') return { mail: 'preferences' as const, subscriptionId: sub.id };
    if (sub.status === 'pending') return { mail: 'confirm' as const, subscriptionId: sub.id };
    if (sub.status === 'complained') return { mail: 'none' as const, subscriptionId: sub.id };
    // Unsubscribed or bounced: a request beside the subscription, which stays suppressed.
    await recordRequest(trx, sub.id, {
      cadence: cadence ?? sub.cadence,
      ip: consent.consent_ip,
      user_agent: consent.consent_user_agent,
      source: consent.consent_source,
    });
    await appendEvent(trx, sub.id, 'resubscribe_requested', { ...event, cadence: cadence ?? sub.cadence, status: sub.status });
    return { mail: 'confirm' as const, subscriptionId: sub.id };
  });

  // Taken for a complained address too, so that its answer costs the same work.
  if (await deps.limits.takeAddress(email)) {
    if (next.mail === 'confirm') await enqueueConfirmation(deps.queues, next.subscriptionId);
    else if (next.mail === 'preferences') await enqueuePreferencesLink(deps.queues, next.subscriptionId);
  }
  return list;
}

export type ConfirmOutcome =
  | 'confirmed'
  | 'already_confirmed'
  /** Unsubscribed (or bounced) since: the link no longer stands for a wish to receive mail. */
  | 'inactive'
  /** A link issued before the reader last unsubscribed: a new one is needed. */
  | 'stale';

/**
 * Activates a pending subscription (from a `confirm` token). Idempotent: an active one stays
 * as it is and no second event is written.
 */
export async function confirm(
  deps: Pick<SubscriberDeps, 'db' | 'queues'>,
  subscriptionId: string,
  tokenIssuedAt: Date | null,
  meta: RequestMeta,
): Promise<{ outcome: ConfirmOutcome; subscription: Subscription }> {
  const result = await deps.db.transaction().execute(async (trx) => {
    const sub = await lockOrFail(trx, subscriptionId);
    if (sub.status === 'active') return { outcome: 'already_confirmed' as const, subscription: sub };
    const request = sub.status === 'pending' ? undefined : await findOpenRequest(trx, sub.id);
    if (!awaitsConfirmation(sub, request)) return { outcome: 'inactive' as const, subscription: sub };
    // Re-joining after an unsubscribe needs a new opt-in: a link from before it is refused,
    // and so is one signed before the request to come back (an old link from the mailbox).
    const since = request ? request.requested_at : sub.unsubscribed_at;
    if (tokenIssuedAt && since && tokenIssuedAt.getTime() < since.getTime()) {
      return { outcome: 'stale' as const, subscription: sub };
    }
    const now = new Date();
    // A request's details become the consent record only now, when the mailbox has answered.
    const consent = request
      ? {
          cadence: request.cadence,
          paused: false,
          consent_at: request.updated_at,
          consent_ip: request.ip,
          consent_user_agent: request.user_agent,
          consent_source: request.source,
        }
      : {};
    const updated = await updateSubscription(trx, sub.id, { status: 'active', confirmed_at: now, ...consent });
    if (request) await trx.deleteFrom('subscription_requests').where('subscription_id', '=', sub.id).execute();
    await appendEvent(trx, sub.id, 'confirmed', { ...eventMeta(meta), ...(request ? { previous_status: sub.status } : {}) }, meta.actor);
    // Someone erased earlier who now confirms a subscription has given fresh consent; keeping
    // their hash would only stop a later import of the address they asked for.
    const subscriber = await trx.selectFrom('subscribers').select('email').where('id', '=', sub.subscriber_id).executeTakeFirst();
    if (subscriber) await trx.deleteFrom('forgotten_emails').where('email_hash', '=', emailHash(subscriber.email)).execute();
    return { outcome: 'confirmed' as const, subscription: updated };
  });

  if (result.outcome === 'confirmed') {
    const list = await findListById(deps.db, result.subscription.list_id);
    if (list?.welcome_email) await enqueueWelcome(deps.queues, result.subscription.id);
  }
  return result;
}

/**
 * What a confirmation link would do if followed now, without doing it (the GET page):
 * `ask` when a click would confirm, `stale` for a link signed before the last unsubscribe or
 * before the request to come back, `inactive` when nothing awaits confirmation.
 */
export async function confirmLinkState(
  db: Db,
  subscription: Subscription,
  tokenIssuedAt: Date | null,
): Promise<'already_confirmed' | 'inactive' | 'stale' | 'ask'> {
  if (subscription.status === 'active') return 'already_confirmed';
  const request = subscription.status === 'pending' ? undefined : await findOpenRequest(db, subscription.id);
  if (!awaitsConfirmation(subscription, request)) return 'inactive';
  const since = request ? request.requested_at : subscription.unsubscribed_at;
  return tokenIssuedAt && since && tokenIssuedAt.getTime() < since.getTime() ? 'stale' : 'ask';
}

/**
 * Sends a new confirmation link for a subscription still waiting for one (from an expired
 * or stale link). Says nothing back: the page is the same whatever happened.
 */
export async function resendConfirmation(deps: SubscriberDeps, subscriptionId: string): Promise<void> {
  const context = await findSubscriptionContext(deps.db, subscriptionId);
  if (!context || !awaitsConfirmation(context.subscription, await findOpenRequest(deps.db, subscriptionId))) return;
  if (await deps.limits.takeAddress(context.subscriber.email)) await enqueueConfirmation(deps.queues, subscriptionId);
}

/**
 * Emails a fresh preferences link to an address, if it has a subscription to this list.
 * Always resolves the same way: the caller's answer must not tell whether it is known.
 */
export async function requestPreferencesLink(deps: SubscriberDeps, listSlug: string, emailInput: unknown): Promise<List> {
  const list = await getListBySlug(deps.db, listSlug);
  const email = parseEmail(emailInput);
  // Taken for every address, known or not, so that both paths do the same work up to here.
  const allowed = await deps.limits.takeAddress(email);
  const subscriber = await findSubscriberByEmail(deps.db, email);
  const sub = subscriber && (await findSubscription(deps.db, list.id, subscriber.id));
  if (allowed && sub && (sub.status === 'active' || sub.status === 'pending' || sub.status === 'unsubscribed')) {
    await enqueuePreferencesLink(deps.queues, sub.id);
  }
  return list;
}
