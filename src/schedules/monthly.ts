import fs from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../db/database';
import type { IssueRow, List, Send } from '../db/schema';
import { AppError } from '../errors';
import { SENT_STATUSES } from '../issues/published';
import type { Issue } from '../issues/types';
import { log } from '../log';
import { createSend } from '../sending/control';
import { buildDigest, digestSlug, type DigestWeekly } from './digest';
import { monthKey } from './next-slot';

/**
 * The IO around the digest builder: which weeklies a month has, which digest (imported or
 * generated) goes out for it, and the one send row that makes it go out once.
 */

function monthRange(year: number, month: number): { first: string; last: string } {
  const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return { first: `${monthKey(year, month)}-01`, last: `${monthKey(year, month)}-${String(lastDay).padStart(2, '0')}` };
}

/** The weekly issues dated in the month whose send has started (sending, paused or done). */
export async function sentWeekliesOf(db: Db, listId: string, year: number, month: number): Promise<DigestWeekly[]> {
  const { first, last } = monthRange(year, month);
  const rows = await db
    .selectFrom('issues')
    .innerJoin('sends', 'sends.issue_id', 'issues.id')
    .select(['issues.slug', 'issues.date', 'issues.content'])
    .where('issues.list_id', '=', listId)
    .where('issues.kind', '=', 'weekly')
    .where('issues.date', '>=', first)
    .where('issues.date', '<=', last)
    .where('sends.status', 'in', SENT_STATUSES)
    .orderBy('issues.date')
    .orderBy('issues.slug')
    .execute();
  return rows.map((r) => ({ slug: r.slug, date: r.date, content: r.content as unknown as Issue }));
}

/** Digest issues dated in the month, with their send if they have one; imported ones first. */
export async function digestsOf(db: Db, list: List, year: number, month: number): Promise<Array<IssueRow & { send_status: Send['status'] | null }>> {
  const { first, last } = monthRange(year, month);
  const rows = await db
    .selectFrom('issues')
    .leftJoin('sends', 'sends.issue_id', 'issues.id')
    .selectAll('issues')
    .select('sends.status as send_status')
    .where('issues.list_id', '=', list.id)
    .where('issues.kind', '=', 'digest')
    .where('issues.date', '>=', first)
    .where('issues.date', '<=', last)
    .orderBy('issues.updated_at', 'desc')
    .execute();
  const generated = digestSlug(year, month);
  // An editor's curated digest replaces the generated one, whatever its slug.
  return rows.sort((a, b) => Number(a.slug === generated) - Number(b.slug === generated));
}

export interface DigestDraftOptions {
  imageSrc(weeklySlug: string, src: string): string;
}

/** The generated digest of a month, or undefined when no weekly of it was sent. */
export async function draftDigest(db: Db, list: List, year: number, month: number, opts: DigestDraftOptions): Promise<Issue | undefined> {
  const weeklies = await sentWeekliesOf(db, list.id, year, month);
  return buildDigest(weeklies, { list, year, month, imageSrc: opts.imageSrc });
}

export type DigestOutcome =
  { kind: 'exists'; slug: string } | { kind: 'nothing-to-send' } | { kind: 'created'; slug: string; sendId: string; generated: boolean };

/**
 * Makes sure the month's digest has its send, scheduled at the slot. Safe to run from any
 * number of schedulers at once: the generated issue is inserted with ON CONFLICT DO NOTHING on
 * (list, slug), and `sends.issue_id` is unique, so exactly one send exists however many try.
 * A digest whose send exists in any status (even cancelled by the editor) is left alone.
 */
export async function ensureDigestSend(
  db: Db,
  input: { list: List; year: number; month: number; slotAt: Date; dataDir: string; batchSize: number },
): Promise<DigestOutcome> {
  const { list, year, month } = input;
  const digests = await digestsOf(db, list, year, month);
  const withSend = digests.find((d) => d.send_status !== null);
  if (withSend) return { kind: 'exists', slug: withSend.slug };

  let issue: IssueRow | undefined = digests[0];
  let generated = false;
  if (!issue) {
    const slug = digestSlug(year, month);
    const content = await draftDigest(db, list, year, month, {
      // Each weekly's assets live in its own folder; the digest gets a copy under its own, in
      // a sub-folder per weekly, so that its relative paths stay inside its folder.
      imageSrc: (weeklySlug, src) => `${weeklySlug}/${src}`,
    });
    if (!content) return { kind: 'nothing-to-send' };
    await copyWeeklyAssets(input.dataDir, list.slug, slug, content);
    await db
      .insertInto('issues')
      .values({ list_id: list.id, slug, kind: 'digest', date: content.date, title: content.title, content: JSON.stringify(content) })
      .onConflict((oc) => oc.columns(['list_id', 'slug']).doNothing())
      .execute();
    issue = await db.selectFrom('issues').selectAll().where('list_id', '=', list.id).where('slug', '=', slug).executeTakeFirstOrThrow();
    if (issue.kind !== 'digest') {
      throw new AppError('conflict', `list ${list.slug} has a weekly issue named ${slug}: the generated digest needs that slug`);
    }
    generated = true;
  }
  try {
    const send = await createSend(db, { issue, list, scheduledAt: input.slotAt, batchSize: input.batchSize });
    return { kind: 'created', slug: issue.slug, sendId: send.id, generated };
  } catch (err) {
    // Another scheduler made it a moment ago: the one send exists, which is all we want.
    if ((err as { code?: string }).code === 'conflict') return { kind: 'exists', slug: issue.slug };
    throw err;
  }
}

/** Copies each relative image `weekly/path` of a generated digest from the weekly's asset folder. */
async function copyWeeklyAssets(dataDir: string, listSlug: string, slug: string, digest: Issue): Promise<void> {
  const root = path.join(dataDir, 'assets', listSlug);
  for (const section of digest.sections) {
    for (const item of section.items) {
      const src = item.image?.src;
      if (!src || /^[a-z][a-z0-9+.-]*:/i.test(src)) continue;
      const to = path.join(root, slug, src);
      // src is "<weekly slug>/<path inside that weekly's folder>", both checked by validation.
      const from = path.join(root, src);
      if (!from.startsWith(root + path.sep) || !to.startsWith(path.join(root, slug) + path.sep)) continue;
      try {
        await fs.mkdir(path.dirname(to), { recursive: true });
        await fs.copyFile(from, to);
      } catch (err) {
        // A missing image must not hold back the digest of a whole list; it is logged instead.
        log.warn({ list: listSlug, issue: slug, image: src, err: (err as Error).message }, 'digest: could not copy an image of a weekly');
      }
    }
  }
}
