import type { Db } from '../db/database';
import type { IssueRow, SendStatus } from '../db/schema';

/**
 * An issue counts as sent once its send has started: readers may have it in their inbox. The
 * archive shows exactly these, and the monthly digest covers exactly these; one definition, so
 * the digest never links a weekly the archive would answer 404 for. Drafts, scheduled issues,
 * sends still planning and sends cancelled before they started are not.
 */
export const SENT_STATUSES: readonly SendStatus[] = ['sending', 'paused', 'done'];

// The queries of what is public, for the archive, the home page and the subscribe page: an
// issue whose send has started. Everything else, drafts and scheduled issues included, is
// answered 404 by the archive's routes.

export type PublishedIssue = IssueRow & { sent_at: Date };

function published(db: Db, listId: string) {
  return db
    .selectFrom('issues')
    .innerJoin('sends', 'sends.issue_id', 'issues.id')
    .selectAll('issues')
    .select((eb) => eb.fn.coalesce('sends.started_at', 'sends.updated_at').as('sent_at'))
    .where('issues.list_id', '=', listId)
    .where('sends.status', 'in', SENT_STATUSES);
}

/** A list's sent issues, newest first (by date, then by when the send started). */
export function publishedIssues(db: Db, listId: string, limit = 500): Promise<PublishedIssue[]> {
  return published(db, listId).orderBy('issues.date', 'desc').orderBy('sent_at', 'desc').limit(limit).execute();
}

export function findPublishedIssue(db: Db, listId: string, slug: string): Promise<PublishedIssue | undefined> {
  return published(db, listId).where('issues.slug', '=', slug).executeTakeFirst();
}

/**
 * The weekly issues a digest covers that are public, slug → title, for the web version's
 * "covers" block. Like the sender's query for the email (sending/variants.ts), but only sent
 * issues: a public page must neither link to a 404 nor show the title of a draft.
 */
export async function publicCoversOf(db: Db, issue: IssueRow): Promise<Record<string, string>> {
  const covers = (issue.content as { covers?: unknown }).covers;
  if (!Array.isArray(covers) || covers.length === 0) return {};
  const rows = await published(db, issue.list_id)
    .where('issues.slug', 'in', covers as string[])
    .execute();
  return Object.fromEntries(rows.map((r) => [r.slug, r.title]));
}

/**
 * The newest sent issue of every list that has one, by list id: the home page's "latest issue"
 * for all lists in one query (DISTINCT ON keeps the first row per list in this order).
 */
export async function latestPublishedByList(db: Db): Promise<Map<string, PublishedIssue>> {
  const rows = await db
    .selectFrom('issues')
    .innerJoin('sends', 'sends.issue_id', 'issues.id')
    .distinctOn('issues.list_id')
    .selectAll('issues')
    .select((eb) => eb.fn.coalesce('sends.started_at', 'sends.updated_at').as('sent_at'))
    .where('sends.status', 'in', SENT_STATUSES)
    .orderBy('issues.list_id')
    .orderBy('issues.date', 'desc')
    .orderBy((eb) => eb.fn.coalesce('sends.started_at', 'sends.updated_at'), 'desc')
    .execute();
  return new Map(rows.map((row) => [row.list_id, row]));
}

/** Whether `/assets/{list}/{issue}/…` may be served to anyone: the issue has been sent. */
export async function findPublishedAssetOwner(db: Db, listSlug: string, issueSlug: string): Promise<boolean> {
  const row = await db
    .selectFrom('issues')
    .innerJoin('lists', 'lists.id', 'issues.list_id')
    .innerJoin('sends', 'sends.issue_id', 'issues.id')
    .select('issues.id')
    .where('lists.slug', '=', listSlug)
    .where('issues.slug', '=', issueSlug)
    .where('sends.status', 'in', SENT_STATUSES)
    .executeTakeFirst();
  return row !== undefined;
}
