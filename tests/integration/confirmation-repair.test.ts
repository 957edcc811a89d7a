import { requeueLostConfirmations } from '../../src/subscribers/repair';
import { address, postJson, startWorld, waitForMail, type World } from '../helpers/world';
import { eventually } from '../helpers/eventually';

const MINUTE = 60_000;
const later = (minutes: number) => new Date(Date.now() + minutes * MINUTE);

let app: World;
beforeAll(async () => {
  app = await startWorld({ app: true, list: false });
  await app.createList('repair');
});
afterAll(() => app.close());

async function events(subscriptionId: string): Promise<string[]> {
  const rows = await app.test.db.selectFrom('subscription_events').select('type').where('subscription_id', '=', subscriptionId).orderBy('id').execute();
  return rows.map((r) => r.type);
}

async function subscriptionOf(email: string) {
  return app.test.db
    .selectFrom('subscriptions')
    .innerJoin('subscribers', 'subscribers.id', 'subscriptions.subscriber_id')
    .select(['subscriptions.id', 'subscriptions.status'])
    .where('subscribers.email', '=', email)
    .executeTakeFirstOrThrow();
}

test('a confirmation job lost with Redis is re-created from the rows, and sent once', async () => {
  const email = address('lost');
  // The worker stops taking jobs, the reader subscribes, then Redis loses the queue.
  await app.queues.systemMail.pause(true);
  const res = await postJson(`${app.baseUrl}/lists/repair/subscribe`, { email });
  expect(res.status).toBe(202);
  await app.queues.systemMail.obliterate({ force: true });
  await app.queues.systemMail.resume(true);
  const { id } = await subscriptionOf(email);
  expect(await events(id)).toEqual(['subscribed']);

  // Within the grace period nothing is touched: the normal path may still be retrying.
  expect(await requeueLostConfirmations(app.test.db, app.queues, later(5))).toBe(0);
  // Past it, the job is queued again, even while other confirmations wait their turn: a
  // waiting one is not doubled, because its job id is the same.
  await app.queues.systemMail.pause(true);
  const other = address('waiting');
  await postJson(`${app.baseUrl}/lists/repair/subscribe`, { email: other });
  expect(await requeueLostConfirmations(app.test.db, app.queues, later(20))).toBe(2);
  expect((await app.queues.systemMail.getJobCounts()).waiting).toBe(2);
  await app.queues.systemMail.resume(true);
  await waitForMail(app.smtp, other, /confirm/i);
  await waitForMail(app.smtp, email, /confirm/i);
  await eventually(async () => {
    const c = await app.queues.systemMail.getJobCounts();
    return c.waiting + c.active === 0;
  });
  expect(app.smtp.messages().filter((m) => m.envelope.to.includes(other))).toHaveLength(1);
  expect(app.smtp.messages().filter((m) => m.envelope.to.includes(email))).toHaveLength(1);
  expect(await events(id)).toEqual(['subscribed', 'confirmation_requeued', 'confirmation_sent']);
  // Done is done: later runs leave it alone.
  expect(await requeueLostConfirmations(app.test.db, app.queues, later(25))).toBe(0);
  expect(await requeueLostConfirmations(app.test.db, app.queues, later(120))).toBe(0);
});

test('delivered, rate-limited, confirmed and expired subscriptions are left alone', async () => {
  const delivered = address('delivered');
  await postJson(`${app.baseUrl}/lists/repair/subscribe`, { email: delivered });
  await waitForMail(app.smtp, delivered, /confirm/i);
  expect(await requeueLostConfirmations(app.test.db, app.queues, later(20))).toBe(0);

  // Expired: the consent is older than a confirmation link lives.
  const expired = address('expired');
  await postJson(`${app.baseUrl}/lists/repair/subscribe`, { email: expired });
  await waitForMail(app.smtp, expired, /confirm/i);
  const { id } = await subscriptionOf(expired);
  await app.test.db.deleteFrom('subscription_events').where('subscription_id', '=', id).execute();
  await app.test.db
    .updateTable('subscriptions')
    .set({ consent_at: later(-8 * 24 * 60) })
    .where('id', '=', id)
    .execute();
  expect(await requeueLostConfirmations(app.test.db, app.queues, later(20))).toBe(0);

  // Rate-limited: asked again after a confirmation went out, and the per-address limit held
  // the email back. Not within the hour after the last one; after that, once.
  const limited = address('limited');
  await postJson(`${app.baseUrl}/lists/repair/subscribe`, { email: limited });
  await waitForMail(app.smtp, limited, /confirm/i);
  const sub = await subscriptionOf(limited);
  await app.test.db
    .updateTable('subscriptions')
    .set({ consent_at: later(1) })
    .where('id', '=', sub.id)
    .execute();
  expect(await requeueLostConfirmations(app.test.db, app.queues, later(20))).toBe(0);
  expect(await requeueLostConfirmations(app.test.db, app.queues, later(90))).toBe(1);
  await waitForMail(app.smtp, limited, /confirm/i, 2);

  // Confirmed: nothing to send.
  const confirmed = address('confirmed');
  await postJson(`${app.baseUrl}/lists/repair/subscribe`, { email: confirmed });
  const c = await subscriptionOf(confirmed);
  await app.test.db.updateTable('subscriptions').set({ status: 'active' }).where('id', '=', c.id).execute();
  await app.test.db.deleteFrom('subscription_events').where('subscription_id', '=', c.id).execute();
  expect(await requeueLostConfirmations(app.test.db, app.queues, later(20))).toBe(0);

  const job = await app.queues.systemMail.getJobCounts();
  expect(job.waiting + job.delayed).toBe(0);
});
