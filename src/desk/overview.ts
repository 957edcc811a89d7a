import { subscriptionTallies } from '../db/counters';
import type { Db } from '../db/database';
import type { Cadence, List, Send } from '../db/schema';
import { comingDigest, type MonthDigest } from '../schedules/coming-digest';
import { nextWeeklySlot } from '../schedules/next-slot';
import { parseWeeklySlot } from '../lists/slots';
import { toLiveProgress, type LiveProgress } from '../sending/report';
import { sendProgress } from '../sending/control';

/**
 * What the desk's home shows of each list, read in a few indexed queries: subscribers by
 * status and cadence and the last finished send's counts from the counters the database keeps
 * (db/counters.ts; counting a million rows on each load took a second), the next weekly slot and the issue scheduled for it, the coming digest, and
 * the sends running now.
 */
export interface ListOverview {
  list: List;
  active: Record<Cadence, number>;
  pending: number;
  lastSend?: { send: Send; title: string; issueSlug: string; progress: LiveProgress };
  nextWeekly?: { at: Date; issue?: { slug: string; title: string } };
  /** Other sends scheduled after now (weekly issues beyond the next slot, a digest already made). */
  scheduled: number;
  digest?: MonthDigest;
}

export interface RunningSend {
  send: Send;
  list: Pick<List, 'slug' | 'name'>;
  title: string;
  issueSlug: string;
  progress: LiveProgress;
}

async function subscriberCounts(db: Db, listId: string): Promise<Pick<ListOverview, 'active' | 'pending'>> {
  const active: Record<Cadence, number> = { weekly: 0, monthly: 0 };
  let pending = 0;
  for (const t of (await subscriptionTallies(db, [listId])).get(listId)!) {
    if (t.status === 'active') active[t.cadence] += t.n;
    else if (t.status === 'pending') pending += t.n;
  }
  return { active, pending };
}

async function lastFinishedSend(db: Db, listId: string): Promise<ListOverview['lastSend']> {
  const row = await db
    .selectFrom('sends as s')
    .innerJoin('issues as i', 'i.id', 's.issue_id')
    .selectAll('s')
    .select(['i.title', 'i.slug as issue_slug'])
    .where('s.list_id', '=', listId)
    .where('s.status', 'in', ['done', 'cancelled'])
    .orderBy('s.finished_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  const { title, issue_slug, ...send } = row;
  // Past DELIVERY_RETENTION_DAYS its delivery rows are gone and its summary is the record.
  const kept = await db
    .selectFrom('send_summaries')
    .select(['recipients', 'delivered'])
    .where('send_id', '=', send.id)
    .where('rows_removed_at', 'is not', null)
    .executeTakeFirst();
  const progress = toLiveProgress(await sendProgress(db, send));
  if (kept) Object.assign(progress, { recipients: kept.recipients, sent: kept.delivered, pending: 0, notSent: kept.recipients - kept.delivered });
  return { send, title, issueSlug: issue_slug, progress };
}

async function upcoming(db: Db, list: List, now: Date): Promise<Pick<ListOverview, 'nextWeekly' | 'scheduled'>> {
  const scheduled = await db
    .selectFrom('sends as s')
    .innerJoin('issues as i', 'i.id', 's.issue_id')
    .select(['s.scheduled_at', 'i.slug', 'i.title'])
    .where('s.list_id', '=', list.id)
    .where('s.status', '=', 'scheduled')
    .orderBy('s.scheduled_at')
    .execute();
  const parsed = list.weekly_slot ? parseWeeklySlot(list.weekly_slot) : undefined;
  if (!parsed?.ok) return { scheduled: scheduled.length };
  const at = nextWeeklySlot(parsed.slot, list.timezone, now);
  const holder = scheduled.find((s) => s.scheduled_at?.getTime() === at.getTime());
  return { nextWeekly: { at, issue: holder && { slug: holder.slug, title: holder.title } }, scheduled: scheduled.length - (holder ? 1 : 0) };
}

export async function listOverview(db: Db, list: List, now: Date): Promise<ListOverview> {
  const [counts, lastSend, next, digest] = await Promise.all([
    subscriberCounts(db, list.id),
    lastFinishedSend(db, list.id),
    upcoming(db, list, now),
    comingDigest(db, list, now),
  ]);
  return { list, ...counts, lastSend, ...next, digest };
}

/** Sends that are planning, sending or paused, oldest first, with their progress. */
export async function runningSends(db: Db): Promise<RunningSend[]> {
  const rows = await db
    .selectFrom('sends as s')
    .innerJoin('issues as i', 'i.id', 's.issue_id')
    .innerJoin('lists as l', 'l.id', 's.list_id')
    .selectAll('s')
    .select(['i.title', 'i.slug as issue_slug', 'l.slug as list_slug', 'l.name as list_name'])
    .where('s.status', 'in', ['planning', 'sending', 'paused'])
    .orderBy('s.started_at')
    .execute();
  return Promise.all(
    rows.map(async ({ title, issue_slug, list_slug, list_name, ...send }) => ({
      send,
      list: { slug: list_slug, name: list_name },
      title,
      issueSlug: issue_slug,
      progress: toLiveProgress(await sendProgress(db, send)),
    })),
  );
}
