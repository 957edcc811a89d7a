import type { Db } from '../db/database';
import type { IssueRow, List, Send } from '../db/schema';
import { AppError } from '../errors';
import { getIssue } from '../issues/repository';
import { getListBySlug } from '../lists/repository';
import { parseWeeklySlot } from '../lists/slots';
import { createSend } from '../sending/control';
import { appendSendEvent } from '../sending/events';
import { deleteScheduledSend, findSendOfIssue, futureWeeklySlots, moveSend } from '../sending/repository';
import { nextWeeklySlot, parseScheduleTime } from './next-slot';

/**
 * Scheduling an issue is writing `sends.scheduled_at` on a send in status 'scheduled'; the
 * scheduler tick (tick.ts) starts it when the time comes. Everything here is guarded by that
 * status in the UPDATE itself, so an editor rescheduling at the very moment the tick starts the
 * send gets a clear "it has started" instead of a schedule that silently does nothing.
 */

export type ScheduleWhen = { at: string } | { next: true };

export interface ScheduleResult {
  send: Send;
  /** Whether an existing schedule was moved rather than a new one made. */
  rescheduled: boolean;
}

/** An explicit time this far in the past is a mistake, not "now": `issues send` is for now. */
const PAST_TOLERANCE_MS = 60_000;

function started(issue: IssueRow, send: Send): AppError {
  return new AppError(
    'conflict',
    `issue ${issue.slug} is ${send.status === 'done' ? 'sent' : send.status} already; only a scheduled send can be moved or unscheduled`,
  );
}

/**
 * The first weekly slot after `now` that no other send of the list holds: `--next` fills the
 * week after the last scheduled issue instead of stacking two issues on one Monday.
 */
export async function nextFreeWeeklySlot(db: Db, list: List, now: Date, exceptSendId?: string): Promise<Date> {
  if (!list.weekly_slot) {
    throw new AppError(
      'invalid_input',
      `list ${list.slug} has no weekly slot: give one with \`broadsheet lists create … --weekly "mon 09:00"\`, or schedule with --at`,
    );
  }
  const parsed = parseWeeklySlot(list.weekly_slot);
  if (!parsed.ok) throw new AppError('internal', `list ${list.slug} has an unreadable weekly slot: ${parsed.message}`);
  const taken = new Set((await futureWeeklySlots(db, list.id, now, exceptSendId)).map((d) => d.getTime()));
  let slot = nextWeeklySlot(parsed.slot, list.timezone, now);
  // Bounded: a list cannot have more future sends than rows, and each loop step passes one.
  for (let i = 0; taken.has(slot.getTime()) && i <= taken.size; i++) slot = nextWeeklySlot(parsed.slot, list.timezone, slot);
  return slot;
}

async function resolveWhen(db: Db, list: List, when: ScheduleWhen, now: Date, exceptSendId?: string): Promise<Date> {
  if ('next' in when) return nextFreeWeeklySlot(db, list, now, exceptSendId);
  const at = parseScheduleTime(when.at, list.timezone);
  if (at.getTime() < now.getTime() - PAST_TOLERANCE_MS) {
    throw new AppError('invalid_input', `${at.toISOString()} is in the past: to send now, use \`broadsheet issues send\``);
  }
  return at;
}

/** Schedules an issue, or moves its schedule while the send has not started. */
export async function scheduleIssue(
  db: Db,
  input: { list: string; issue: string; when: ScheduleWhen; now: Date; batchSize: number; actor?: string | null },
): Promise<ScheduleResult> {
  const list = await getListBySlug(db, input.list);
  const issue = await getIssue(db, list, input.issue);
  const existing = await findSendOfIssue(db, issue.id);
  if (existing && existing.status !== 'scheduled') throw started(issue, existing);
  const at = await resolveWhen(db, list, input.when, input.now, existing?.id);
  if (existing) {
    const moved = await moveSend(db, existing.id, ['scheduled'], { scheduled_at: at });
    if (!moved) throw started(issue, (await findSendOfIssue(db, issue.id)) ?? existing);
    await appendSendEvent(db, { issueId: issue.id, sendId: moved.id, type: 'rescheduled', actor: input.actor, data: { at: at.toISOString() } });
    return { send: moved, rescheduled: true };
  }
  const send = await createSend(db, { issue, list, scheduledAt: at, batchSize: input.batchSize });
  await appendSendEvent(db, { issueId: issue.id, sendId: send.id, type: 'scheduled', actor: input.actor, data: { at: at.toISOString() } });
  return { send, rescheduled: false };
}

/**
 * Takes an issue off the schedule: the send row goes, so the issue is a draft again and can be
 * re-imported, scheduled or sent. Refused once the send has started.
 */
export async function unscheduleIssue(db: Db, input: { list: string; issue: string; actor?: string | null }): Promise<void> {
  const list = await getListBySlug(db, input.list);
  const issue = await getIssue(db, list, input.issue);
  if (await deleteScheduledSend(db, issue.id)) {
    await appendSendEvent(db, { issueId: issue.id, type: 'unscheduled', actor: input.actor });
    return;
  }
  const send = await findSendOfIssue(db, issue.id);
  if (!send) throw new AppError('not_found', `issue ${issue.slug} is not scheduled`);
  throw started(issue, send);
}
