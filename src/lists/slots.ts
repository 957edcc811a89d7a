/**
 * A list's send slots, as the editor writes them: weekly "mon 09:00" (day of the week and a
 * wall-clock time) and monthly "1 09:00" (day of the month and a wall-clock time). They are
 * read in the list's time zone, so they stay at 09:00 local across daylight-saving changes.
 *
 * Pure functions, no clock: computing the next send time from a slot belongs to the schedules
 * stage. Weekdays are numbered like luxon's `DateTime.weekday` (1 = Monday … 7 = Sunday) so
 * that code can use them as they are.
 */

export interface WeeklySlot {
  /** 1 = Monday … 7 = Sunday (ISO 8601, luxon's `weekday`). */
  readonly weekday: number;
  readonly hour: number;
  readonly minute: number;
}

export interface MonthlySlot {
  /** 1–31: a day past the end of a short month means its last day (see schedules/next-slot.ts). */
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
}

export type SlotResult<T> = { ok: true; slot: T } | { ok: false; message: string };

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const FULL_WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

/** The last day of the month a monthly slot may name; shorter months send on their last day. */
export const LAST_MONTHLY_DAY = 31;

function parseTime(text: string): { hour: number; minute: number } | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const hour = Number(m[1]);
  const minute = Number(m[2]);
  if (hour > 23 || minute > 59) return undefined;
  return { hour, minute };
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** "mon 09:00" (also "Monday 9:00"); the day's name in English, a 24-hour time. */
export function parseWeeklySlot(text: string): SlotResult<WeeklySlot> {
  const parts = text.trim().toLowerCase().split(/\s+/);
  const usage = `a weekly slot is a day and a 24-hour time, like "mon 09:00"; got "${text}"`;
  if (parts.length !== 2) return { ok: false, message: usage };
  const [dayText, timeText] = parts as [string, string];
  let index = WEEKDAYS.indexOf(dayText as (typeof WEEKDAYS)[number]);
  if (index < 0) index = FULL_WEEKDAYS.indexOf(dayText);
  if (index < 0) return { ok: false, message: `unknown day "${dayText}" in weekly slot "${text}" (mon, tue, wed, thu, fri, sat or sun)` };
  const time = parseTime(timeText);
  if (!time) return { ok: false, message: `invalid time "${timeText}" in weekly slot "${text}" (HH:MM, 00:00 to 23:59)` };
  return { ok: true, slot: { weekday: index + 1, ...time } };
}

/** "1 09:00": a day of the month from 1 to 31 (past a month's end: its last day) and a 24-hour time. */
export function parseMonthlySlot(text: string): SlotResult<MonthlySlot> {
  const parts = text.trim().split(/\s+/);
  const usage = `a monthly slot is a day of the month and a 24-hour time, like "1 09:00"; got "${text}"`;
  if (parts.length !== 2) return { ok: false, message: usage };
  const [dayText, timeText] = parts as [string, string];
  const day = /^\d{1,2}$/.test(dayText) ? Number(dayText) : NaN;
  if (!(day >= 1 && day <= LAST_MONTHLY_DAY)) {
    return {
      ok: false,
      message: `day "${dayText}" in monthly slot "${text}" must be from 1 to ${LAST_MONTHLY_DAY} (a day past a month's end means its last day)`,
    };
  }
  const time = parseTime(timeText);
  if (!time) return { ok: false, message: `invalid time "${timeText}" in monthly slot "${text}" (HH:MM, 00:00 to 23:59)` };
  return { ok: true, slot: { day, ...time } };
}

/** The canonical text stored in `lists.weekly_slot`: "mon 09:00". */
export function formatWeeklySlot(slot: WeeklySlot): string {
  return `${WEEKDAYS[slot.weekday - 1]} ${two(slot.hour)}:${two(slot.minute)}`;
}

/** The canonical text stored in `lists.monthly_slot`: "1 09:00". */
export function formatMonthlySlot(slot: MonthlySlot): string {
  return `${slot.day} ${two(slot.hour)}:${two(slot.minute)}`;
}
