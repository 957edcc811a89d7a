import { DateTime } from 'luxon';

/**
 * A moment as an editor reads it: in the list's time zone (where its slots are planned), with
 * the zone named, so that "09:00" is never a guess between the server's clock, UTC and the
 * list's. Every time the CLI prints goes through here; data formats (CSV exports, JSON of the
 * API, "my data") keep ISO 8601 instants instead.
 *
 *   when   Thu 2026-12-31 09:00 Europe/Berlin   (the default)
 *   day    2026-12-31 Europe/Berlin
 *   clock  09:00 Europe/Berlin                  (within a line that gave the day already)
 *
 * A zone luxon does not know (a list row from before zones were checked) falls back to UTC,
 * named as such: a wrong zone never passes for the right one.
 */
export type TimeStyle = 'when' | 'day' | 'clock';

const FORMATS: Record<TimeStyle, string> = { when: 'ccc yyyy-LL-dd HH:mm', day: 'yyyy-LL-dd', clock: 'HH:mm' };

export function inZone(at: Date, zone: string, style: TimeStyle = 'when'): string {
  let local = DateTime.fromJSDate(at, { zone });
  let name = zone;
  if (!local.isValid) {
    local = DateTime.fromJSDate(at, { zone: 'utc' });
    name = 'UTC';
  }
  // English weekday names whatever the machine's locale: the CLI's words are English.
  return `${local.setLocale('en').toFormat(FORMATS[style])} ${name}`;
}
