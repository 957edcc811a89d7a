import { pickLanguage, t } from '../i18n';
import { LAST_MONTHLY_DAY, parseMonthlySlot, parseWeeklySlot } from './slots';

/**
 * How often a list comes, as a visitor reads it on the home and subscribe pages: the weekly
 * slot and the monthly digest in words of the list's language ("Every Monday at 09:00 (China
 * Standard Time)", "每星期一 09:00（中国标准时间）"). Pure: weekday and zone names
 * come from Intl, so any language Node knows names them; the sentences from the catalogue.
 */
export interface ScheduleWords {
  weekly: string;
  monthly: string;
}

export function scheduleInWords(list: { language: string; timezone: string; weekly_slot: string | null; monthly_slot: string | null }): ScheduleWords {
  const lang = pickLanguage(list.language);
  const locale = intlLocale(list.language);
  const zone = zoneName(locale, list.timezone);
  const time = (hour: number, minute: number) => `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;

  const weeklySlot = list.weekly_slot === null ? undefined : parseWeeklySlot(list.weekly_slot);
  const weekly =
    weeklySlot?.ok === true
      ? t(lang, 'schedule.weekly', { weekday: weekdayName(locale, weeklySlot.slot.weekday), time: time(weeklySlot.slot.hour, weeklySlot.slot.minute), zone })
      : t(lang, 'schedule.weekly.unscheduled');

  const monthlySlot = list.monthly_slot === null ? undefined : parseMonthlySlot(list.monthly_slot);
  let monthly: string;
  if (monthlySlot?.ok !== true) monthly = t(lang, 'schedule.monthly.unscheduled');
  else {
    const { day, hour, minute } = monthlySlot.slot;
    // 31 is "the last day" (see next-slot.ts); 29 and 30 are that day where the month has it.
    monthly =
      day === LAST_MONTHLY_DAY
        ? t(lang, 'schedule.monthly.last', { time: time(hour, minute), zone })
        : t(lang, 'schedule.monthly', { day: dayOfMonth(lang, day), time: time(hour, minute), zone });
  }
  return { weekly, monthly };
}

function intlLocale(language: string): string {
  try {
    return Intl.getCanonicalLocales(language)[0] ?? 'en';
  } catch {
    return 'en';
  }
}

/** 1 = Monday … 7 = Sunday, as the slots number them. 2024-01-01 was a Monday. */
function weekdayName(locale: string, weekday: number): string {
  const date = new Date(Date.UTC(2024, 0, weekday));
  return new Intl.DateTimeFormat(locale, { weekday: 'long', timeZone: 'UTC' }).format(date);
}

/** "China Standard Time", "中国标准时间"; the IANA name where Intl has no better one. */
function zoneName(locale: string, timezone: string): string {
  // Intl calls UTC "GMT+00:00" in some languages; everyone reads "UTC".
  if (/^(Etc\/)?(UTC|UCT|Zulu|Universal)$/i.test(timezone)) return 'UTC';
  try {
    const part = new Intl.DateTimeFormat(locale, { timeZone: timezone, timeZoneName: 'longGeneric' })
      .formatToParts(new Date(Date.UTC(2024, 0, 15)))
      .find((p) => p.type === 'timeZoneName');
    return part?.value ?? timezone;
  } catch {
    return timezone;
  }
}

/** "1st", "22nd" in English; the bare number where the sentence carries its own word ("1 日"). */
function dayOfMonth(lang: 'en' | 'zh-CN', day: number): string {
  if (lang !== 'en') return String(day);
  const suffix: Record<string, string> = { one: 'st', two: 'nd', few: 'rd', other: 'th' };
  return `${day}${suffix[new Intl.PluralRules('en', { type: 'ordinal' }).select(day)] ?? 'th'}`;
}
