import type { Db } from '../db/database';
import type { ImportReport } from '../subscribers/import/report';

/**
 * The desk's CSV imports as rows (desk_imports): the process that runs an import writes its
 * progress about once a second, and any process shows it. An unfinished row that has not been
 * written for STALE_AFTER_MS belongs to an import whose process went away.
 */

export const STALE_AFTER_MS = 30_000;
const KEEP_DAYS = 7;

export interface ImportRun {
  id: string;
  listId: string;
  source: string;
  totalBytes: number;
  bytes: number;
  rows: number;
  report?: ImportReport;
  error?: string;
  /** Unfinished and no longer written: the process running it stopped. */
  stopped: boolean;
}

export async function startImportRun(db: Db, run: { id: string; listId: string; editor: string; source: string; totalBytes: number }): Promise<void> {
  await db
    .deleteFrom('desk_imports')
    .where('started_at', '<', new Date(Date.now() - KEEP_DAYS * 86_400_000))
    .execute();
  await db
    .insertInto('desk_imports')
    .values({ id: run.id, list_id: run.listId, editor: run.editor, source: run.source, total_bytes: run.totalBytes })
    .execute();
}

export async function recordImportProgress(db: Db, id: string, progress: { bytes: number; rows: number }): Promise<void> {
  await db
    .updateTable('desk_imports')
    .set({ bytes: progress.bytes, rows: progress.rows, updated_at: new Date() })
    .where('id', '=', id)
    .where('finished_at', 'is', null)
    .execute();
}

export async function finishImportRun(db: Db, id: string, outcome: { report: ImportReport } | { error: string }): Promise<void> {
  const now = new Date();
  await db
    .updateTable('desk_imports')
    .set(
      'report' in outcome
        ? { report: JSON.stringify(outcome.report), rows: outcome.report.rows, bytes: (eb) => eb.ref('total_bytes'), finished_at: now, updated_at: now }
        : { error: outcome.error, finished_at: now, updated_at: now },
    )
    .where('id', '=', id)
    .execute();
}

export async function findImportRun(db: Db, id: string, now = new Date()): Promise<ImportRun | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
  const row = await db.selectFrom('desk_imports').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    listId: row.list_id,
    source: row.source,
    totalBytes: Number(row.total_bytes),
    bytes: Number(row.bytes),
    rows: row.rows,
    report: (row.report as ImportReport | null) ?? undefined,
    error: row.error ?? undefined,
    stopped: row.finished_at === null && now.getTime() - row.updated_at.getTime() > STALE_AFTER_MS,
  };
}
