import type { Db } from '../db/database';
import type { Queues } from '../queues';
import { appendEvent, duePendingSubscriptions } from './repository';
import { enqueueConfirmation } from './system-mail';

const MINUTE = 60_000;
/** Longer than a confirmation job's own retries (8 attempts, exponential from 2 s: ~8.5 min). */
const GRACE = 15 * MINUTE;
/** Confirmation links last 7 days; past that a reader has to ask again. */
const CONFIRM_TTL = 7 * 24 * 60 * MINUTE;
/** At most one repair email an hour per subscription, and none within an hour of a real one. */
const QUIET = 60 * MINUTE;

/**
 * The database is the truth, the queue only the work list: a pending subscription whose
 * confirmation email never went out (Redis lost the job, the process died between the commit
 * and the enqueue, or the job ran out of retries while the SMTP server was down) gets its job
 * again. Rows are locked with SKIP LOCKED, so several workers running this at once share the
 * work instead of doubling it. Returns how many jobs it queued.
 *
 * A confirmation still waiting in a long queue (a large import) is not queued twice: its job
 * id is deterministic (src/queues.ts), so adding it again while it waits does nothing.
 */
export async function requeueLostConfirmations(db: Db, queues: Queues, now = new Date(), limit = 500): Promise<number> {
  const since = (ms: number) => new Date(now.getTime() - ms);
  return db.transaction().execute(async (trx) => {
    const lost = await duePendingSubscriptions(trx, {
      consentBefore: { at: since(GRACE), inclusive: false },
      consentAfter: since(CONFIRM_TTL),
      // Sent for this consent already.
      sent: 'confirmation_sent',
      // Sent or repaired lately: the per-address limit may be what held it back.
      tried: { types: ['confirmation_sent', 'confirmation_requeued'], after: since(QUIET), sinceConsent: false },
      limit,
    });
    for (const { id } of lost) {
      // Queued first: if Redis is down this throws and the event is not written, so the next
      // run tries again.
      await enqueueConfirmation(queues, id);
      await appendEvent(trx, id, 'confirmation_requeued', { at: now.toISOString() });
    }
    return lost.length;
  });
}
