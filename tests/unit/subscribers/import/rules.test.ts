import { partitionOf, planRow, readHeader, readRow, requestedStatus, type Header } from '../../../../src/subscribers/import/rules';

const header: Header = readHeader(['Email', 'Name', 'Cadence', 'Status'], 1);
const row = (...fields: string[]) => readRow(fields, header, 7);

describe('readHeader', () => {
  it('finds the columns in any order and case, and lists the ones it ignores', () => {
    expect(readHeader(['status', ' EMAIL ', 'created_at'], 1)).toEqual({ columns: { status: 0, email: 1 }, length: 3, ignored: ['created_at'] });
  });
  it('refuses a header without email, or naming a column twice, saying which line', () => {
    expect(() => readHeader(['ada@example.com', 'Ada'], 3)).toThrow(/missing header: line 3 must name the columns/);
    expect(() => readHeader(['email', 'Email'], 1)).toThrow('line 1: the header names the column "email" twice');
  });
});

describe('readRow', () => {
  it('keeps a good row with its line, trimmed, cadence and status read case-insensitively', () => {
    expect(row(' ada@example.com ', '  Ada   Lovelace ', 'Monthly', 'ACTIVE')).toEqual({
      line: 7,
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      cadence: 'monthly',
      status: 'active',
    });
    expect(row('ada@example.com')).toMatchObject({ name: '', cadence: undefined, status: undefined });
  });

  it('gives the reason for each kind of bad row', () => {
    expect(row('', 'No Address')).toBe('missing email');
    expect(row('foo', 'Foo')).toBe('invalid email "foo"');
    expect(row('a@example.com', '', 'daily')).toBe('unknown cadence "daily" (weekly or monthly)');
    expect(row('a@example.com', '', '', 'vip')).toBe('unknown status "vip" (pending, active, unsubscribed, bounced, complained)');
    expect(row('a@example.com', 'x', 'weekly', '', 'extra')).toBe('5 fields where the header has 4 (a comma in a name needs quotes)');
    expect(row('a@example.com', 'x'.repeat(201))).toBe('name longer than 200 characters');
  });

  it('applies the subscribe form’s rules: line breaks and control characters become one space, direction controls are refused', () => {
    expect(row('a@example.com', 'Linus\r\n"T"\u0007 Torvalds')).toMatchObject({ name: 'Linus "T" Torvalds' });
    expect(row('a@example.com', 'Ada \u202eecalevol')).toBe('name contains right-to-left or other direction control characters');
    expect(row('moc.elpmaxe\u202e@example.org')).toBe('invalid email "moc.elpmaxe\u202e@example.org"');
  });

  it('takes off the apostrophe the export puts before a formula, in names and addresses', () => {
    expect(row("'=1+2@example.com", '\'=HYPERLINK("x")')).toMatchObject({ email: '=1+2@example.com', name: '=HYPERLINK("x")' });
    expect(row('a@example.com', "O'Brien")).toMatchObject({ name: "O'Brien" });
  });
});

describe('requestedStatus', () => {
  it('is active only when the editor vouches for consent (--confirmed), pending otherwise', () => {
    expect(requestedStatus(undefined, false)).toBe('pending');
    expect(requestedStatus('active', false)).toBe('pending');
    expect(requestedStatus(undefined, true)).toBe('active');
    expect(requestedStatus('pending', true)).toBe('pending');
  });
  it('keeps a suppression status as written, confirmed or not', () => {
    for (const status of ['unsubscribed', 'bounced', 'complained'] as const) {
      expect(requestedStatus(status, false)).toBe(status);
      expect(requestedStatus(status, true)).toBe(status);
    }
  });
});

describe('planRow', () => {
  it('inserts a new address with the wanted status, weekly unless the row says otherwise', () => {
    expect(planRow(undefined, { wanted: 'pending', cadence: undefined })).toEqual({ kind: 'insert', status: 'pending', cadence: 'weekly' });
    expect(planRow(undefined, { wanted: 'unsubscribed', cadence: 'monthly' })).toEqual({ kind: 'insert', status: 'unsubscribed', cadence: 'monthly' });
  });

  it('never re-activates a suppressed subscription, and says why', () => {
    expect(planRow({ status: 'unsubscribed', cadence: 'weekly' }, { wanted: 'active', cadence: 'monthly' })).toEqual({ kind: 'skip', reason: 'unsubscribed' });
    expect(planRow({ status: 'bounced', cadence: 'weekly' }, { wanted: 'pending', cadence: undefined })).toEqual({ kind: 'skip', reason: 'bounced' });
    expect(planRow({ status: 'complained', cadence: 'weekly' }, { wanted: 'bounced', cadence: undefined })).toEqual({ kind: 'unchanged' });
  });

  it('confirms a pending one with --confirmed but never demotes an active one to pending', () => {
    expect(planRow({ status: 'pending', cadence: 'weekly' }, { wanted: 'active', cadence: undefined })).toEqual({
      kind: 'update',
      status: 'active',
      cadence: 'weekly',
      from: 'pending',
    });
    expect(planRow({ status: 'active', cadence: 'weekly' }, { wanted: 'pending', cadence: undefined })).toEqual({ kind: 'unchanged' });
    expect(planRow({ status: 'active', cadence: 'weekly' }, { wanted: 'pending', cadence: 'monthly' })).toEqual({
      kind: 'update',
      status: 'active',
      cadence: 'monthly',
      from: 'active',
    });
  });

  it('moves any receiving subscription to a suppressed status (less mail is always allowed)', () => {
    expect(planRow({ status: 'active', cadence: 'monthly' }, { wanted: 'bounced', cadence: undefined })).toEqual({
      kind: 'update',
      status: 'bounced',
      cadence: 'monthly',
      from: 'active',
    });
  });
});

describe('partitionOf', () => {
  it('puts every spelling PostgreSQL could lower() to one address in the same partition', () => {
    const spellings = [
      'kim.idle@example.com',
      'KIM.IDLE@EXAMPLE.COM',
      'Kim.Idle@Example.Com',
      '\u212Aim.idle@example.com', // Kelvin sign: lower() gives k in some locales
      'k\u0130m.\u0130dle@example.com', // dotted capital I: lower() gives i in some locales
    ];
    for (const n of [2, 3, 4]) expect(new Set(spellings.map((e) => partitionOf(e, n)))).toEqual(new Set([partitionOf(spellings[0]!, n)]));
  });

  it('spreads addresses evenly', () => {
    const counts = [0, 0];
    for (let i = 0; i < 10_000; i++) counts[partitionOf(`reader${i}@example.com`, 2)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(4500);
    const names = ['ada', 'grace', 'linus', 'alan', 'barbara', 'donald', 'edsger', 'john', 'mary', 'tom', 'sam', 'eve'];
    const used = new Set(names.map((n) => partitionOf(`${n}@example.org`, 2)));
    expect(used.size).toBe(2);
  });
});
