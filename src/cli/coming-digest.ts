import type { Db } from '../db/database';
import type { List } from '../db/schema';
import { findIssue } from '../issues/repository';
import { inZone } from '../local-time';
import { digestOfMonth, type MonthDigest } from '../schedules/coming-digest';
import { monthKey, parseMonth } from '../schedules/next-slot';

export { comingDigest } from '../schedules/coming-digest';
export { digestSlug } from '../schedules/digest';
import { findSendOfIssue } from '../sending/repository';

/**
 * The monthly digest before its slot, as `issues list` and `issues status` tell it. Which
 * digest goes, and when, is decided where the desk and the scheduler decide it
 * (schedules/coming-digest.ts over schedules/monthly.ts and next-slot.ts): this only words it.
 */

function weeklies(n: number): string {
  return `${n} sent weekly issue${n === 1 ? '' : 's'}`;
}

/** "generated from 2 sent weekly issues", "curated (it replaces the generated one)", or why nothing goes. */
function what(d: MonthDigest): string {
  if (d.source === 'curated') return `curated by an editor, covering ${weeklies(d.weeklies)} of ${monthKey(d.year, d.month)} (it replaces the generated one)`;
  if (d.source === 'generated') return `generated from ${weeklies(d.weeklies)} of ${monthKey(d.year, d.month)}`;
  return `nothing to send yet: no weekly issue of ${monthKey(d.year, d.month)} has been sent`;
}

function when(d: MonthDigest, list: List): string {
  if (!d.goesAt) return 'never: the list has no monthly slot (`broadsheet lists update --monthly "1 09:00"`)';
  return `${inZone(d.goesAt, list.timezone)}${d.source === 'none' ? ', if a weekly of the month is sent by then' : ''}`;
}

/** The line of `issues list` for the coming digest: its state column. */
export function comingDigestState(d: MonthDigest, list: List): string {
  return `coming: ${what(d)}; goes ${when(d, list)}`;
}

/**
 * `issues status` of a monthly digest that has no send yet (`digest-YYYY-MM` before the
 * scheduler stores it, or a curated one imported for the month): what goes, and when. Undefined
 * for anything else, which has its send's status.
 */
export async function digestStatusBeforeItsSlot(db: Db, list: List, slug: string): Promise<string[] | undefined> {
  const row = await findIssue(db, list.id, slug);
  let month: { year: number; month: number };
  if (row) {
    if (row.kind !== 'digest' || (await findSendOfIssue(db, row.id))) return undefined;
    month = parseMonth(row.date.slice(0, 7));
  } else {
    const m = /^digest-(\d{4}-\d{2})$/.exec(slug);
    if (!m) return undefined;
    month = parseMonth(m[1]!);
  }
  const d = await digestOfMonth(db, list, month.year, month.month);
  const goes = d.row?.slug ?? slug;
  const lines = [`status     ${d.state === 'draft' ? 'coming' : d.state}: ${what(d)}`];
  if (goes !== slug) lines.push(`instead    ${goes} goes for ${monthKey(d.year, d.month)}: an editor's digest replaces the generated one`);
  if (d.state === 'draft') lines.push(`goes       ${when(d, list)}, to monthly subscribers`);
  if (d.issue && d.source !== 'none') lines.push(`covers     ${(d.issue.covers ?? []).join(', ') || '(none)'}`);
  return lines;
}
