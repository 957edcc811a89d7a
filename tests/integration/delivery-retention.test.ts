import { sql } from 'kysely';
import { pruneDeliveries } from '../../src/sending/retention';
import { sendReport } from '../../src/sending/report';
import { addSubscribers, importFixture, startSend, startWorld, waitForSendStatus, type World } from '../helpers/world';

/**
 * The deliveries table stays bounded: a send that finished more than DELIVERY_RETENTION_DAYS
 * ago keeps its report (written to send_summaries first) and loses its rows, in batches that
 * never wait on a running send's rows.
 */
let world: World;
let sendId: string;

beforeAll(async () => {
  world = await startWorld();
  await addSubscribers(world.db, world.list.id, 23, 'old');
  const issue = await importFixture(world);
  await startSend(world, issue.slug);
  await waitForSendStatus(world.db, 'done');
  sendId = (await world.db.selectFrom('sends').select('id').executeTakeFirstOrThrow()).id;
}, 120_000);

afterAll(() => world?.close());

async function rowsOf(id: string): Promise<number> {
  const r = await world.db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('send_id', '=', id)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

test('an old finished send keeps its report and loses its rows; a running send is neither touched nor waited on', async () => {
  // What the editor saw: one reader bounced later, one left through this email, one soft bounce.
  const [a, b, c] = await world.db.selectFrom('deliveries').select(['id', 'subscription_id']).where('send_id', '=', sendId).orderBy('id').limit(3).execute();
  await world.db.updateTable('deliveries').set({ soft_bounces: 2 }).where('id', '=', c!.id).execute();
  await world.db.updateTable('subscriptions').set({ status: 'unsubscribed' }).where('id', '=', a!.subscription_id).execute();
  await world.db
    .insertInto('subscription_events')
    .values({ subscription_id: a!.subscription_id, type: 'unsubscribed', data: JSON.stringify({ method: 'one-click' }) })
    .execute();
  await world.db
    .insertInto('subscription_events')
    .values({ subscription_id: b!.subscription_id, type: 'bounced', data: JSON.stringify({ source: 'dsn' }) })
    .execute();
  const before = await sendReport(world.db, sendId);
  expect(before).toMatchObject({ recipients: 23, delivered: 23, unsubscribed: 1, bouncedLater: 1 });
  expect(before.smtpAnswers[0]!.count).toBe(23);

  // A second send, still running, with rows of its own; one of them locked by its batch job.
  // (Of another issue: one send per issue. The issue row is copied column by column.)
  const columns = await sql<{ c: string }>`
    SELECT column_name AS c FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'issues' AND column_name NOT IN ('id', 'slug')
  `.execute(world.db);
  const list = sql.join(columns.rows.map((r) => sql.ref(r.c)));
  const copy = await sql<{ id: string }>`
    INSERT INTO issues (${list}, slug) SELECT ${list}, slug || '-again' FROM issues WHERE id = (SELECT issue_id FROM sends WHERE id = ${sendId}) RETURNING id
  `.execute(world.db);
  const running = await sql<{ id: string }>`
    INSERT INTO sends (issue_id, list_id, cadence, status, batch_size, started_at)
    SELECT ${copy.rows[0]!.id}, list_id, cadence, 'sending', batch_size, now() FROM sends WHERE id = ${sendId} RETURNING id
  `.execute(world.db);
  const runningId = running.rows[0]!.id;
  await sql`INSERT INTO deliveries (send_id, subscription_id) SELECT ${runningId}, subscription_id FROM deliveries WHERE send_id = ${sendId}`.execute(world.db);

  // Not old enough yet: nothing happens.
  expect(await pruneDeliveries(world.db, { retentionDays: 90 })).toEqual({ sends: 0, rows: 0 });
  expect(await rowsOf(sendId)).toBe(23);

  await world.db
    .updateTable('sends')
    .set({ finished_at: new Date(Date.now() - 91 * 24 * 3600 * 1000) })
    .where('id', '=', sendId)
    .execute();
  const pruned = await world.db.transaction().execute(async (trx) => {
    await sql`SELECT id FROM deliveries WHERE send_id = ${runningId} ORDER BY id LIMIT 5 FOR UPDATE`.execute(trx);
    // Outside that transaction, in batches of 5: finishes while the running send's rows stay locked.
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        pruneDeliveries(world.db, { retentionDays: 90, chunk: 5 }),
        new Promise((_r, reject) => (timer = setTimeout(() => reject(new Error('pruning waited on a running send')), 10_000))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  });
  expect(pruned).toEqual({ sends: 1, rows: 23 });
  expect(await rowsOf(sendId)).toBe(0);
  expect(await rowsOf(runningId)).toBe(23);

  const summary = await world.db.selectFrom('send_summaries').selectAll().where('send_id', '=', sendId).executeTakeFirstOrThrow();
  expect(summary).toMatchObject({ recipients: 23, delivered: 23, soft_bounced: 2, unsubscribed: 1, bounced_later: 1 });
  expect(summary.rows_removed_at).toBeInstanceOf(Date);
  const after = await sendReport(world.db, sendId);
  expect({ ...after, send: undefined }).toEqual({ ...before, send: undefined, pending: 0 });

  // Run again (another worker, the next hour): nothing more to do, the summary is unchanged.
  expect(await pruneDeliveries(world.db, { retentionDays: 90 })).toEqual({ sends: 0, rows: 0 });
  expect(await world.db.selectFrom('send_summaries').selectAll().where('send_id', '=', sendId).executeTakeFirstOrThrow()).toEqual(summary);
});
