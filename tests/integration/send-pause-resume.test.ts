import { findPublishedIssue } from '../../src/issues/published';
import { cancelSend, pauseSend, resumeSend } from '../../src/sending/control';
import { planSend } from '../../src/sending/plan';
import { sendStore } from '../../src/sending/repository';
import { addSubscribers, importFixture, startSend, startWorld, type World } from '../helpers/world';

/**
 * Issue 13, finding 9: a send with nothing pending is `done`, whatever path it took there.
 * The path that left sends in `sending` for ever: paused while its last messages were in
 * flight (they finish and are recorded as sent), then resumed — no batch job was left to see
 * that it was over. And a cancel after everyone got it used to drop the issue from the
 * archive. The state "paused, everything recorded" is set up here with the real planning and
 * control functions against real PostgreSQL and Redis; no worker runs, so nothing else can
 * finish the send for them.
 */

let world: World;

beforeEach(async () => {
  world = await startWorld({ workers: false });
  await addSubscribers(world.db, world.list.id, 12, 'pr');
  await importFixture(world);
});

afterEach(async () => {
  await world?.close();
});

/** Planned and paused, then every delivery recorded as sent: what the in-flight messages leave. */
async function pausedWithEverythingSent() {
  await startSend(world, '2021-02');
  const send = await world.db.selectFrom('sends').selectAll().executeTakeFirstOrThrow();
  expect(await planSend({ store: sendStore(world.db), queues: world.queues }, send.id)).toBe('planned');
  const paused = await pauseSend(world.db, (await world.db.selectFrom('sends').selectAll().executeTakeFirstOrThrow())!);
  expect(paused.status).toBe('paused');
  // The batch jobs planning queued were consumed before the pause (their messages in flight).
  await world.queues.queue('send-batch').obliterate({ force: true });
  await world.db.updateTable('deliveries').set({ status: 'sent', finished_at: new Date() }).where('send_id', '=', send.id).execute();
  return world.db.selectFrom('sends').selectAll().where('id', '=', send.id).executeTakeFirstOrThrow();
}

test('paused while the last messages were in flight, then resumed: the send is done, not sending for ever', async () => {
  const paused = await pausedWithEverythingSent();
  const resumed = await resumeSend({ db: world.db, queues: world.queues }, paused);
  expect(resumed.status).toBe('done');
  const stored = await world.db.selectFrom('sends').select(['status', 'finished_at']).where('id', '=', paused.id).executeTakeFirstOrThrow();
  expect(stored.status).toBe('done');
  expect(stored.finished_at).toBeInstanceOf(Date);
});

test('cancel of a send that already reached everyone: done, and the issue stays in the archive', async () => {
  const paused = await pausedWithEverythingSent();
  const after = await cancelSend(world.db, paused);
  expect(after.status).toBe('done');
  expect(await findPublishedIssue(world.db, world.list.id, '2021-02')).toBeDefined();
  const counts = await world.db.selectFrom('deliveries').select('status').where('send_id', '=', paused.id).execute();
  expect(counts.every((d) => d.status === 'sent')).toBe(true);
});

test('cancel of a paused send with messages still to go: cancelled, the rest never sent', async () => {
  await startSend(world, '2021-02');
  const send = await world.db.selectFrom('sends').selectAll().executeTakeFirstOrThrow();
  await planSend({ store: sendStore(world.db), queues: world.queues }, send.id);
  const paused = await pauseSend(world.db, (await world.db.selectFrom('sends').selectAll().executeTakeFirstOrThrow())!);
  const cancelled = await cancelSend(world.db, paused);
  expect(cancelled.status).toBe('cancelled');
  const statuses = await world.db.selectFrom('deliveries').select('status').where('send_id', '=', send.id).execute();
  expect(statuses.every((d) => d.status === 'cancelled')).toBe(true);
});
