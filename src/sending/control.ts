import type { Db } from '../db/database';
import type { DeliveryStatus, IssueRow, List, Send } from '../db/schema';
import { AppError } from '../errors';
import { issueState } from '../issues/repository';
import type { Queues } from '../queues';
import { circuitView, type CircuitView } from './circuit';
import { cancelPendingDeliveries, closeCircuit, deliveryCounts, findSendOfIssue, finishSendIfDone, insertSend, moveSend, unsentBatches } from './repository';

export { finishSendIfDone, findSendOfIssue, unsentBatches } from './repository';

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
    return await insertSend(db, {
      issue_id: issue.id,
      list_id: list.id,
      cadence: issue.kind === 'digest' ? 'monthly' : 'weekly',
      scheduled_at: options.scheduledAt,
      batch_size: options.batchSize,
    });
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
    const existing = await findSendOfIssue(db, issue.id);
    throw new AppError(
      'conflict',
      `issue "${issue.slug}" is already ${issueState(existing?.status)}${existing?.status === 'scheduled' ? ` for ${existing.scheduled_at?.toISOString()}` : ''}`,
    );
  }
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
  const started = await moveSend(deps.db, sendId, ['scheduled'], { status: 'planning', started_at: options.now ?? new Date() });
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

async function move(
  db: Db,
  send: Send,
  from: Send['status'][],
  set: Partial<Pick<Send, 'status' | 'pause_reason' | 'finished_at'>>,
  verb: string,
): Promise<Send> {
  const moved = await moveSend(db, send.id, from, set);
  if (!moved) {
    const now = await findSendOfIssue(db, send.issue_id);
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
  // A person resumed it: the circuit starts closed, the first message is the probe.
  await closeCircuit(deps.db, send.id);
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
    await cancelPendingDeliveries(trx, send.id);
    return cancelled;
  });
}

export interface SendProgress {
  send: Send;
  /** Whether SMTP trouble holds the send back, and until when (the editor's "why is it slow"). */
  circuit: CircuitView;
  counts: Record<DeliveryStatus, number>;
  total: number;
  /** Messages a second over the last minute. */
  rate: number;
  /** Seconds until the pending ones are sent at that rate; null when nothing moves. */
  etaSeconds: number | null;
}

/**
 * A send's progress and circuit, for `issues status`, the admin API and the desk's send page.
 * `timezone`: the list's, in which the circuit's times are told ("since 10:02").
 */
export async function sendProgress(db: Db, send: Send, timezone = 'UTC'): Promise<SendProgress> {
  const { counts, sentLastMinute: recent } = await deliveryCounts(db, send.id);
  const window = send.started_at ? Math.min(60, Math.max(1, (Date.now() - send.started_at.getTime()) / 1000)) : 60;
  const rate = recent / window;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { send, circuit: circuitView(send, timezone), counts, total, rate, etaSeconds: rate > 0 ? Math.ceil(counts.pending / rate) : null };
}
