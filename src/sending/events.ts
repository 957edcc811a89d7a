import type { Db } from '../db/database';
import type { SendEvent } from '../db/schema';

/**
 * A send's log: what was done to an issue's send and by whom (scheduled, moved, unscheduled,
 * started, paused, resumed, cancelled). Kept per issue, since unscheduling deletes the send
 * row. `actor` is an editor's address, 'cli' or 'api'; null when Broadsheet did it itself
 * (the scheduler starting a send, a send pausing through SMTP trouble).
 */
export type SendEventType = 'scheduled' | 'rescheduled' | 'unscheduled' | 'started' | 'paused' | 'resumed' | 'cancelled' | 'test_sent';

export async function appendSendEvent(
  db: Db,
  event: { issueId: string; sendId?: string | null; type: SendEventType; actor?: string | null; data?: Record<string, unknown> },
): Promise<void> {
  await db
    .insertInto('send_events')
    .values({ issue_id: event.issueId, send_id: event.sendId ?? null, type: event.type, actor: event.actor ?? null, data: JSON.stringify(event.data ?? {}) })
    .execute();
}

/** An issue's send log, oldest first. */
export function sendEventsOf(db: Db, issueId: string): Promise<SendEvent[]> {
  return db.selectFrom('send_events').selectAll().where('issue_id', '=', issueId).orderBy('id').execute();
}
