import type { Db } from '../db/database';
import { sendReport } from './report';
import { deleteDeliveries, insertSendSummary, markRowsRemoved, sendsPastRetention, softBounceTotal } from './repository';

/**
 * Keeps the deliveries table bounded. A delivery row costs about 340 bytes with its indexes:
 * 10 M subscribers weekly would be 170 GB a year. A finished send's rows are removed once it
 * finished more than DELIVERY_RETENTION_DAYS ago; its report (report.ts) is written first to
 * `send_summaries`, kept for ever, and read from there afterwards.
 *
 * Why batched deletion and not partitions: a partition per send or per month would change the
 * primary key every other part of the sender relies on (deliveries.id ranges are batches).
 * Deleting a finished send's rows a few thousand at a time, each batch its own short statement,
 * only ever locks rows of that send: a running send (other rows, other send id) is never
 * waited on, and VACUUM returns the space for the next sends' rows.
 */
const DAY_MS = 24 * 60 * 60 * 1000;

/** Writes a send's summary from its rows (once: a summary already written is kept as it is). */
export async function writeSendSummary(db: Db, sendId: string): Promise<void> {
  const report = await sendReport(db, sendId, { topAnswers: 5 });
  await insertSendSummary(db, {
    send_id: sendId,
    recipients: report.recipients,
    delivered: report.delivered,
    bounced: report.bounced,
    bounced_later: report.bouncedLater,
    complained: report.complained,
    soft_bounced: await softBounceTotal(db, sendId),
    suppressed: report.suppressed,
    failed: report.failed,
    cancelled: report.cancelled,
    unsubscribed: report.unsubscribed,
    top_responses: JSON.stringify(report.smtpAnswers),
  });
}

export interface PruneResult {
  sends: number;
  rows: number;
}

/**
 * Summarises, then removes the rows of, sends that finished (done or cancelled) more than
 * `retentionDays` ago. Safe to run from every worker at once: the summary is written once,
 * and deleting rows another worker deleted already deletes nothing.
 */
export async function pruneDeliveries(db: Db, options: { retentionDays: number; now?: Date; chunk?: number; maxSends?: number }): Promise<PruneResult> {
  const now = options.now ?? new Date();
  const chunk = options.chunk ?? 5000;
  const due = await sendsPastRetention(db, new Date(now.getTime() - options.retentionDays * DAY_MS), options.maxSends ?? 50);
  let rows = 0;
  for (const { id } of due) {
    // The summary first: whatever happens after, the editor's report survives the rows.
    await writeSendSummary(db, id);
    for (;;) {
      const n = await deleteDeliveries(db, id, chunk);
      rows += n;
      if (n < chunk) break;
    }
    await markRowsRemoved(db, id, now);
  }
  return { sends: due.length, rows };
}
