import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import type { List } from '../../src/db/schema';
import { AppError } from '../../src/errors';
import { createListFromInput } from '../../src/lists/service';
import { createQueues, type Queues } from '../../src/queues';
import { exportSubscribers } from '../../src/subscribers/export';
import { importSubscribers, type ImportOptions } from '../../src/subscribers/import/pipeline';
import { partitionOf } from '../../src/subscribers/import/rules';
import { createTestDb, type TestDb } from '../helpers/db';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let t: TestDb;
let queues: Queues;
let news: List;

/** The input in small chunks, so that records and CRLFs straddle chunk boundaries. */
function csv(text: string, chunk = 7): Readable {
  const bytes = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts);
}

function run(text: string, options: ImportOptions = {}, list = news.slug, chunk = 7) {
  return importSubscribers(t.db, queues, list, csv(text, chunk), options);
}

async function subscriptionOf(email: string, listId = news.id) {
  return t.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select(['s.id', 's.status', 's.cadence', 's.consent_source', 's.confirmed_at', 'p.name', 'p.email'])
    .where(sql<string>`lower(p.email)`, '=', email.toLowerCase())
    .where('s.list_id', '=', listId)
    .executeTakeFirst();
}

async function queuedConfirmations(): Promise<string[]> {
  const jobs = await queues.systemMail.getJobs(['waiting', 'delayed', 'active']);
  return jobs.filter((j) => j.data.kind === 'confirm').map((j) => j.data.subscriptionId);
}

async function eventCount(): Promise<number> {
  const { n } = await t.db
    .selectFrom('subscription_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(n);
}

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

beforeAll(async () => {
  t = await createTestDb();
  queues = createQueues(REDIS_URL, `bs-test-import-${randomBytes(4).toString('hex')}`, t.db);
  news = await createListFromInput(t.db, { slug: 'news', name: 'News', from: 'News <news@example.com>', contact: 'News, 1 Main Street' });
});

afterAll(async () => {
  await queues.systemMail.obliterate({ force: true });
  await queues.close();
  await t.drop();
});

describe('subscribers import', () => {
  // BOM, CRLF line ends, a quoted name over two lines, quoted commas and quotes, an empty line,
  // and one bad row of every kind, at known line numbers.
  const file =
    [
      '\uFEFFEmail,Name,Cadence,Status', //        line 1
      'ada@example.com,  Ada Lovelace  ,weekly,', // 2 good
      'grace@example.com,"Hopper, Grace",monthly', // 3 good (trailing column missing is fine)
      'foo,Foo,,', //                                4 invalid email
      'linus@example.com,"Linus ""T""', //           5 good, name spans lines 5-6
      'Torvalds",weekly,', //                        6
      'alan@example.com,Alan,daily,', //              7 unknown cadence
      '', //                                         8 empty: ignored
      'barbara@example.com,Barbara,weekly,vip', //     9 unknown status
      'ADA@Example.com,Ada again,,', //              10 duplicate of line 2, whatever the case
      'edsger@example.com,Edsger,weekly,,extra', //  11 too many fields
      ',No Address,,', //                            12 missing email
      'donald@example.com,Donald,,active', //         13 good
    ].join('\r\n') + '\r\n';

  let firstReport: Awaited<ReturnType<typeof run>>;

  it('keeps the good rows and reports the bad ones by line, with the reason', async () => {
    firstReport = await run(file);
    expect(firstReport.badLines).toEqual([
      { line: 4, reason: 'invalid email "foo"' },
      { line: 7, reason: 'unknown cadence "daily" (weekly or monthly)' },
      { line: 9, reason: 'unknown status "vip" (pending, active, unsubscribed, bounced, complained)' },
      { line: 10, reason: 'duplicate of line 2 ("ADA@Example.com")' },
      { line: 11, reason: '5 fields where the header has 4 (a comma in a name needs quotes)' },
      { line: 12, reason: 'missing email' },
    ]);
    expect(firstReport).toMatchObject({ rows: 10, imported: 4, updated: 0, unchanged: 0, skipped: 0, bad: 6, confirmationsQueued: 4 });
    expect(firstReport.stopped).toBeUndefined();

    expect(await subscriptionOf('ada@example.com')).toMatchObject({
      name: 'Ada Lovelace',
      status: 'pending',
      cadence: 'weekly',
      consent_source: 'import',
      confirmed_at: null,
    });
    expect(await subscriptionOf('grace@example.com')).toMatchObject({ name: 'Hopper, Grace', cadence: 'monthly' });
    expect(await subscriptionOf('linus@example.com')).toMatchObject({ name: 'Linus "T" Torvalds' });
    // "active" in the file without --confirmed: the editor has not vouched for consent.
    expect(await subscriptionOf('donald@example.com')).toMatchObject({ status: 'pending' });
    expect(await subscriptionOf('foo')).toBeUndefined();

    const ids = await Promise.all(['ada', 'grace', 'linus', 'donald'].map(async (n) => (await subscriptionOf(`${n}@example.com`))!.id));
    expect((await queuedConfirmations()).sort()).toEqual(ids.sort());
    const events = await t.db.selectFrom('subscription_events').selectAll().where('type', '=', 'imported').execute();
    expect(events).toHaveLength(4);
    expect(events.map((e) => e.data.import)).toEqual(Array(4).fill(firstReport.importId));
  });

  it('changes nothing when the same file is imported again', async () => {
    const events = await eventCount();
    const report = await run(file);
    expect(report).toMatchObject({ imported: 0, updated: 0, unchanged: 4, skipped: 0, bad: 6, confirmationsQueued: 0 });
    expect(report.badLines).toEqual(firstReport.badLines);
    expect(await eventCount()).toBe(events);
    expect(await queuedConfirmations()).toHaveLength(4);
  });

  it('never re-activates an unsubscribed or bounced subscription, and says so by line', async () => {
    await run('email\nquit@example.com\nbounce@example.com\npending@example.com\n', { confirmed: true });
    for (const [email, status] of [
      ['quit@example.com', 'unsubscribed'],
      ['bounce@example.com', 'bounced'],
    ] as const) {
      await t.db
        .updateTable('subscriptions')
        .set({ status })
        .where('id', '=', (await subscriptionOf(email))!.id)
        .execute();
    }
    await t.db
      .updateTable('subscriptions')
      .set({ status: 'pending', confirmed_at: null })
      .where('id', '=', (await subscriptionOf('pending@example.com'))!.id)
      .execute();

    const report = await run('email,name,cadence,status\nquit@example.com,Q,monthly,active\nBOUNCE@example.com,,,\npending@example.com,,,\n', {
      confirmed: true,
    });
    expect(report).toMatchObject({ imported: 0, updated: 1, skipped: 2, skippedReasons: { unsubscribed: 1, bounced: 1 } });
    expect(report.skippedLines).toEqual([
      { line: 2, reason: 'unsubscribed earlier; an import never re-subscribes anyone' },
      { line: 3, reason: 'bounced earlier; an import never re-subscribes anyone' },
    ]);
    expect(await subscriptionOf('quit@example.com')).toMatchObject({ status: 'unsubscribed', cadence: 'weekly' });
    expect(await subscriptionOf('bounce@example.com')).toMatchObject({ status: 'bounced' });
    // A pending subscription may be confirmed by the editor's --confirmed import.
    const confirmed = await subscriptionOf('pending@example.com');
    expect(confirmed?.status).toBe('active');
    expect(confirmed?.confirmed_at).toBeInstanceOf(Date);
  });

  it('stores suppression rows as such, moves active ones to them, and never demotes active to pending', async () => {
    const report = await run(
      'email,status\nnew-quit@example.com,unsubscribed\nnew-spam@example.com,complained\npending@example.com,\nada@example.com,bounced\n',
    );
    expect(report).toMatchObject({ imported: 2, updated: 1, unchanged: 1, confirmationsQueued: 0 });
    expect(await subscriptionOf('new-quit@example.com')).toMatchObject({ status: 'unsubscribed' });
    expect(await subscriptionOf('new-spam@example.com')).toMatchObject({ status: 'complained' });
    expect(await subscriptionOf('pending@example.com')).toMatchObject({ status: 'active' });
    expect(await subscriptionOf('ada@example.com')).toMatchObject({ status: 'bounced' });
  });

  it('fills in a missing name but keeps one already stored', async () => {
    await run('email\nnameless@example.com\n', { confirmed: true });
    const report = await run('email,name\nnameless@example.com,Now Named\ngrace@example.com,Someone Else\n', { confirmed: true });
    expect(report).toMatchObject({ updated: 2, unchanged: 0 });
    expect(await subscriptionOf('nameless@example.com')).toMatchObject({ name: 'Now Named', status: 'active' });
    // Grace was pending: --confirmed makes her active, but her name stays hers.
    expect(await subscriptionOf('grace@example.com')).toMatchObject({ name: 'Hopper, Grace', status: 'active' });
  });

  it('finds duplicates across batches, through the database rather than in memory', async () => {
    const report = await run('email\na1@example.com\na2@example.com\na3@example.com\nA1@EXAMPLE.COM\na4@example.com\na2@example.com\n', {
      confirmed: true,
      batchSize: 2,
    });
    expect(report.badLines).toEqual([
      { line: 5, reason: 'duplicate of line 2 ("A1@EXAMPLE.COM")' },
      { line: 7, reason: 'duplicate of line 3 ("a2@example.com")' },
    ]);
    expect(report.imported).toBe(4);
  });

  it('changes nothing when a file spanning several batches is imported again, whatever the batch size', async () => {
    // Every kind of row on both sides of batch boundaries: new, duplicate of an earlier batch,
    // bad, suppressed in the file, and a name that fills in nothing the second time.
    const rows = ['email,name,cadence,status'];
    for (let i = 0; i < 40; i++) {
      if (i % 9 === 8) rows.push(`B${i - 4}@Example.com,Again,,`);
      else if (i % 13 === 12) rows.push(`not-an-address-${i},,,`);
      else rows.push(`b${i}@example.com,B ${i},${i % 2 ? 'monthly' : 'weekly'},${i % 7 === 6 ? 'unsubscribed' : ''}`);
    }
    const file = rows.join('\n') + '\n';
    const first = await run(file, { confirmed: true, batchSize: 3 });
    expect(first.imported).toBe(40 - 4 - 3);
    expect(first.badLines.filter((l) => l.reason.startsWith('duplicate'))).toHaveLength(4);
    const events = await eventCount();
    const statuses = await t.db
      .selectFrom('subscriptions')
      .select(['id', 'status', 'cadence', 'updated_at'])
      .where('list_id', '=', news.id)
      .orderBy('id')
      .execute();
    for (const batchSize of [3, 7, 10_000]) {
      const again = await run(file, { confirmed: true, batchSize });
      expect(again).toMatchObject({ imported: 0, updated: 0, unchanged: 33, skipped: 0, bad: 7 });
      expect(again.badLines).toEqual(first.badLines);
    }
    expect(await eventCount()).toBe(events);
    expect(
      await t.db.selectFrom('subscriptions').select(['id', 'status', 'cadence', 'updated_at']).where('list_id', '=', news.id).orderBy('id').execute(),
    ).toEqual(statuses);
  });

  it('writes with two connections, each a partition of the addresses, as one connection does', async () => {
    // Every spelling of an address must go through one partition: its session finds the
    // duplicates, and the first line wins. Addresses of both partitions alternate through the
    // file, in batches of three, and one address comes back in many cases.
    const file = (prefix: string) => {
      const rows = ['email,name,cadence,status'];
      for (let i = 0; i < 60; i++) {
        if (i % 5 === 4) rows.push(`${prefix}Many@Example.com,Many ${i},monthly,`);
        else if (i % 7 === 6) rows.push(`${prefix.toUpperCase()}${i - 3}@EXAMPLE.COM,Again ${i},,`);
        else if (i % 11 === 10) rows.push(`not-an-address-${i},,,`);
        else rows.push(`${prefix}${i}@example.com,P ${i},${i % 2 ? 'monthly' : 'weekly'},${i % 9 === 8 ? 'unsubscribed' : ''}`);
      }
      rows.push(`${prefix}many@example.com,Many last,,`);
      return rows.join('\n') + '\n';
    };
    const partitionsUsed = new Set((parse(file('p2x'), { columns: true }) as Array<{ email: string }>).map((r) => partitionOf(r.email, 2)));
    expect(partitionsUsed).toEqual(new Set([0, 1]));
    const stored = async (prefix: string) =>
      (
        await t.db
          .selectFrom('subscriptions as s')
          .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
          .select(['p.email', 'p.name', 's.status', 's.cadence'])
          .where('s.list_id', '=', news.id)
          .where(sql<string>`lower(p.email)`, 'like', `${prefix}%`)
          .orderBy('p.email')
          .execute()
      ).map((r) => ({ ...r, email: r.email.slice(prefix.length) }));
    const comparable = (report: Awaited<ReturnType<typeof run>>, prefix: string) => ({
      ...report,
      importId: undefined,
      badLines: report.badLines.map((l) => ({ ...l, reason: l.reason.replace(new RegExp(prefix, 'gi'), '') })),
    });

    const one = await run(file('p1x'), { confirmed: true, batchSize: 3, connections: 1 });
    const two = await run(file('p2x'), { confirmed: true, batchSize: 3, connections: 2 });
    expect(comparable(two, 'p2x')).toEqual(comparable(one, 'p1x'));
    expect(two.badLines.filter((l) => l.reason.startsWith('duplicate of line 6 '))).toHaveLength(12);
    expect(two.badLines.map((l) => l.line)).toEqual([...two.badLines.map((l) => l.line)].sort((a, b) => a - b));
    expect(await stored('p2x')).toEqual(await stored('p1x'));
    expect(await subscriptionOf('p2xmany@example.com')).toMatchObject({ name: 'Many 4', cadence: 'monthly' });

    const events = await eventCount();
    const again = await run(file('p2x'), { confirmed: true, batchSize: 3, connections: 2 });
    expect(again).toMatchObject({ imported: 0, updated: 0, skipped: 0, unchanged: two.imported, bad: two.bad });
    expect(again.badLines).toEqual(two.badLines);
    expect(await eventCount()).toBe(events);
  });

  it('gives new rows time-ordered ids, in the order of the file', async () => {
    await run('email\nordered1@example.com\nordered2@example.com\nordered3@example.com\n', { confirmed: true, batchSize: 2 });
    const ids = await Promise.all([1, 2, 3].map(async (n) => (await subscriptionOf(`ordered${n}@example.com`))!.id));
    expect(ids.map((id) => id[14])).toEqual(['7', '7', '7']); // UUIDv7: appended to every index, not scattered
    expect([...ids].sort()).toEqual(ids);
  });

  it('refuses a file without a header, an empty file and an unknown list, with a message', async () => {
    await expect(run('ada@example.com,Ada\n')).rejects.toThrow(/missing header: line 1 must name the columns, like "email,name,cadence,status"/);
    await expect(run('')).rejects.toThrow(/the file is empty/);
    await expect(run('email,email\n')).rejects.toThrow(/names the column "email" twice/);
    await expect(run('email\n', {}, 'no-such-list')).rejects.toMatchObject({ code: 'not_found', message: 'no list "no-such-list"' });
    await expect(run('ada@example.com\n')).rejects.toBeInstanceOf(AppError);
  });

  it('stops at a quote that is never closed, after storing the rows before it', async () => {
    const report = await run('email,name\nq1@example.com,One\nq2@example.com,"Two\nq3@example.com,Three\n', { confirmed: true });
    expect(report.stopped).toEqual({ line: 3, message: 'a quoted field starting here is never closed; nothing after it was read' });
    expect(report.imported).toBe(1);
    expect(await subscriptionOf('q1@example.com')).toBeDefined();
    expect(await subscriptionOf('q3@example.com')).toBeUndefined();
  });

  it('reports a line that is not UTF-8, holds a NUL or is over 64 KB, and imports the rest of the file', async () => {
    // What an editor's spreadsheet can hand over: a row saved as Latin-1, a NUL in a name, a
    // runaway field (a quote never closed) longer than a row can be; the rows around them are good.
    const file = Buffer.concat([
      Buffer.from('email,name\nkeep1@example.com,Keep One\nlatin1@example.com,Zo'),
      Buffer.from([0xeb, 0x20]), // "Zoë " in Latin-1
      Buffer.from('Saldana\nkeep2@example.com,Keep Two\nnul@example.com,Nul\u0000Name\nkeep3@example.com,Keep Three\n'),
      Buffer.from(`huge@example.com,"${'x'.repeat(70 * 1024)}\n`),
      Buffer.from('keep4@example.com,Keep Four\nkeep5@example.com,"Real \ufffd replacement"\n'),
    ]);
    for (const chunk of [7, 64 * 1024]) {
      const parts: Buffer[] = [];
      for (let i = 0; i < file.length; i += chunk) parts.push(file.subarray(i, i + chunk));
      const report = await importSubscribers(t.db, queues, news.slug, Readable.from(parts), { confirmed: true });
      expect(report.stopped).toBeUndefined();
      expect(report.badLines).toEqual([
        { line: 3, reason: 'not valid UTF-8 text (save the file as "CSV UTF-8"); the line was left out' },
        { line: 5, reason: 'contains a NUL character (a zero byte), which no address or name holds; the line was left out' },
        { line: 7, reason: "longer than 64 KB (a subscriber's row is well under 1 KB; is a quote never closed?); the line was left out" },
      ]);
      expect(report).toMatchObject({ rows: 8, bad: 3 });
    }
    for (const n of [1, 2, 3, 4]) expect(await subscriptionOf(`keep${n}@example.com`)).toMatchObject({ status: 'active' });
    // A U+FFFD the file really holds is text like any other.
    expect(await subscriptionOf('keep5@example.com')).toMatchObject({ name: 'Real \ufffd replacement' });
    for (const left of ['latin1', 'nul', 'huge']) expect(await subscriptionOf(`${left}@example.com`)).toBeUndefined();
  });

  it('reads names in any script, even when a chunk ends in the middle of a character', async () => {
    const report = await importSubscribers(t.db, queues, news.slug, csv('email,name\nli@example.com,"  李小龍  Zoë "\n', 1), { confirmed: true });
    expect(report).toMatchObject({ imported: 1, bad: 0 });
    expect(await subscriptionOf('li@example.com')).toMatchObject({ name: '李小龍 Zoë' });
  });

  it('goes through a file of a million blank lines in moments, without holding up the event loop', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const started = Date.now();
    const report = await run('email\n' + '\n'.repeat(2 ** 20) + 'blank-lines@example.com\n', { confirmed: true }, undefined, 64 * 1024);
    clearInterval(timer);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(ticks).toBeGreaterThan(10); // other requests got their turns
    expect(report).toMatchObject({ rows: 1, imported: 1, bad: 0 });
    const badOne = await run('email\n' + '\n'.repeat(1000) + 'not-an-address\n', {}, undefined, 64 * 1024);
    expect(badOne.badLines).toEqual([{ line: 1002, reason: 'invalid email "not-an-address"' }]);
  });

  it('refuses input over maxBytes', async () => {
    await expect(run('email\n' + 'x@example.com\n'.repeat(100), { maxBytes: 200 })).rejects.toMatchObject({ code: 'payload_too_large' });
  });
});

describe('subscribers export', () => {
  it('writes every subscription of the list, all statuses, and imports again unchanged', async () => {
    await run('email,name\nformula@example.com,=HYPERLINK("http://evil")\n=1+2@example.com,\n', { confirmed: true });
    const text = await readAll(exportSubscribers(t.db, news.id, 3)); // small pages: the keyset paging is exercised
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    const total = await t.db
      .selectFrom('subscriptions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('list_id', '=', news.id)
      .executeTakeFirstOrThrow();
    expect(text.split('\n')[0]).toBe('email,name,cadence,status,created_at,confirmed_at');
    expect(rows).toHaveLength(Number(total.n));
    expect(new Set(rows.map((r) => r.email)).size).toBe(rows.length);
    expect(new Set(rows.map((r) => r.status))).toEqual(new Set(['pending', 'active', 'unsubscribed', 'bounced', 'complained']));
    expect(rows.find((r) => r.email === 'grace@example.com')).toMatchObject({ name: 'Hopper, Grace', cadence: 'monthly', status: 'active' });
    expect(rows.find((r) => r.email === 'formula@example.com')?.name).toBe('\'=HYPERLINK("http://evil")');
    // An address can start like a formula too (it is valid): it gets the same guard.
    expect(rows.map((r) => r.email)).toContain("'=1+2@example.com");
    expect(rows.map((r) => r.email)).not.toContain('=1+2@example.com');
    expect(rows.find((r) => r.email === 'grace@example.com')?.confirmed_at).toMatch(/^\d{4}-\d\d-\d\dT/);

    // The export is an import file: into another list it recreates the same statuses and names.
    const copy = await createListFromInput(t.db, { slug: 'copy', name: 'Copy', from: 'copy@example.com', contact: 'Copy, 1 Main Street' });
    const report = await importSubscribers(t.db, queues, 'copy', Readable.from([text]), { confirmed: true });
    expect(report).toMatchObject({ imported: rows.length, bad: 0, ignoredColumns: ['created_at', 'confirmed_at'] });
    const again = parse(await readAll(exportSubscribers(t.db, copy.id)), { columns: true }) as Record<string, string>[];
    const strip = (r: Record<string, string>) => [r.email, r.name, r.cadence, r.status].join('|');
    expect(again.map(strip).sort()).toEqual(rows.map(strip).sort());
  });

  it('releases its connection when the consumer stops reading early', async () => {
    // More abandoned exports than the pool has connections: a leak would block the query below.
    for (let i = 0; i < 8; i++) {
      const stream = exportSubscribers(t.db, news.id, 1);
      for await (const chunk of stream) {
        expect(String(chunk)).toContain('email,name');
        break; // destroys the stream
      }
    }
    // Every connection went back to the pool: as many parallel queries as the pool holds all answer.
    const answers = await Promise.all(Array.from({ length: 5 }, () => sql<{ open: string }>`SELECT count(*) AS open FROM pg_cursors`.execute(t.db)));
    expect(answers.map((a) => Number(a.rows[0]!.open))).toEqual([0, 0, 0, 0, 0]);
  }, 10000);
});
