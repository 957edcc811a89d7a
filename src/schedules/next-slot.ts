import { DateTime, IANAZone } from 'luxon';
import { AppError } from '../errors';
import type { MonthlySlot, WeeklySlot } from '../lists/slots';

/**
 * When a list's slots fall, as instants. Pure: `now` is always a parameter, never the clock,
 * so the scheduler and the tests decide what time it is.
 *
 * Slots are wall-clock times in the list's zone. Two days a year that wall clock misbehaves:
 * - a skipped hour (spring forward): a slot inside it goes at the first valid instant after
 *   the gap (02:30 on the night Berlin jumps from 02:00 to 03:00 goes at 03:00 CEST);
 * - a repeated hour (fall back): a slot inside it goes once, at its first occurrence.
 * A monthly slot past the month's end (31 in February) goes on the month's last day.
 */

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

function zoneOf(name: string): IANAZone {
  const zone = IANAZone.create(name);
  if (!zone.isValid) throw new AppError('invalid_input', `"${name}" is not an IANA time zone`);
  return zone;
}

/**
 * The instant a wall-clock time of one calendar date happens in a zone: the first of two in a
 * repeated hour, the end of the gap in a skipped one.
 */
export function wallTimeToInstant(date: CalendarDate, hour: number, minute: number, zoneName: string): Date {
  const zone = zoneOf(zoneName);
  // The wall time read as if it were UTC; subtracting the zone's offset gives the instant.
  const wall = Date.UTC(date.year, date.month - 1, date.day, hour, minute);
  // Offsets change at most once around any one wall time in real zones, so the offsets a day
  // before and a day after are the only candidates.
  const before = zone.offset(wall - DAY);
  const after = zone.offset(wall + DAY);
  const valid = [...new Set([before, after])].map((offset) => wall - offset * MINUTE).filter((instant) => wall - zone.offset(instant) * MINUTE === instant);
  if (valid.length > 0) return new Date(Math.min(...valid));

  // No instant shows this wall time: it is in a gap. The transition is the first valid minute
  // after it; find it between the instants the two offsets would give.
  let lo = wall - after * MINUTE; // still on the old offset
  let hi = wall - before * MINUTE; // already on the new offset
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (zone.offset(mid) === before) lo = mid;
    else hi = mid;
  }
  return new Date(hi);
}

function localDate(now: Date, zoneName: string): CalendarDate {
  const local = DateTime.fromJSDate(now, { zone: zoneOf(zoneName) });
  return { year: local.year, month: local.month, day: local.day };
}

function addDays(date: CalendarDate, days: number): CalendarDate & { weekday: number } {
  const d = DateTime.utc(date.year, date.month, date.day).plus({ days });
  return { year: d.year, month: d.month, day: d.day, weekday: d.weekday };
}

function addMonths(year: number, month: number, months: number): { year: number; month: number; daysInMonth: number } {
  const d = DateTime.utc(year, month, 1).plus({ months });
  return { year: d.year, month: d.month, daysInMonth: d.daysInMonth as number };
}

/** The first weekly slot strictly after `now`. */
export function nextWeeklySlot(slot: WeeklySlot, zone: string, now: Date): Date {
  const today = localDate(now, zone);
  // Yesterday too: a slot late on one local date can only be "after now" from today on, but
  // starting a day early costs nothing and keeps the loop honest near midnight gaps.
  for (let i = -1; i <= 8; i++) {
    const date = addDays(today, i);
    if (date.weekday !== slot.weekday) continue;
    const at = wallTimeToInstant(date, slot.hour, slot.minute, zone);
    if (at.getTime() > now.getTime()) return at;
  }
  throw new AppError('internal', 'no weekly slot within eight days');
}

/** The monthly slot of one month: a day past the month's end means its last day. */
export function monthlySlotIn(slot: MonthlySlot, zone: string, year: number, month: number): Date {
  const { daysInMonth } = addMonths(year, month, 0);
  return wallTimeToInstant({ year, month, day: Math.min(slot.day, daysInMonth) }, slot.hour, slot.minute, zone);
}

/** The first monthly slot strictly after `now`. */
export function nextMonthlySlot(slot: MonthlySlot, zone: string, now: Date): Date {
  const today = localDate(now, zone);
  for (let k = -1; k <= 2; k++) {
    const { year, month } = addMonths(today.year, today.month, k);
    const at = monthlySlotIn(slot, zone, year, month);
    if (at.getTime() > now.getTime()) return at;
  }
  throw new AppError('internal', 'no monthly slot within two months');
}

/**
 * The latest monthly slot at or before `now`, with the month it belongs to: the scheduler sends
 * the digest of the month before that one.
 */
export function lastMonthlySlot(slot: MonthlySlot, zone: string, now: Date): { at: Date; year: number; month: number } {
  const today = localDate(now, zone);
  for (let k = 1; k >= -2; k--) {
    const { year, month } = addMonths(today.year, today.month, k);
    const at = monthlySlotIn(slot, zone, year, month);
    if (at.getTime() <= now.getTime()) return { at, year, month };
  }
  throw new AppError('internal', 'no monthly slot within two months');
}

/** "2021-02" → the month before, "2021-01". */
export function previousMonth(year: number, month: number): { year: number; month: number } {
  const d = addMonths(year, month, -1);
  return { year: d.year, month: d.month };
}

/** `YYYY-MM`. */
export function monthKey(year: number, month: number): string {
  return `${year}-${String(month).padStart(2, '0')}`;
}

/** Parses `YYYY-MM` strictly. */
export function parseMonth(text: string): { year: number; month: number } {
  const m = /^(\d{4})-(\d{2})$/.exec(text.trim());
  const month = m ? Number(m[2]) : 0;
  if (!m || month < 1 || month > 12) throw new AppError('invalid_input', `"${text}" is not a month like 2021-02`);
  return { year: Number(m[1]), month };
}

/**
 * An explicit time an editor gave: ISO 8601 with an offset ("2026-12-07T09:00:00+01:00", "…Z")
 * is that instant; without one ("2026-12-07T09:00") it is a wall time in the list's zone, with
 * the same gap and repeated-hour rules as the slots.
 */
export function parseScheduleTime(text: string, zone: string): Date {
  const trimmed = text.trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(trimmed);
  const bad = () => new AppError('invalid_input', `"${text}" is not a time like 2026-12-07T09:00 (in the list's zone) or 2026-12-07T09:00+01:00`);
  if (!m) throw bad();
  if (m[7]) {
    const parsed = DateTime.fromISO(trimmed.replace(' ', 'T'), { setZone: true });
    if (!parsed.isValid) throw bad();
    return parsed.toJSDate();
  }
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const check = DateTime.utc(year, month, day, hour, minute, second);
  if (!check.isValid || check.day !== day) throw bad();
  return new Date(wallTimeToInstant({ year, month, day }, hour, minute, zone).getTime() + second * 1000);
}
