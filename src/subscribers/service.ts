import type { Config } from '../config';
import type { Db } from '../db/database';
import type { Cadence, List, Subscription } from '../db/schema';
import { AppError } from '../errors';
import { findListById, getListBySlug } from '../lists/repository';
import type { Queues } from '../queues';
import type { SubscribeLimits } from './rate-limits';
import {
  appendEvent,
  emailHash,
  findSubscriberByEmail,
  findSubscription,
  findSubscriptionContext,
  type SubscriberContext,
  findSubscriptionById,
  updateSubscription,
  upsertSubscriber,
} from './repository';
import { isValidAddress, NAME_MAX } from './address';
import { forgetSubscriber } from './forget';
import { enqueueConfirmation, enqueuePreferencesLink, enqueueWelcome } from './system-mail';
import { verifyToken, type TokenPurpose } from './tokens';

/**
 * What a reader can do: subscribe, confirm, change preferences, pause, leave, take their
 * data, be deleted. Each function owns its transaction; state changes lock the subscription
 * row first, so a double click or a replayed link changes things (and logs an event) once.
 * Emails are enqueued after the commit, so the worker never reads a row before it exists.
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
}

export type ConsentSource = 'form' | 'api';

export type { SubscriberContext };

// ---------------------------------------------------------------------------------------
// Input

export type InputField = 'email' | 'name' | 'cadence';

function invalid(field: InputField, message: string): AppError {
  return new AppError('invalid_input', message, { field });
}

export function parseEmail(value: unknown): string {
  const email = typeof value === 'string' ? value.trim() : '';
  if (!isValidAddress(email)) {
    throw invalid('email', 'email: enter a valid email address, like name@example.com');
  }
  return email;
}

export function parseName(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid('name', 'name: must be text');
  // Control characters would end up in mail headers (the To display name).
  const name = value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  if (name.length > NAME_MAX) throw invalid('name', `name: at most ${NAME_MAX} characters`);
  return name;
}

export function parseCadence(value: unknown): Cadence | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === 'weekly' || value === 'monthly') return value;
  throw invalid('cadence', 'cadence: must be "weekly" or "monthly"');
}

function eventMeta(meta: RequestMeta): Record<string, string> {
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

function lockSubscription(db: Db, id: string): Promise<Subscription | undefined> {
  return db.selectFrom('subscriptions').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

async function lockOrFail(db: Db, id: string): Promise<Subscription> {
  const found = await lockSubscription(db, id);
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
 * - new, or unsubscribed/bounced before: a pending subscription with a new consent record,
 *   and a confirmation email (re-joining always needs a new double opt-in);
 * - pending: the confirmation email again;
 * - active: nothing changes; the reader gets an email with their preferences link instead.
 * An address gets at most 3 such emails an hour; past that, nothing is sent.
 */
export async function subscribe(
  deps: SubscriberDeps,
  listSlug: string,
  input: SubscribeInput,
  meta: RequestMeta & { source: ConsentSource },
): Promise<List> {
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
    let subscriber = await findSubscriberByEmail(trx, email);
    if (!subscriber) {
      subscriber = await upsertSubscriber(trx, email, name || undefined);
    } else if (!subscriber.name && name) {
      // Only a missing name is filled in: anyone may type anyone's address into the form.
      await trx.updateTable('subscribers').set({ name }).where('id', '=', subscriber.id).execute();
    }

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
    if (sub.status === 'pending') {
      if (cadence && cadence !== sub.cadence) await updateSubscription(trx, sub.id, { cadence });
      return { mail: 'confirm' as const, subscriptionId: sub.id };
    }
    // Unsubscribed, bounced or complained: asking again is a new consent, confirmed anew.
    await updateSubscription(trx, sub.id, {
      status: 'pending',
      cadence: cadence ?? sub.cadence,
      paused: false,
      confirmed_at: null,
      ...consent,
    });
    await appendEvent(trx, sub.id, 'subscribed', { ...event, cadence: cadence ?? sub.cadence, previous_status: sub.status });
    return { mail: 'confirm' as const, subscriptionId: sub.id };
  });

  if (await deps.limits.takeAddress(email)) {
    if (next.mail === 'confirm') await enqueueConfirmation(deps.queues, next.subscriptionId);
    else await enqueuePreferencesLink(deps.queues, next.subscriptionId);
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
    if (sub.status !== 'pending') return { outcome: 'inactive' as const, subscription: sub };
    // Re-joining after an unsubscribe needs a new opt-in: a link from before it is refused.
    if (tokenIssuedAt && sub.unsubscribed_at && tokenIssuedAt.getTime() < sub.unsubscribed_at.getTime()) {
      return { outcome: 'stale' as const, subscription: sub };
    }
    const updated = await updateSubscription(trx, sub.id, { status: 'active', confirmed_at: new Date() });
    await appendEvent(trx, sub.id, 'confirmed', eventMeta(meta));
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
 * Sends a new confirmation link for a subscription still waiting for one (from an expired
 * or stale link). Says nothing back: the page is the same whatever happened.
 */
export async function resendConfirmation(deps: SubscriberDeps, subscriptionId: string): Promise<void> {
  const context = await findSubscriptionContext(deps.db, subscriptionId);
  if (!context || context.subscription.status !== 'pending') return;
  if (await deps.limits.takeAddress(context.subscriber.email)) await enqueueConfirmation(deps.queues, subscriptionId);
}

// ---------------------------------------------------------------------------------------
// Preferences

export interface PreferenceChanges {
  name?: string;
  cadence?: Cadence;
  /** Section ids of the list the reader does not want; unknown ids are dropped. */
  excludedSections?: readonly string[];
}

/** Applies what changed and records one `preferences_changed` event listing it (or none if nothing did). */
export async function changePreferences(
  deps: Pick<SubscriberDeps, 'db'>,
  subscriptionId: string,
  changes: PreferenceChanges,
  meta: RequestMeta,
): Promise<Subscription> {
  const name = parseName(changes.name);
  const cadence = parseCadence(changes.cadence);
  return deps.db.transaction().execute(async (trx) => {
    const sub = await lockOrFail(trx, subscriptionId);
    const list = await findListById(trx, sub.list_id);
    const changed: Record<string, unknown> = {};
    const update: Parameters<typeof updateSubscription>[2] = {};

    if (cadence && cadence !== sub.cadence) {
      update.cadence = cadence;
      changed.cadence = { from: sub.cadence, to: cadence };
    }
    if (changes.excludedSections) {
      const known = new Set((list?.sections ?? []).map((s) => s.id));
      const excluded = [...new Set(changes.excludedSections.filter((id) => known.has(id)))].sort();
      const before = [...sub.excluded_sections].sort();
      if (excluded.join('\u0000') !== before.join('\u0000')) {
        update.excluded_sections = excluded;
        changed.excluded_sections = { from: before, to: excluded };
      }
    }
    if (name !== undefined) {
      const subscriber = await trx.selectFrom('subscribers').select('name').where('id', '=', sub.subscriber_id).executeTakeFirst();
      if (subscriber && subscriber.name !== name) {
        await trx.updateTable('subscribers').set({ name }).where('id', '=', sub.subscriber_id).execute();
        // The log says that the name changed, not what to: it is evidence, not a copy of the profile.
        changed.name = true;
      }
    }
    if (Object.keys(changed).length === 0) return sub;
    const updated = Object.keys(update).length > 0 ? await updateSubscription(trx, sub.id, update) : sub;
    await appendEvent(trx, sub.id, 'preferences_changed', { changed, ...eventMeta(meta) });
    return updated;
  });
}

async function setPaused(deps: Pick<SubscriberDeps, 'db'>, subscriptionId: string, paused: boolean, meta: RequestMeta): Promise<Subscription> {
  return deps.db.transaction().execute(async (trx) => {
    const sub = await lockOrFail(trx, subscriptionId);
    if (sub.paused === paused || (sub.status !== 'active' && sub.status !== 'pending')) return sub;
    const updated = await updateSubscription(trx, sub.id, { paused });
    await appendEvent(trx, sub.id, paused ? 'paused' : 'resumed', eventMeta(meta));
    return updated;
  });
}

/** Stops delivery without unsubscribing; idempotent. */
export function pause(deps: Pick<SubscriberDeps, 'db'>, subscriptionId: string, meta: RequestMeta): Promise<Subscription> {
  return setPaused(deps, subscriptionId, true, meta);
}

export function resume(deps: Pick<SubscriberDeps, 'db'>, subscriptionId: string, meta: RequestMeta): Promise<Subscription> {
  return setPaused(deps, subscriptionId, false, meta);
}

// ---------------------------------------------------------------------------------------
// Leaving

/**
 * Unsubscribes at once: the sender checks the status of every message before handing it to
 * SMTP, so nothing more goes out. Idempotent; `changed` is false when there was nothing to do.
 */
export async function unsubscribe(
  deps: Pick<SubscriberDeps, 'db'>,
  subscriptionId: string,
  meta: RequestMeta & { method: 'one-click' | 'page' | 'api' },
): Promise<{ changed: boolean; subscription: Subscription }> {
  return deps.db.transaction().execute(async (trx) => {
    const sub = await lockOrFail(trx, subscriptionId);
    if (sub.status !== 'active' && sub.status !== 'pending') return { changed: false, subscription: sub };
    const updated = await updateSubscription(trx, sub.id, { status: 'unsubscribed', unsubscribed_at: new Date() });
    await appendEvent(trx, sub.id, 'unsubscribed', { method: meta.method, previous_status: sub.status, ...eventMeta(meta) });
    return { changed: true, subscription: updated };
  });
}

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
  await appendEvent(deps.db, sub.id, 'exported', { by: 'reader', ...eventMeta(meta) });

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
 * Erases the person behind this subscription: the subscriber row and, through the foreign
 * keys, all their subscriptions and events. Only a hash of the address is kept, so that an
 * import cannot bring them back: `broadsheet subscribers forget`, by the reader's own hand.
 */
export async function deleteMe(deps: Pick<SubscriberDeps, 'db'>, subscriptionId: string): Promise<void> {
  const context = await findSubscriptionContext(deps.db, subscriptionId);
  if (context) await forgetSubscriber(deps.db, context.subscriber.email);
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
