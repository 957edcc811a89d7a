import fs from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../db/database';
import type { IssueRow, List, SendStatus } from '../db/schema';
import { AppError } from '../errors';
import { assetFileProblem } from './asset-file';
import { SENT_STATUSES } from './published';
import type { Issue } from './types';

/** Where an issue's relative assets are kept under DATA_DIR, and served from (`/assets/…`). */
export function assetDir(dataDir: string, listSlug: string, issueSlug: string): string {
  return path.join(dataDir, 'assets', listSlug, issueSlug);
}

export function assetBaseUrl(publicUrl: string, listSlug: string, issueSlug: string): string {
  return `${publicUrl}/assets/${encodeURIComponent(listSlug)}/${encodeURIComponent(issueSlug)}`;
}

/** Relative image paths of an issue (validation has checked that they stay inside its folder). */
function relativeAssets(issue: Issue): string[] {
  const srcs = issue.sections.flatMap((s) => s.items.map((i) => i.image?.src)).filter((s): s is string => !!s);
  return [...new Set(srcs.filter((s) => !/^[a-z][a-z0-9+.-]*:/i.test(s)))];
}

/** The state an editor sees: a draft has no send; the rest is the send's status. */
export type IssueState = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';

export function issueState(sendStatus: SendStatus | null | undefined): IssueState {
  switch (sendStatus) {
    case null:
    case undefined:
      return 'draft';
    case 'scheduled':
      return 'scheduled';
    case 'planning':
    case 'sending':
      return 'sending';
    case 'paused':
      return 'paused';
    case 'done':
      return 'sent';
    case 'cancelled':
      return 'cancelled';
  }
}

/**
 * Stores a validated issue and copies its relative assets under DATA_DIR, where the compiled
 * email's image URLs point. A draft (or a scheduled issue, not yet started) is replaced; an
 * issue that has started sending is immutable: readers have it, and the archive shows it.
 */
export async function importIssue(
  db: Db,
  options: { list: List; issue: Issue; baseDir: string; dataDir: string },
): Promise<{ issue: IssueRow; replaced: boolean }> {
  const { list, issue, baseDir, dataDir } = options;
  if (issue.list !== list.slug) {
    throw new AppError('invalid_input', `the issue is for list "${issue.list}", not "${list.slug}" (its "list" field)`);
  }
  return db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('issues as i')
      .leftJoin('sends as s', 's.issue_id', 'i.id')
      .select(['i.id', 's.status'])
      .where('i.list_id', '=', list.id)
      .where('i.slug', '=', issue.slug)
      .forUpdate('i')
      .executeTakeFirst();
    if (existing?.status && existing.status !== 'scheduled') {
      throw new AppError('conflict', `issue "${issue.slug}" is ${issueState(existing.status)}: a sent issue cannot be changed; import it under a new slug`);
    }
    // Copied inside the transaction: if a copy fails, the row is not written either.
    const target = assetDir(dataDir, list.slug, issue.slug);
    for (const rel of relativeAssets(issue)) {
      // Checked again here: the folder may have changed since it was validated.
      const problem = assetFileProblem(baseDir, rel);
      if (problem) throw new AppError('invalid_issue', `image ${rel}: ${problem}`);
      const to = path.join(target, rel);
      await fs.mkdir(path.dirname(to), { recursive: true });
      await fs.copyFile(path.join(baseDir, rel), to);
    }
    const values = {
      kind: issue.kind ?? 'weekly',
      date: issue.date,
      title: issue.title,
      content: JSON.stringify(issue),
      updated_at: new Date(),
    };
    const row = existing
      ? await trx.updateTable('issues').set(values).where('id', '=', existing.id).returningAll().executeTakeFirstOrThrow()
      : await trx
          .insertInto('issues')
          .values({ ...values, list_id: list.id, slug: issue.slug })
          .returningAll()
          .executeTakeFirstOrThrow();
    return { issue: row, replaced: !!existing };
  });
}

export function findIssue(db: Db, listId: string, slug: string): Promise<IssueRow | undefined> {
  return db.selectFrom('issues').selectAll().where('list_id', '=', listId).where('slug', '=', slug).executeTakeFirst();
}

export async function getIssue(db: Db, list: List, slug: string): Promise<IssueRow> {
  const found = await findIssue(db, list.id, slug);
  if (!found) throw new AppError('not_found', `list "${list.slug}" has no issue "${slug}" (import it with \`broadsheet issues import\`)`);
  return found;
}

export interface IssueSummary {
  slug: string;
  kind: IssueRow['kind'];
  date: string;
  title: string;
  state: IssueState;
  scheduledAt: Date | null;
}

/** A list's issues, newest first, with the state of their send. */
export async function listIssues(db: Db, listId: string): Promise<IssueSummary[]> {
  const rows = await db
    .selectFrom('issues as i')
    .leftJoin('sends as s', 's.issue_id', 'i.id')
    .select(['i.slug', 'i.kind', 'i.date', 'i.title', 's.status', 's.scheduled_at'])
    .where('i.list_id', '=', listId)
    .orderBy('i.date', 'desc')
    .orderBy('i.slug', 'desc')
    .execute();
  return rows.map((r) => ({ slug: r.slug, kind: r.kind, date: r.date, title: r.title, state: issueState(r.status), scheduledAt: r.scheduled_at }));
}

/**
 * The covers of a digest that are not sent issues of the list, with what they are instead
 * ('missing' when the list has no such issue). Their titles are not public: a send leaves
 * them out of the email, and `issues import` says so.
 */
export async function unsentCovers(db: Db, listId: string, covers: readonly string[]): Promise<Array<{ slug: string; state: IssueState | 'missing' }>> {
  if (covers.length === 0) return [];
  const rows = await db
    .selectFrom('issues as i')
    .leftJoin('sends as s', 's.issue_id', 'i.id')
    .select(['i.slug', 's.status'])
    .where('i.list_id', '=', listId)
    .where('i.slug', 'in', [...covers])
    .execute();
  const found = new Map(rows.map((r) => [r.slug, r.status]));
  return covers
    .filter((slug) => !found.has(slug) || !SENT_STATUSES.includes(found.get(slug)!))
    .map((slug) => ({ slug, state: found.has(slug) ? issueState(found.get(slug)) : 'missing' }));
}

/** The issue JSON as stored (it passed validation when it was imported). */
export function issueContent(row: IssueRow): Issue {
  return row.content as unknown as Issue;
}
