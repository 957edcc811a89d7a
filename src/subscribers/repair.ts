import type { Db } from '../db/database';
import type { Queues } from '../queues';
import { appendEvent } from './repository';
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
    const lost = await trx
      .selectFrom('subscriptions as s')
      .select('s.id')
      .where('s.status', '=', 'pending')
      .where('s.consent_at', '<', since(GRACE))
      .where('s.consent_at', '>', since(CONFIRM_TTL))
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('subscription_events as e')
              .select('e.id')
              .whereRef('e.subscription_id', '=', 's.id')
              .where((eb) =>
                eb.or([
                  // Sent for this consent already.
                  eb.and([eb('e.type', '=', 'confirmation_sent'), eb('e.created_at', '>=', eb.ref('s.consent_at'))]),
                  // Sent or repaired lately: the per-address limit may be what held it back.
                  eb.and([eb('e.type', 'in', ['confirmation_sent', 'confirmation_requeued']), eb('e.created_at', '>', since(QUIET))]),
                ]),
              ),
          ),
        ),
      )
      .orderBy('s.consent_at')
      .limit(limit)
      .forUpdate('s')
      .skipLocked()
      .execute();
    for (const { id } of lost) {
      // Queued first: if Redis is down this throws and the event is not written, so the next
      // run tries again.
      await enqueueConfirmation(queues, id);
      await appendEvent(trx, id, 'confirmation_requeued', { at: now.toISOString() });
    }
    return lost.length;
  });
}
