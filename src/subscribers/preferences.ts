import type { Cadence, Subscription } from '../db/schema';
import { AppError } from '../errors';
import { findListById } from '../lists/repository';
import { parseCadence, parseName } from './input';
import { appendEvent, updateSubscription } from './repository';
import { eventMeta, lockOrFail, type RequestMeta, type SubscriberDeps } from './service';

/**
 * What the preferences and unsubscribe links do: change cadence, sections and name, pause,
 * leave. Each change locks the rows (`lockOrFail`) and logs one event, or none when nothing
 * changed.
 */

export interface PreferenceChanges {
  name?: string;
  cadence?: Cadence;
  /** Section ids of the list the reader does not want; unknown ids are dropped; undefined keeps them. */
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
      // Every section left out is an empty email: that is unsubscribing, and the reader is
      // offered that instead (the preferences page explains it). Nothing of the change is saved.
      if (known.size > 0 && excluded.length === known.size) {
        throw new AppError('invalid_input', 'sections: leaving out every section is unsubscribing; keep one, or unsubscribe', { field: 'sections' });
      }
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
    await appendEvent(trx, sub.id, 'preferences_changed', { changed, ...eventMeta(meta) }, meta.actor);
    return updated;
  });
}

async function setPaused(deps: Pick<SubscriberDeps, 'db'>, subscriptionId: string, paused: boolean, meta: RequestMeta): Promise<Subscription> {
  return deps.db.transaction().execute(async (trx) => {
    const sub = await lockOrFail(trx, subscriptionId);
    if (sub.paused === paused || (sub.status !== 'active' && sub.status !== 'pending')) return sub;
    const updated = await updateSubscription(trx, sub.id, { paused });
    await appendEvent(trx, sub.id, paused ? 'paused' : 'resumed', eventMeta(meta), meta.actor);
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

/**
 * Unsubscribes at once: the sender checks the status of every message before handing it to
 * SMTP, so nothing more goes out. Idempotent; `changed` is false when there was nothing to do.
 */
export async function unsubscribe(
  deps: Pick<SubscriberDeps, 'db'>,
  subscriptionId: string,
  /** `at`: when the reader asked, for a request kept while the database was down (kept-unsubscribes.ts). */
  meta: RequestMeta & { method: 'one-click' | 'page' | 'api' | 'desk' | 'mailto'; at?: Date },
): Promise<{ changed: boolean; subscription: Subscription }> {
  return deps.db.transaction().execute(async (trx) => {
    const sub = await lockOrFail(trx, subscriptionId);
    if (sub.status !== 'active' && sub.status !== 'pending') return { changed: false, subscription: sub };
    // A kept request older than a confirmation made since is not what the reader wants now.
    if (meta.at && sub.confirmed_at && sub.confirmed_at > meta.at) return { changed: false, subscription: sub };
    const updated = await updateSubscription(trx, sub.id, { status: 'unsubscribed', unsubscribed_at: meta.at ?? new Date() });
    const kept = meta.at ? { kept_at: meta.at.toISOString() } : {};
    await appendEvent(trx, sub.id, 'unsubscribed', { method: meta.method, previous_status: sub.status, ...kept, ...eventMeta(meta) }, meta.actor);
    return { changed: true, subscription: updated };
  });
}
