import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Queues } from '../queues';
import { finishSendIfDone, unsentBatches } from './control';

/** Subscriptions written per transaction: big enough to be set-based, small enough to resume. */
const PLAN_CHUNK = 20_000;

export interface PlanDeps {
  db: Db;
  queues: Queues;
}

/**
 * Writes one delivery row per recipient of a send, then queues its batch jobs. Set-based
 * (`INSERT … SELECT`, keyset paging over the subscriptions in id order, in chunks), so a
 * million recipients never sit in memory. Each chunk commits with the point it reached, so
 * planning interrupted by a crash resumes there; `ON CONFLICT DO NOTHING` makes a chunk that
 * is planned twice harmless.
 *
 * Recipients: active, not paused, of the cadence the issue is for. Preferences that change
 * after planning are checked again by the batch job, just before sending.
 */
export async function planSend(deps: PlanDeps, sendId: string): Promise<'planned' | 'not planning'> {
  const { db } = deps;
  for (;;) {
    const send = await db.selectFrom('sends').selectAll().where('id', '=', sendId).executeTakeFirst();
    if (!send || send.status !== 'planning') return 'not planning';
    const after = send.planned_through;
    const chunk = await db.transaction().execute(async (trx) => {
      const result = await sql<{ picked: number; last: string | null }>`
        WITH picked AS (
          SELECT id FROM subscriptions
          WHERE list_id = ${send.list_id} AND cadence = ${send.cadence} AND status = 'active' AND NOT paused
            ${after ? sql`AND id > ${after}` : sql``}
          ORDER BY id
          LIMIT ${PLAN_CHUNK}
        ), inserted AS (
          INSERT INTO deliveries (send_id, subscription_id)
          SELECT ${send.id}, id FROM picked ORDER BY id
          ON CONFLICT (send_id, subscription_id) DO NOTHING
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM inserted)::int AS inserted,
               (SELECT count(*) FROM picked)::int AS picked,
               (SELECT id FROM picked ORDER BY id DESC LIMIT 1) AS last
      `.execute(trx);
      const row = result.rows[0] as { inserted: number; picked: number; last: string | null };
      if (row.last) {
        await trx
          .updateTable('sends')
          .set((eb) => ({ planned: eb('planned', '+', row.inserted), planned_through: row.last, updated_at: new Date() }))
          .where('id', '=', send.id)
          .execute();
      }
      return row;
    });
    if (chunk.picked < PLAN_CHUNK) break;
  }

  const planned = await db
    .updateTable('sends')
    .set({ status: 'sending', planned_at: new Date(), updated_at: new Date() })
    .where('id', '=', sendId)
    .where('status', '=', 'planning')
    .returningAll()
    .executeTakeFirst();
  if (!planned) return 'not planning'; // paused or cancelled meanwhile
  // A list with nobody to send to is done at once.
  if (await finishSendIfDone(db, sendId)) return 'planned';
  await deps.queues.addBulk('send-batch', await unsentBatches(db, planned));
  return 'planned';
}
