import { DateTime } from 'luxon';

/** Words and numbers as the desk shows them. */

/** A moment in a list's zone, with the zone named: "Mon 7 Dec 2026, 09:00 (Europe/Berlin)". */
export function inZone(at: Date, zone: string): string {
  return `${DateTime.fromJSDate(at, { zone }).toFormat('ccc d LLL yyyy, HH:mm')} (${zone})`;
}

/** 1234567 → "1,234,567". */
export function count(n: number): string {
  return n.toLocaleString('en-GB');
}

/** "1 issue", "3 issues". */
export function plural(n: number, word: string, words = `${word}s`): string {
  return `${count(n)} ${n === 1 ? word : words}`;
}

/** A URL path segment. */
export const seg = encodeURIComponent;
