import { Readable } from 'node:stream';
import { Migrator, sql } from 'kysely';
import { migrations } from '../../migrations';
import { deliveryTally, foldPiledUpCounters, subscriptionTallies } from '../../src/db/counters';
import { createDb, migrateToLatest } from '../../src/db/database';
import type { List } from '../../src/db/schema';
import { countByStatus } from '../../src/lists/repository';
import { createListFromInput } from '../../src/lists/service';
import { cancelSend } from '../../src/sending/control';
import { countRecipients, liveProgress } from '../../src/sending/report';
import { markBounced } from '../../src/subscribers/bounce';
import { forgetSubscriber } from '../../src/subscribers/forget';
import { importSubscribers } from '../../src/subscribers/import/pipeline';
import { expirePendingSubscriptions } from '../../src/subscribers/pending';
import { changePreferences, pause, resume, unsubscribe } from '../../src/subscribers/preferences';
import { confirm, subscribe, type SubscriberDeps } from '../../src/subscribers/service';
import { createTestDb } from '../helpers/db';
import { sendAction } from '../../src/sending/editor';
import { addSubscribers, insertIssue, smallIssue, startWorld, waitForSendStatus, type World } from '../helpers/world';

/**
 * The desk reads subscriber and delivery counts from counters that PostgreSQL keeps with
 * triggers (migration 2026-12-07-30-01). Here every path that changes a subscription or a
 * delivery runs, and after each the counters must equal a COUNT(*) of the rows.
 */

let world: World;
let other: List;
let deps: SubscriberDeps;

beforeAll(async () => {
  world = await startWorld({
    onRcpt: (a) => (a.startsWith('gone-') ? { code: 550, message: '5.1.1 no such user' } : undefined),
    // The workers' repair pass folds the counters too. On its own timer (every second in a test
    // world) it folded at moments nobody chose: the fold test's read then sometimes found fewer
    // rows than it folds at, and left 23 or 61 where a fold leaves 20 at most. Here it runs
    // once, at start; this file folds beside the writers where it means to (foldPiledUpCounters).
    config: { repairIntervalMs: 60 * 60_000 },
    // Batches of 10: the send's 43 readers still make several batch jobs recording at once.
    env: { SEND_BATCH_SIZE: '10' },
  });
  other = await createListFromInput(world.db, { slug: 'other', name: 'Other', from: 'other@example.org', contact: 'Other, 1 Main Street' });
  // No confirmation emails: the address budget says no, as it does past three an hour.
  deps = { db: world.db, config: world.config, queues: world.queues, limits: { takeClient: async () => ({ ok: true }), takeAddress: async () => false } };
}, 60_000);
afterAll(() => world.close());

async function expectCountersRight(step: string): Promise<void> {
  const counted = await sql<{ list_id: string; status: string; cadence: string; paused: boolean; n: string }>`
    SELECT list_id, status, cadence, paused, count(*) AS n FROM subscriptions GROUP BY 1, 2, 3, 4`.execute(world.db);
  const lists = (await world.db.selectFrom('lists').select('id').execute()).map((l) => l.id);
  const tallies = await subscriptionTallies(world.db, lists);
  const fromCounters = lists.flatMap((id) => tallies.get(id)!.map((t) => `${id} ${t.status} ${t.cadence} ${t.paused}: ${t.n}`)).sort();
  const fromRows = counted.rows.map((r) => `${r.list_id} ${r.status} ${r.cadence} ${r.paused}: ${r.n}`).sort();
  expect({ step, counts: fromCounters }).toEqual({ step, counts: fromRows });

  const deliveries = await sql<{ send_id: string; status: string; n: string }>`
    SELECT s.id AS send_id, d.status, count(d.id) AS n FROM sends s LEFT JOIN deliveries d ON d.send_id = s.id GROUP BY 1, 2`.execute(world.db);
  for (const sendId of new Set(deliveries.rows.map((r) => r.send_id))) {
    const { counts } = await deliveryTally(world.db, sendId);
    const rows = Object.fromEntries(deliveries.rows.filter((r) => r.send_id === sendId && r.status).map((r) => [r.status, Number(r.n)]));
    expect({ step, sendId, counts: Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0)) }).toEqual({ step, sendId, counts: rows });
  }
}

async function subscriptionOf(email: string, listId = world.list.id): Promise<string> {
  const row = await world.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select('s.id')
    .where(sql<string>`lower(p.email)`, '=', email.toLowerCase())
    .where('s.list_id', '=', listId)
    .executeTakeFirstOrThrow();
  return row.id;
}

const csv = (lines: string[]) => Readable.from([`email,name,cadence,status\n${lines.join('\n')}\n`]);

test('every path that changes a subscription or a delivery keeps the counters equal to COUNT(*)', async () => {
  await expectCountersRight('empty');

  // The subscribe form: new pending subscriptions (weekly and monthly), on both lists.
  for (const [email, cadence] of [
    ['ann@example.org', 'weekly'],
    ['bob@example.org', 'monthly'],
    ['cy@example.org', 'weekly'],
    ['dee@example.org', 'monthly'],
  ] as const) {
    await subscribe(deps, world.list.slug, { email, cadence }, { source: 'form' });
  }
  await subscribe(deps, 'other', { email: 'ann@example.org', cadence: 'monthly' }, { source: 'api' });
  await subscribe(deps, world.list.slug, { email: 'ann@example.org' }, { source: 'form' }); // again: nothing changes
  await expectCountersRight('subscribe');

  // The confirmation link.
  for (const email of ['ann@example.org', 'bob@example.org', 'cy@example.org']) await confirm(deps, await subscriptionOf(email), null, {});
  await confirm(deps, await subscriptionOf('ann@example.org'), null, {}); // already confirmed
  await expectCountersRight('confirm');

  // Unsubscribe (page, one-click, desk), and once more (nothing to do).
  await unsubscribe(deps, await subscriptionOf('cy@example.org'), { method: 'one-click' });
  await unsubscribe(deps, await subscriptionOf('cy@example.org'), { method: 'page' });
  await unsubscribe(deps, await subscriptionOf('dee@example.org'), { method: 'desk', actor: 'ed@example.org' });
  await expectCountersRight('unsubscribe');

  // Subscribe again after leaving: a request beside the subscription; confirming it reactivates.
  await subscribe(deps, world.list.slug, { email: 'cy@example.org', cadence: 'monthly' }, { source: 'form' });
  await expectCountersRight('resubscribe requested');
  await confirm(deps, await subscriptionOf('cy@example.org'), null, {});
  await expectCountersRight('resubscribe confirmed');

  // Cadence, sections, pause and resume.
  await changePreferences(deps, await subscriptionOf('ann@example.org'), { cadence: 'monthly' }, {});
  await changePreferences(deps, await subscriptionOf('bob@example.org'), { cadence: 'weekly', name: 'Bob' }, {});
  await changePreferences(deps, await subscriptionOf('bob@example.org'), { name: 'Robert' }, {}); // no counted column
  await pause(deps, await subscriptionOf('ann@example.org'), {});
  await expectCountersRight('cadence and pause');
  expect(await countRecipients(world.db, world.list.id, 'monthly')).toBe(1); // cy; ann is paused
  await resume(deps, await subscriptionOf('ann@example.org'), {});
  await expectCountersRight('resume');

  // Import: new rows (pending and --confirmed), every status and cadence, existing ones again,
  // bad rows, and imports at once into the same list and another (the importer writes with
  // two connections each: counters must neither serialise nor double them). Different
  // addresses: the same file imported twice at once in different orders can deadlock on the
  // subscribers' rows, with or without the counters (noted, not the counters' business).
  const rows = (tag: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${tag}-${i}@example.org,,${i % 3 === 0 ? 'monthly' : 'weekly'},${['', 'active', 'unsubscribed', 'bounced'][i % 4]}`);
  await importSubscribers(world.db, world.queues, world.list.slug, csv(rows('imp', 1200)), { confirmed: true });
  await expectCountersRight('import --confirmed');
  await importSubscribers(world.db, world.queues, world.list.slug, csv([...rows('imp', 1200), ...rows('new', 300), 'not an address,,weekly,']));
  await expectCountersRight('import again, with new pending rows and a bad one');
  await Promise.all([
    importSubscribers(world.db, world.queues, world.list.slug, csv(rows('par', 3000)), { confirmed: true }),
    importSubscribers(world.db, world.queues, world.list.slug, csv(rows('qar', 3000)), { confirmed: true }),
    importSubscribers(world.db, world.queues, 'other', csv(rows('par', 3000)), { confirmed: true }),
    // The repair pass's fold beside the writers, as the workers run it every REPAIR_INTERVAL.
    foldPiledUpCounters(world.db),
  ]);
  await expectCountersRight('three imports at once');

  // Bounces and complaints (the webhook, inbound DSNs, system mail and the sender all call markBounced).
  await markBounced(world.db, await subscriptionOf('imp-1@example.org'), 'bounced', { source: 'test' });
  await markBounced(world.db, await subscriptionOf('imp-1@example.org'), 'complained', { source: 'test' });
  await markBounced(world.db, await subscriptionOf('imp-5@example.org'), 'complained', { source: 'test' });
  await expectCountersRight('bounce and complaint');

  // Many small changes at once, from many connections.
  const some = await world.db.selectFrom('subscriptions').select('id').where('status', '=', 'active').where('list_id', '=', world.list.id).limit(60).execute();
  await Promise.all([
    ...some.map((s, i) =>
      i % 3 === 0
        ? unsubscribe(deps, s.id, { method: 'page' })
        : i % 3 === 1
          ? changePreferences(deps, s.id, { cadence: 'monthly' }, {})
          : markBounced(world.db, s.id, 'bounced', { source: 'test' }),
    ),
    foldPiledUpCounters(world.db),
  ]);
  await expectCountersRight('sixty changes at once');

  // Forget: the subscriber and their subscriptions on every list go (a cascade).
  await forgetSubscriber(world.db, 'ANN@example.org');
  await forgetSubscriber(world.db, 'par-7@example.org');
  await expectCountersRight('forget');

  // Pending subscriptions nobody confirmed expire (rows deleted).
  await expirePendingSubscriptions(world.db, { reminderAfterMs: 0, expireAfterMs: 1 }, new Date(Date.now() + 60_000));
  await expectCountersRight('pending expired');
  expect(await countByStatus(world.db, world.list.id)).toMatchObject({ pending: 0 });

  // Deliveries: a send that plans, sends, bounces at SMTP (5xx) and finishes; a second one cancelled.
  // On a list of its own with 43 readers: on the first list it went to the 2,400 imported above,
  // seconds of SMTP that prove nothing more about the counters than 43 in five batches.
  const readers = await world.createList('readers');
  await addSubscribers(world.db, readers.id, 40, 'reader');
  await addSubscribers(world.db, readers.id, 3, 'gone');
  await expectCountersRight('readers added by SQL');
  await insertIssue(world.db, readers.id, smallIssue('r-1', '2021-02-01', { list: readers.slug }), 'draft');
  const draft = await world.db.selectFrom('issues').selectAll().where('slug', '=', 'r-1').executeTakeFirstOrThrow();
  await sendAction({ db: world.db, queues: world.queues, config: world.config }, draft, readers, 'send');
  await waitForSendStatus(world.db, 'done');
  await expectCountersRight('a send done, with SMTP bounces');
  const send = await world.db.selectFrom('sends').selectAll().executeTakeFirstOrThrow();
  const live = await liveProgress(world.db, send.id);
  const weekly = await world.db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('send_id', '=', send.id)
    .executeTakeFirstOrThrow();
  expect(live).toMatchObject({ recipients: Number(weekly.n), notSent: 3, pending: 0 });
  expect(Number(weekly.n)).toBe(43);

  // A late bounce of a delivered message, then forgetting a reader: their delivery rows go too.
  await markBounced(world.db, await subscriptionOf('reader-1@example.org', readers.id), 'bounced', { source: 'test' });
  await forgetSubscriber(world.db, 'reader-2@example.org');
  await expectCountersRight('late bounce and forget after the send');

  // A send planned on the other list, then cancelled: its pending rows become cancelled.
  const issue = await world.db
    .insertInto('issues')
    .values({ list_id: other.id, slug: 'other-1', kind: 'weekly', date: '2021-03-01', title: 'Other', content: '{}' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const extra = await world.db
    .insertInto('sends')
    .values({ issue_id: issue.id, list_id: other.id, cadence: 'weekly', status: 'paused', scheduled_at: new Date(), planned_at: new Date(), batch_size: 10 })
    .returningAll()
    .executeTakeFirstOrThrow();
  await sql`INSERT INTO deliveries (send_id, subscription_id) SELECT ${extra.id}, id FROM subscriptions WHERE list_id = ${other.id}`.execute(world.db);
  await expectCountersRight('a send planned by SQL');
  await cancelSend(world.db, extra);
  await expectCountersRight('a send cancelled');
  expect((await deliveryTally(world.db, extra.id)).counts.cancelled).toBeGreaterThan(2000);

  // Deleting a list takes its subscriptions and sends with it, and its counters.
  await sql`DELETE FROM deliveries WHERE send_id IN (SELECT id FROM sends WHERE list_id = ${other.id})`.execute(world.db);
  await sql`DELETE FROM sends WHERE list_id = ${other.id}`.execute(world.db);
  await sql`DELETE FROM lists WHERE id = ${other.id}`.execute(world.db);
  expect((await world.db.selectFrom('subscription_counts').select('id').where('list_id', '=', other.id).execute()).length).toBe(0);
  await expectCountersRight('a list deleted');
}, 180_000);

test("change rows are folded as they pile up (by a read, and by the workers' repair pass), and the sums stay right", async () => {
  // 200 statements that each write two change rows: unfolded, 400 rows or more.
  const ids = await world.db.selectFrom('subscriptions').select('id').where('list_id', '=', world.list.id).where('status', '=', 'active').limit(100).execute();
  // The hundred subscriptions at once (each its two changes in order): the rows pile up the same.
  await Promise.all(
    ids.map(({ id }) => changePreferences(deps, id, { cadence: 'weekly' }, {}).then(() => changePreferences(deps, id, { cadence: 'monthly' }, {}))),
  );
  // Nothing folds in this file unasked (see beforeAll): the read below finds them all, and must fold.
  const before = await world.db.selectFrom('subscription_counts').select('id').where('list_id', '=', world.list.id).execute();
  expect(before.length).toBeGreaterThan(64); // FOLD_AT in db/counters.ts: more than a read lets stand
  await subscriptionTallies(world.db, [world.list.id]); // a read that finds too many rows folds them
  const after = await world.db.selectFrom('subscription_counts').select('id').where('list_id', '=', world.list.id).execute();
  expect(after.length).toBeLessThanOrEqual(20); // one per (status, cadence, paused) at most
  await expectCountersRight('after folding');

  // A send's rows older than a minute, folded by the repair pass without anyone reading them.
  const send = await world.db.selectFrom('sends').select('id').where('status', '=', 'done').executeTakeFirstOrThrow();
  await sql`
    INSERT INTO delivery_counts (send_id, status, n, at)
    SELECT ${send.id}, 'sent', CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END, now() - interval '2 minutes' FROM generate_series(1, 140) i`.execute(world.db);
  expect(await foldPiledUpCounters(world.db)).toBeGreaterThanOrEqual(0);
  // The last minute's rows stay as written (they give the send's rate); older ones, one per status at most.
  const rows = await world.db
    .selectFrom('delivery_counts')
    .select('id')
    .where('send_id', '=', send.id)
    .where(sql<boolean>`at <= now() - interval '60 seconds'`)
    .execute();
  expect(rows.length).toBeLessThanOrEqual(6);
  await expectCountersRight('after the repair pass folded a send');
}, 60_000);

test('the migration counts what is there before it', async () => {
  const t = await createTestDb();
  try {
    const migrator = new Migrator({ db: t.db, provider: { getMigrations: async () => migrations } });
    const names = Object.keys(migrations);
    const before = names[names.indexOf('2026-12-07-30-01-desk-counters') - 1]!;
    await migrator.migrateTo(before);
    // A database that already had lists of subscriptions and a send, migrated to the counters.
    const fresh = createDb(t.url, { max: 2 });
    const list = await createListFromInput(fresh, { slug: 'old', name: 'Old', from: 'old@example.org', contact: 'Old, 1 Main Street' }).catch(async () => {
      // createListFromInput may use columns of later migrations; plain SQL then.
      const r = await sql<{
        id: string;
      }>`INSERT INTO lists (slug, name, from_address, contact) VALUES ('old', 'Old', 'old@example.org', 'Old') RETURNING id`.execute(fresh);
      return { id: r.rows[0]!.id } as List;
    });
    await addSubscribers(fresh, list.id, 30, 'a');
    await addSubscribers(fresh, list.id, 7, 'b', { cadence: 'monthly', status: 'pending' });
    await addSubscribers(fresh, list.id, 5, 'c', { status: 'unsubscribed', paused: true });
    await fresh.destroy();
    await migrateToLatest(t.db);
    const tallies = (await subscriptionTallies(t.db, [list.id])).get(list.id)!;
    expect(tallies.map((x) => `${x.status} ${x.cadence} ${x.paused} ${x.n}`).sort()).toEqual([
      'active weekly false 30',
      'pending monthly false 7',
      'unsubscribed weekly true 5',
    ]);
  } finally {
    await t.drop();
  }
}, 60_000);
