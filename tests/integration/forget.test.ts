import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { createListFromInput } from '../../src/lists/service';
import { createQueues, type Queues } from '../../src/queues';
import { forgetSubscriber, unforgetAddress } from '../../src/subscribers/forget';
import { importSubscribers } from '../../src/subscribers/import/pipeline';
import { appendEvent, emailHash, isForgotten } from '../../src/subscribers/repository';
import { createTestDb, type TestDb } from '../helpers/db';

let t: TestDb;
let queues: Queues;

beforeAll(async () => {
  t = await createTestDb();
  queues = createQueues(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', `bs-test-forget-${randomBytes(4).toString('hex')}`, t.db);
  await createListFromInput(t.db, { slug: 'weekly', name: 'Weekly', from: 'weekly@example.com', contact: 'Weekly, 1 Main Street' });
  await createListFromInput(t.db, { slug: 'monthly', name: 'Monthly', from: 'monthly@example.com', contact: 'Monthly, 1 Main Street' });
});

afterAll(async () => {
  await queues.systemMail.obliterate({ force: true });
  await queues.close();
  await t.drop();
});

function importCsv(list: string, text: string) {
  return importSubscribers(t.db, queues, list, Readable.from([text]), { confirmed: true });
}

async function count(table: 'subscribers' | 'subscriptions' | 'subscription_events' | 'forgotten_emails'): Promise<number> {
  const { n } = await t.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(n);
}

describe('forgetSubscriber', () => {
  it('erases the subscriber, their subscriptions on every list and all their events, keeping only a hash', async () => {
    await importCsv('weekly', 'email,name\nErin@Example.com,Erin\nkeep@example.com,Keep\n');
    await importCsv('monthly', 'email,name\nerin@example.com,Erin\n');
    const erin = await t.db
      .selectFrom('subscriptions as s')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .select(['s.id', 's.subscriber_id'])
      .where('p.email', '=', 'Erin@Example.com')
      .execute();
    expect(erin).toHaveLength(2);
    await appendEvent(t.db, erin[0]!.id, 'preferences_changed', { cadence: 'monthly' });
    expect(await count('subscription_events')).toBe(4);

    // Another case and stray spaces: the address is the same person.
    const result = await forgetSubscriber(t.db, '  ERIN@example.COM ');
    expect(result).toEqual({ found: true, subscriptions: 2 });

    expect(await t.db.selectFrom('subscribers').select('id').where('id', '=', erin[0]!.subscriber_id).execute()).toEqual([]);
    expect(
      await t.db
        .selectFrom('subscriptions')
        .select('id')
        .where(
          'id',
          'in',
          erin.map((s) => s.id),
        )
        .execute(),
    ).toEqual([]);
    expect(
      await t.db
        .selectFrom('subscription_events')
        .select('id')
        .where(
          'subscription_id',
          'in',
          erin.map((s) => s.id),
        )
        .execute(),
    ).toEqual([]);
    // Nobody else was touched.
    expect(await count('subscribers')).toBe(1);
    expect(await count('subscriptions')).toBe(1);
    expect(await count('subscription_events')).toBe(1);

    // Only the hash is left, and nothing in the database contains the address any more.
    const kept = await t.db.selectFrom('forgotten_emails').selectAll().execute();
    expect(kept.map((k) => k.email_hash)).toEqual([emailHash('erin@example.com')]);
    expect(await isForgotten(t.db, 'Erin@Example.com')).toBe(true);
    const dump = await sql<{ text: string }>`
      SELECT string_agg(row_to_json(x)::text, '') AS text FROM (
        SELECT email, name FROM subscribers UNION ALL SELECT data::text, type FROM subscription_events
      ) x`.execute(t.db);
    expect(dump.rows[0]?.text?.toLowerCase() ?? '').not.toContain('erin');
  });

  it('refuses to import a forgotten address again and reports the line as skipped', async () => {
    const report = await importCsv('weekly', 'email,name\nnew@example.com,New\nerin@EXAMPLE.com,Erin\n');
    expect(report).toMatchObject({ imported: 1, skipped: 1, skippedReasons: { forgotten: 1 } });
    expect(report.skippedLines).toEqual([{ line: 3, reason: 'erased at their request (subscribers forget); never imported again' }]);
    expect(
      await t.db
        .selectFrom('subscribers')
        .select('id')
        .where(sql<string>`lower(email)`, '=', 'erin@example.com')
        .execute(),
    ).toEqual([]);
  });

  it('refuses an address not on file (issue 13: a typo must not block an address for ever); --even-if-unknown records it once; --undo lifts it', async () => {
    await expect(forgetSubscriber(t.db, 'typo@example.com')).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('no subscriber with the address'),
    });
    expect(await isForgotten(t.db, 'typo@example.com')).toBe(false);
    const before = await count('forgotten_emails');
    expect(await forgetSubscriber(t.db, 'never@example.com', { evenIfUnknown: true })).toEqual({ found: false, subscriptions: 0 });
    expect(await forgetSubscriber(t.db, 'never@example.com', { evenIfUnknown: true })).toEqual({ found: false, subscriptions: 0 });
    expect(await isForgotten(t.db, 'never@example.com')).toBe(true);
    expect(await count('forgotten_emails')).toBe(before + 1);
    const blocked = await importCsv('weekly', 'email\nnever@example.com\n');
    expect(blocked).toMatchObject({ imported: 0, skipped: 1 });
    expect(await unforgetAddress(t.db, 'Never@Example.com')).toBe(true);
    expect(await unforgetAddress(t.db, 'never@example.com')).toBe(false);
    expect(await importCsv('weekly', 'email\nnever@example.com\n')).toMatchObject({ imported: 1 });
    await expect(forgetSubscriber(t.db, 'not-an-address')).rejects.toMatchObject({ code: 'invalid_input' });
  });
});
