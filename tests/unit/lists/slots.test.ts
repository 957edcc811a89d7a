import { formatMonthlySlot, formatWeeklySlot, parseMonthlySlot, parseWeeklySlot } from '../../../src/lists/slots';

describe('parseWeeklySlot', () => {
  it.each([
    ['mon 09:00', { weekday: 1, hour: 9, minute: 0 }],
    ['sun 23:59', { weekday: 7, hour: 23, minute: 59 }],
    ['  Friday   7:30 ', { weekday: 5, hour: 7, minute: 30 }],
    ['WED 00:00', { weekday: 3, hour: 0, minute: 0 }],
  ])('reads %j', (text, slot) => {
    expect(parseWeeklySlot(text)).toEqual({ ok: true, slot });
  });

  it.each([
    ['mon', /weekly slot is a day and a 24-hour time/],
    ['mon 09:00 extra', /weekly slot is a day/],
    ['mo 09:00', /unknown day "mo"/],
    ['mon 24:00', /invalid time "24:00"/],
    ['mon 09:60', /invalid time "09:60"/],
    ['mon 9', /invalid time "9"/],
    ['1 09:00', /unknown day "1"/],
    ['', /weekly slot is a day/],
  ])('refuses %j', (text, message) => {
    const result = parseWeeklySlot(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(message);
  });

  it('formats canonically, so that parse(format(x)) is x', () => {
    const parsed = parseWeeklySlot('Saturday 6:05');
    if (!parsed.ok) throw new Error(parsed.message);
    expect(formatWeeklySlot(parsed.slot)).toBe('sat 06:05');
    expect(parseWeeklySlot(formatWeeklySlot(parsed.slot))).toEqual(parsed);
  });
});

describe('parseMonthlySlot', () => {
  it.each([
    ['1 09:00', { day: 1, hour: 9, minute: 0 }],
    ['28 18:45', { day: 28, hour: 18, minute: 45 }],
    // Past a short month's end means its last day (schedules/next-slot.ts), so 29–31 are fine.
    ['31 09:00', { day: 31, hour: 9, minute: 0 }],
    ['05 7:00', { day: 5, hour: 7, minute: 0 }],
  ])('reads %j', (text, slot) => {
    expect(parseMonthlySlot(text)).toEqual({ ok: true, slot });
  });

  it.each([
    ['0 09:00', /from 1 to 31/],
    ['32 09:00', /from 1 to 31/],
    ['mon 09:00', /from 1 to 31/],
    ['1.5 09:00', /from 1 to 31/],
    ['1 25:00', /invalid time/],
    ['1', /monthly slot is a day of the month/],
  ])('refuses %j', (text, message) => {
    const result = parseMonthlySlot(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(message);
  });

  it('formats canonically', () => {
    expect(formatMonthlySlot({ day: 3, hour: 9, minute: 5 })).toBe('3 09:05');
  });
});
