import type { Db } from '../db/database';
import { appendEvent } from './repository';

export type BounceKind = 'bounced' | 'complained';

/**
 * The one way a subscription stops getting mail because of what the mail system said: a hard
 * bounce (5xx) or a complaint. Status-guarded, so a bounce reported twice (by the SMTP answer
 * and later by a webhook) is recorded once, and an unsubscribed reader stays unsubscribed.
 * Returns whether the status changed. Used by system mail, newsletters and the webhook.
 */
export async function markBounced(db: Db, subscriptionId: string, kind: BounceKind, detail: Record<string, unknown>): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const changed = await trx
      .updateTable('subscriptions')
      .set({ status: kind, updated_at: new Date() })
      .where('id', '=', subscriptionId)
      // A complaint also ends a subscription that had only bounced; a bounce never hides a complaint.
      .where('status', 'in', kind === 'complained' ? ['pending', 'active', 'bounced'] : ['pending', 'active'])
      .returning('id')
      .executeTakeFirst();
    if (changed) await appendEvent(trx, subscriptionId, kind, detail);
    // An open request to come back ends too: its confirmation email bounced (the address does
    // not take mail) or the person complained, and either way no link of it may lift anything.
    await trx.deleteFrom('subscription_requests').where('subscription_id', '=', subscriptionId).execute();
    return !!changed;
  });
}
