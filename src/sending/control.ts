import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { DeliveryStatus, IssueRow, List, Send } from '../db/schema';
import { AppError } from '../errors';
import { issueState } from '../issues/repository';
import type { Queues } from '../queues';

/**
 * A send's life: scheduled → planning → sending ⇄ paused → done, or cancelled. Every move is
 * one guarded UPDATE (`WHERE status = …`), so two editors, two schedulers or two workers
 * racing for the same move cannot both make it.
 */

export interface ControlDeps {
  db: Db;
  queues: Queues;
}

/**
 * The send of an issue, created once: `sends.issue_id` is unique, so a second `send` (or a
 * schedule racing a send) is told what the first one did instead of sending twice.
 */
export async function createSend(db: Db, options: { issue: IssueRow; list: List; scheduledAt: Date; batchSize: number }): Promise<Send> {
  const { issue, list } = options;
  if (!list.contact.trim()) {
    throw new AppError(
      'invalid_input',
      `list "${list.slug}" has no contact line, and bulk mail must say who sends it and where: set it with \`broadsheet lists update ${list.slug} --contact "Name · street · city"\``,
    );
  }
  try {
    return await db
      .insertInto('sends')
      .values({
        issue_id: issue.id,
        list_id: list.id,
        cadence: issue.kind === 'digest' ? 'monthly' : 'weekly',
        status: 'scheduled',
        scheduled_at: options.scheduledAt,
        batch_size: options.batchSize,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
    const existing = await findSendOfIssue(db, issue.id);
    throw new AppError('conflict', `issue "${issue.slug}" is already ${issueState(existing?.status)}${existing?.status === 'scheduled' ? ` for ${existing.scheduled_at?.toISOString()}` : ''}`);
  }
}

export function findSendOfIssue(db: Db, issueId: string): Promise<Send | undefined> {
  return db.selectFrom('sends').selectAll().where('issue_id', '=', issueId).executeTakeFirst();
}

export async function getSendOfIssue(db: Db, issue: IssueRow): Promise<Send> {
  const send = await findSendOfIssue(db, issue.id);
  if (!send) throw new AppError('not_found', `issue "${issue.slug}" has not been sent or scheduled`);
  return send;
}

/**
 * Starts a scheduled send: moves it to planning and queues its planning job. Only one caller
 * wins the move, however many schedulers or editors call it at once. Returns whether this
 * caller started it.
 */
export async function startSend(deps: ControlDeps, sendId: string, options: { now?: Date } = {}): Promise<boolean> {
  const started = await deps.db
    .updateTable('sends')
    .set({ status: 'planning', started_at: options.now ?? new Date(), updated_at: new Date() })
    .where('id', '=', sendId)
    .where('status', '=', 'scheduled')
    .returning('id')
    .executeTakeFirst();
  if (!started) return false;
  // If Redis is down this throws after the row moved: the repair queues the planning job of
  // every send in 'planning' from the rows, so the send still goes out once Redis is back.
  await deps.queues.add('plan-send', { sendId });
  return true;
}

/** `issues send`: create the send for now and start it. */
export async function sendNow(deps: ControlDeps, issue: IssueRow, list: List, batchSize: number): Promise<Send> {
  const existing = await findSendOfIssue(deps.db, issue.id);
  const send =
    existing?.status === 'scheduled'
      ? existing // sending a scheduled issue now: the schedule is kept as the record, then started
      : await createSend(deps.db, { issue, list, scheduledAt: new Date(), batchSize });
  await startSend(deps, send.id);
  return (await findSendOfIssue(deps.db, issue.id))!;
}

async function move(db: Db, send: Send, from: Send['status'][], set: Partial<Pick<Send, 'status' | 'pause_reason' | 'finished_at'>>, verb: string): Promise<Send> {
  const moved = await db
    .updateTable('sends')
    .set({ ...set, updated_at: new Date() })
    .where('id', '=', send.id)
    .where('status', 'in', from)
    .returningAll()
    .executeTakeFirst();
  if (!moved) {
    const now = await db.selectFrom('sends').select('status').where('id', '=', send.id).executeTakeFirst();
    throw new AppError('conflict', `cannot ${verb}: the send is ${issueState(now?.status)}`);
  }
  return moved;
}

/** Batch jobs see the status within a second and stop handing out messages. */
export function pauseSend(db: Db, send: Send, reason = 'paused by the editor'): Promise<Send> {
  return move(db, send, ['planning', 'sending'], { status: 'paused', pause_reason: reason }, 'pause');
}

/**
 * Resumes a paused send: planning continues where it stopped, or the unfinished deliveries are
 * queued again. Delivered rows are never pending again, so nothing is sent twice.
 */
export async function resumeSend(deps: ControlDeps, send: Send): Promise<Send> {
  const resumed = await move(deps.db, send, ['paused'], { status: send.planned_at ? 'sending' : 'planning', pause_reason: null }, 'resume');
  await deps.db.updateTable('sends').set({ failure_streak: 0 }).where('id', '=', send.id).execute();
  if (resumed.status === 'planning') await deps.queues.add('plan-send', { sendId: send.id });
  else await deps.queues.addBulk('send-batch', await unsentBatches(deps.db, resumed));
  // Everything may have gone out while it was paused (the messages already handed to SMTP
  // finish): then no batch job is left to notice that the send is over.
  if (resumed.status === 'sending' && (await finishSendIfDone(deps.db, send.id))) return (await findSendOfIssue(deps.db, send.issue_id))!;
  return resumed;
}

/**
 * Cancels a send: what has gone has gone, the rest is never sent. A planned send with nothing
 * left to send has reached everyone: it is done, not cancelled, and stays in the archive.
 */
export async function cancelSend(db: Db, send: Send): Promise<Send> {
  if (await finishSendIfDone(db, send.id)) return (await findSendOfIssue(db, send.issue_id))!;
  return db.transaction().execute(async (trx) => {
    const cancelled = await move(trx, send, ['scheduled', 'planning', 'sending', 'paused'], { status: 'cancelled', finished_at: new Date() }, 'cancel');
    await trx.updateTable('deliveries').set({ status: 'cancelled', finished_at: new Date() }).where('send_id', '=', send.id).where('status', '=', 'pending').execute();
    return cancelled;
  });
}

/**
 * The batches of a send with deliveries that are pending and not held by a live job: what
 * planning queues, and what the repair queues again after a crash or a flushed Redis.
 */
export async function unsentBatches(db: Db, send: Pick<Send, 'id' | 'batch_size'>): Promise<{ sendId: string; batch: number }[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select(sql<number>`id / ${send.batch_size}`.as('batch'))
    .distinct()
    .where('send_id', '=', send.id)
    .where('status', '=', 'pending')
    .where((eb) => eb.or([eb('leased_until', 'is', null), eb('leased_until', '<', sql<Date>`now()`)]))
    .execute();
  return rows.map((r) => ({ sendId: send.id, batch: Number(r.batch) }));
}

/**
 * Marks a send done once no delivery is pending, whether it is sending or paused (a pause
 * that came while the last messages were in flight). Guarded, so it happens once.
 */
export async function finishSendIfDone(db: Db, sendId: string): Promise<boolean> {
  const done = await db
    .updateTable('sends')
    .set({ status: 'done', finished_at: new Date(), updated_at: new Date() })
    .where('id', '=', sendId)
    .where('status', 'in', ['sending', 'paused'])
    .where('planned_at', 'is not', null)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('deliveries').select('id').where('send_id', '=', sendId).where('status', '=', 'pending'))),
    )
    .returning('id')
    .executeTakeFirst();
  return !!done;
}

export interface SendProgress {
  send: Send;
  counts: Record<DeliveryStatus, number>;
  total: number;
  /** Messages a second over the last minute. */
  rate: number;
  /** Seconds until the pending ones are sent at that rate; null when nothing moves. */
  etaSeconds: number | null;
}

export async function sendProgress(db: Db, send: Send): Promise<SendProgress> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('send_id', '=', send.id)
    .groupBy('status')
    .execute();
  const counts: Record<DeliveryStatus, number> = { pending: 0, sent: 0, failed: 0, bounced: 0, suppressed: 0, cancelled: 0 };
  for (const r of rows) counts[r.status] = Number(r.n);
  const recent = await db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('send_id', '=', send.id)
    .where('status', '=', 'sent')
    .where('finished_at', '>', sql<Date>`now() - interval '60 seconds'`)
    .executeTakeFirstOrThrow();
  const window = send.started_at ? Math.min(60, Math.max(1, (Date.now() - send.started_at.getTime()) / 1000)) : 60;
  const rate = Number(recent.n) / window;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { send, counts, total, rate, etaSeconds: rate > 0 ? Math.ceil(counts.pending / rate) : null };
}
