import { sql } from 'kysely';
import { migrateToLatest } from '../../src/db/database';
import { createEmptyTestDb, type TestDb } from '../helpers/db';

let t: TestDb;
beforeAll(async () => {
  // Migrated here, not cloned from the tests' template: this file proves the migrations run.
  t = await createEmptyTestDb();
  await migrateToLatest(t.db);
});
afterAll(() => t.drop());

test('migrations create the tables and the case-insensitive email index', async () => {
  const tables = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`.execute(t.db);
  expect(tables.rows.map((r) => r.table_name)).toEqual(
    expect.arrayContaining(['forgotten_emails', 'lists', 'subscribers', 'subscription_events', 'subscriptions']),
  );
  await t.db.insertInto('subscribers').values({ email: 'Ada@Example.org' }).execute();
  await expect(t.db.insertInto('subscribers').values({ email: 'ada@example.ORG' }).execute()).rejects.toThrow(/unique/);
});

test('the event log is append-only', async () => {
  const list = await t.db.insertInto('lists').values({ slug: 'l', name: 'L', from_address: 'a@b.c' }).returning('id').executeTakeFirstOrThrow();
  const sub = await t.db.selectFrom('subscribers').select('id').executeTakeFirstOrThrow();
  const s = await t.db
    .insertInto('subscriptions')
    .values({ list_id: list.id, subscriber_id: sub.id, status: 'pending', consent_source: 'form' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await t.db.insertInto('subscription_events').values({ subscription_id: s.id, type: 'subscribed' }).execute();
  await expect(sql`UPDATE subscription_events SET type = 'confirmed'`.execute(t.db)).rejects.toThrow(/append-only/);
});
