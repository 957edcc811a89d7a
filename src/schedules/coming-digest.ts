import { DateTime } from 'luxon';
import type { Db } from '../db/database';
import type { IssueRow, List, SendStatus } from '../db/schema';
import { issueContent, issueState, type IssueState } from '../issues/repository';
import type { Issue } from '../issues/types';
import { parseMonthlySlot } from '../lists/slots';
import { digestSlug } from './digest';
import { digestsOf, draftDigest, sentWeekliesOf } from './monthly';
import { monthlySlotIn, nextMonthlySlot, previousMonth } from './next-slot';

/**
 * The monthly digest as the desk shows it before (and after) it goes: for any month, the one
 * the scheduler would send (monthly.ts decides that, this only reads), and "curate", which is
 * `broadsheet digest draft` for the desk: the generated digest as JSON to edit and import.
 */

export interface MonthDigest {
  year: number;
  month: number;
  /**
   * `curated`: an editor imported a digest for the month, and it replaces the generated one;
   * `generated`: what Broadsheet builds from the month's sent weeklies; `none`: no weekly sent.
   */
  source: 'curated' | 'generated' | 'none';
  /** The issue as it would go (or went). */
  issue?: Issue;
  /** The stored digest issue row, once there is one (curated, or generated at its slot). */
  row?: IssueRow;
  /** The state of its send: draft until the scheduler makes the send at the monthly slot. */
  state: IssueState;
  sendId?: string;
  /** How many sent weeklies the month has (what a generated digest covers). */
  weeklies: number;
  /** The monthly slot it goes at (the month after), in the list's zone; undefined without a monthly slot. */
  goesAt?: Date;
}

/**
 * The relative image of a weekly, as seen from a not-yet-stored generated digest: the list's
 * asset folder holds one folder per issue, so `WEEKLY/src` under it names the weekly's copy.
 * (ensureDigestSend copies those files under the digest's own folder when it stores it.)
 */
export const weeklyImageSrc = (weeklySlug: string, src: string): string => `${weeklySlug}/${src}`;

export async function digestOfMonth(db: Db, list: List, year: number, month: number): Promise<MonthDigest> {
  const [stored, weeklies] = await Promise.all([digestsOf(db, list, year, month), sentWeekliesOf(db, list.id, year, month)]);
  const slot = list.monthly_slot ? parseMonthlySlot(list.monthly_slot) : undefined;
  const next = year * 12 + month; // the month after, 1-based: (next / 12, next % 12 + 1)
  const goesAt = slot?.ok ? monthlySlotIn(slot.slot, list.timezone, Math.floor(next / 12), (next % 12) + 1) : undefined;
  const base = { year, month, weeklies: weeklies.length, goesAt };
  // The one that goes, or went: a digest with a send; else the curated one (monthly.ts puts
  // an editor's digest before the generated slug); else the generated one, built now.
  const chosen = stored.find((d) => d.send_status !== null) ?? stored[0];
  if (chosen) {
    return {
      ...base,
      // Before the slot every stored digest is an editor's (the scheduler stores the generated
      // one with its send, at the slot), even one imported under the generated slug, as
      // `digest draft` prints it. After the slot the slug is all there is to tell them apart.
      source: chosen.send_status === null || chosen.slug !== digestSlug(year, month) ? 'curated' : 'generated',
      issue: issueContent(chosen),
      row: chosen,
      state: issueState(chosen.send_status as SendStatus | null),
      sendId: chosen.send_status ? (await db.selectFrom('sends').select('id').where('issue_id', '=', chosen.id).executeTakeFirst())?.id : undefined,
    };
  }
  const issue = await draftDigest(db, list, year, month, { imageSrc: weeklyImageSrc });
  return { ...base, source: issue ? 'generated' : 'none', issue, state: 'draft' };
}

/**
 * The digest that goes next: the month before the list's next monthly slot. Undefined when
 * the list has no monthly slot.
 */
export async function comingDigest(db: Db, list: List, now: Date): Promise<MonthDigest | undefined> {
  if (!list.monthly_slot) return undefined;
  const slot = parseMonthlySlot(list.monthly_slot);
  if (!slot.ok) return undefined;
  const at = DateTime.fromJSDate(nextMonthlySlot(slot.slot, list.timezone, now), { zone: list.timezone });
  const { year, month } = previousMonth(at.year, at.month);
  return digestOfMonth(db, list, year, month);
}

/**
 * "Curate": the generated digest of a month as issue JSON, for the editor to change and import
 * (the desk's paste form). Its weekly images are named `WEEKLY/src`, which the upload finds in
 * the list's stored assets. Undefined when the month has no sent weekly.
 */
export async function curateDraft(db: Db, list: List, year: number, month: number): Promise<string | undefined> {
  const issue = await draftDigest(db, list, year, month, { imageSrc: weeklyImageSrc });
  return issue ? `${JSON.stringify(issue, null, 2)}\n` : undefined;
}
