import {
  lastMonthlySlot,
  nextMonthlySlot,
  nextWeeklySlot,
  parseMonth,
  parseScheduleTime,
  previousMonth,
  wallTimeToInstant,
} from '../../../src/schedules/next-slot';

// The clock is always an argument: each case names the instant "now" is.
const at = (iso: string) => new Date(iso);
const iso = (d: Date) => d.toISOString();

const MON_0900 = { weekday: 1, hour: 9, minute: 0 };
const SUN_0230 = { weekday: 7, hour: 2, minute: 30 };

describe('nextWeeklySlot in Europe/Berlin (CET +01:00, CEST +02:00)', () => {
  const zone = 'Europe/Berlin';

  it('is later the same day when the slot has not passed, next week when it has', () => {
    expect(iso(nextWeeklySlot(MON_0900, zone, at('2026-01-05T07:59:00Z')))).toBe('2026-01-05T08:00:00.000Z');
    expect(iso(nextWeeklySlot(MON_0900, zone, at('2026-01-05T08:00:00Z')))).toBe('2026-01-12T08:00:00.000Z');
    expect(iso(nextWeeklySlot(MON_0900, zone, at('2026-01-06T12:00:00Z')))).toBe('2026-01-12T08:00:00.000Z');
  });

  it('stays at 09:00 local across spring forward (29 March 2026): the offset changes, the wall time does not', () => {
    // Monday 23 March 09:00 CET = 08:00Z; Monday 30 March 09:00 CEST = 07:00Z.
    expect(iso(nextWeeklySlot(MON_0900, zone, at('2026-03-23T08:00:00Z')))).toBe('2026-03-30T07:00:00.000Z');
  });

  it('stays at 09:00 local across fall back (25 October 2026)', () => {
    // Monday 19 October 09:00 CEST = 07:00Z; Monday 26 October 09:00 CET = 08:00Z.
    expect(iso(nextWeeklySlot(MON_0900, zone, at('2026-10-19T07:00:00Z')))).toBe('2026-10-26T08:00:00.000Z');
  });

  it('puts a slot in the skipped hour at the first valid minute after it (02:30 → 03:00 CEST)', () => {
    // 29 March 2026: clocks go from 02:00 CET to 03:00 CEST (01:00Z). 02:30 never happens.
    const fired = nextWeeklySlot(SUN_0230, zone, at('2026-03-28T12:00:00Z'));
    expect(iso(fired)).toBe('2026-03-29T01:00:00.000Z');
    // And the week after is back to 02:30 CEST.
    expect(iso(nextWeeklySlot(SUN_0230, zone, fired))).toBe('2026-04-05T00:30:00.000Z');
  });

  it('fires a slot in the repeated hour once, at its first occurrence', () => {
    // 25 October 2026: 02:00–03:00 happens twice (00:00Z–01:00Z at +02:00, 01:00Z–02:00Z at +01:00).
    const first = nextWeeklySlot(SUN_0230, zone, at('2026-10-24T12:00:00Z'));
    expect(iso(first)).toBe('2026-10-25T00:30:00.000Z');
    // From the first occurrence, and from inside the repeat, the next one is a week later:
    // the second 02:30 of that night is not a slot of its own.
    expect(iso(nextWeeklySlot(SUN_0230, zone, first))).toBe('2026-11-01T01:30:00.000Z');
    expect(iso(nextWeeklySlot(SUN_0230, zone, at('2026-10-25T01:15:00Z')))).toBe('2026-11-01T01:30:00.000Z');
  });
});

describe('nextWeeklySlot in America/New_York (EST −05:00, EDT −04:00)', () => {
  const zone = 'America/New_York';

  it('keeps 09:00 local across both changes of 2026 (8 March, 1 November)', () => {
    expect(iso(nextWeeklySlot(MON_0900, zone, at('2026-03-02T14:00:00Z')))).toBe('2026-03-09T13:00:00.000Z');
    expect(iso(nextWeeklySlot(MON_0900, zone, at('2026-10-26T13:00:00Z')))).toBe('2026-11-02T14:00:00.000Z');
  });

  it('moves a slot in the skipped hour (Sunday 8 March 02:30) to 03:00 EDT', () => {
    expect(iso(nextWeeklySlot(SUN_0230, zone, at('2026-03-07T12:00:00Z')))).toBe('2026-03-08T07:00:00.000Z');
  });

  it('fires a slot in the repeated hour (Sunday 1 November 01:30) once', () => {
    const slot = { weekday: 7, hour: 1, minute: 30 };
    const first = nextWeeklySlot(slot, zone, at('2026-10-31T12:00:00Z'));
    expect(iso(first)).toBe('2026-11-01T05:30:00.000Z'); // 01:30 EDT
    expect(iso(nextWeeklySlot(slot, zone, first))).toBe('2026-11-08T06:30:00.000Z'); // a week on, 01:30 EST
  });
});

describe('nextWeeklySlot in Asia/Shanghai (no daylight saving: +08:00 all year)', () => {
  const zone = 'Asia/Shanghai';

  it('is the same UTC time every week through the dates other zones change', () => {
    let now = at('2026-03-01T00:00:00Z');
    const fired: string[] = [];
    for (let i = 0; i < 40; i++) {
      now = nextWeeklySlot(MON_0900, zone, now);
      fired.push(iso(now));
    }
    expect(new Set(fired.map((s) => s.slice(10))).size).toBe(1);
    expect(fired[0]).toBe('2026-03-02T01:00:00.000Z');
    // Every step is exactly seven days, including across late March and late October.
    for (let i = 1; i < fired.length; i++) {
      expect(Date.parse(fired[i]!) - Date.parse(fired[i - 1]!)).toBe(7 * 24 * 3600_000);
    }
  });

  it('02:30 exists every day, so nothing moves', () => {
    expect(iso(nextWeeklySlot(SUN_0230, zone, at('2026-03-28T12:00:00Z')))).toBe('2026-03-28T18:30:00.000Z');
  });
});

describe('monthly slots', () => {
  it("a day past the month's end means its last day: the 31st in February, April, and a leap year", () => {
    const slot = { day: 31, hour: 9, minute: 0 };
    const zone = 'Europe/Berlin';
    let now = at('2026-01-31T08:00:00Z'); // exactly the January slot: the next is February's
    const fired: string[] = [];
    for (let i = 0; i < 4; i++) {
      now = nextMonthlySlot(slot, zone, now);
      fired.push(iso(now));
    }
    expect(fired).toEqual([
      '2026-02-28T08:00:00.000Z',
      '2026-03-31T07:00:00.000Z', // after spring forward: 09:00 CEST
      '2026-04-30T07:00:00.000Z',
      '2026-05-31T07:00:00.000Z',
    ]);
    expect(iso(nextMonthlySlot(slot, zone, at('2028-02-01T00:00:00Z')))).toBe('2028-02-29T08:00:00.000Z');
    expect(iso(nextMonthlySlot({ day: 30, hour: 9, minute: 0 }, 'Asia/Shanghai', at('2026-02-01T00:00:00Z')))).toBe('2026-02-28T01:00:00.000Z');
  });

  it("the first of the month at 09:00, in the list's zone, across the year's turn", () => {
    const slot = { day: 1, hour: 9, minute: 0 };
    expect(iso(nextMonthlySlot(slot, 'Asia/Shanghai', at('2026-12-15T00:00:00Z')))).toBe('2027-01-01T01:00:00.000Z');
    // 1 January 00:30 in Shanghai is still 31 December in UTC: the local date decides.
    expect(iso(nextMonthlySlot(slot, 'Asia/Shanghai', at('2026-12-31T16:30:00Z')))).toBe('2027-01-01T01:00:00.000Z');
  });

  it('lastMonthlySlot is the latest slot at or before now, with its month', () => {
    const slot = { day: 1, hour: 9, minute: 0 };
    expect(lastMonthlySlot(slot, 'Europe/Berlin', at('2026-03-01T08:00:00Z'))).toEqual({ at: at('2026-03-01T08:00:00Z'), year: 2026, month: 3 });
    expect(lastMonthlySlot(slot, 'Europe/Berlin', at('2026-03-01T07:59:59Z'))).toEqual({ at: at('2026-02-01T08:00:00Z'), year: 2026, month: 2 });
    expect(lastMonthlySlot(slot, 'Europe/Berlin', at('2026-01-01T07:00:00Z'))).toEqual({ at: at('2025-12-01T08:00:00Z'), year: 2025, month: 12 });
    expect(previousMonth(2026, 1)).toEqual({ year: 2025, month: 12 });
  });
});

describe('wallTimeToInstant', () => {
  it('covers a zone whose gap is half an hour (Australia/Lord_Howe, 5 October 2025 02:00 → 02:30)', () => {
    expect(iso(wallTimeToInstant({ year: 2025, month: 10, day: 5 }, 2, 15, 'Australia/Lord_Howe'))).toBe('2025-10-04T15:30:00.000Z');
  });
});

describe('parseScheduleTime', () => {
  it('takes an explicit offset as that instant', () => {
    expect(iso(parseScheduleTime('2026-12-07T09:00:00+01:00', 'Asia/Shanghai'))).toBe('2026-12-07T08:00:00.000Z');
    expect(iso(parseScheduleTime('2026-12-07T09:00Z', 'Asia/Shanghai'))).toBe('2026-12-07T09:00:00.000Z');
  });

  it("reads a time without offset in the list's zone", () => {
    expect(iso(parseScheduleTime('2026-12-07T09:00', 'Asia/Shanghai'))).toBe('2026-12-07T01:00:00.000Z');
    expect(iso(parseScheduleTime('2026-07-07 09:00', 'Europe/Berlin'))).toBe('2026-07-07T07:00:00.000Z');
    expect(iso(parseScheduleTime('2026-07-07T09:00:30', 'Europe/Berlin'))).toBe('2026-07-07T07:00:30.000Z');
  });

  it('refuses what is not a time', () => {
    expect(() => parseScheduleTime('next monday', 'UTC')).toThrow(/is not a time/);
    expect(() => parseScheduleTime('2026-02-30T09:00', 'UTC')).toThrow(/is not a time/);
    expect(() => parseMonth('2026-13')).toThrow(/is not a month/);
  });
});
