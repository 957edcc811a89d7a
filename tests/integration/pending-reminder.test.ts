import { parseMail } from '../../src/mail/capture';
import { expirePendingSubscriptions, queueDueReminders, type PendingSettings } from '../../src/subscribers/pending';
import { createSubscribeLimits } from '../../src/subscribers/rate-limits';
import { address, linkIn, mailsTo, postForm, postJson, queueIdle, startWorld, waitForMail, type World } from '../helpers/world';

// The reminder and the expiry are row-driven and take the time as an argument: the test moves
// the clock two days, then thirty, instead of waiting. Real PostgreSQL, Redis and SMTP.

const HOUR = 60 * 60_000;
const DAY = 24 * HOUR;
const settings: PendingSettings = { reminderAfterMs: 48 * HOUR, expireAfterMs: 30 * DAY };

let app: World;
let limits: ReturnType<typeof createSubscribeLimits>;
beforeAll(async () => {
  app = await startWorld({ app: true, list: false });
  await app.createList('waiting', { language: 'zh-CN', name: '机器学习月报' });
  await app.createList('other');
  // The same counters as the app's subscribe form: one budget per address, across processes.
  limits = createSubscribeLimits(app.redis, { subscribeRatePerIp: 1000, keyPrefix: app.prefix });
});
afterAll(() => app.close());

const deps = () => ({ db: app.test.db, queues: app.queues, limits });

async function subscriptionOf(email: string, list = 'waiting') {
  return app.test.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .innerJoin('lists as l', 'l.id', 's.list_id')
    .select(['s.id', 's.status', 's.consent_at'])
    .where('p.email', '=', email)
    .where('l.slug', '=', list)
    .executeTakeFirst();
}

async function events(subscriptionId: string): Promise<string[]> {
  const rows = await app.test.db.selectFrom('subscription_events').select('type').where('subscription_id', '=', subscriptionId).orderBy('id').execute();
  return rows.map((r) => r.type);
}

const at = (from: Date, ms: number) => new Date(from.getTime() + ms);
const REMINDER = /提醒|Reminder/;

test('one reminder at 48 hours, with a working confirmation link, and never a second', async () => {
  const email = address('slow');
  expect((await postForm(`${app.baseUrl}/lists/waiting/subscribe`, { email, cadence: 'weekly' })).status).toBe(200);
  await waitForMail(app.smtp, email, /确认/);
  const sub = (await subscriptionOf(email))!;
  expect(sub.status).toBe('pending');

  // Not yet at 47 hours.
  expect(await queueDueReminders(deps(), settings, at(sub.consent_at, 47 * HOUR))).toBe(0);
  // Due at 48 hours: queued once, sent once by the worker.
  expect(await queueDueReminders(deps(), settings, at(sub.consent_at, 48 * HOUR))).toBe(1);
  const mail = await waitForMail(app.smtp, email, REMINDER);
  const parsed = await parseMail(mail);
  expect(parsed.subject).toBe('提醒：请确认订阅「机器学习月报」');
  expect(parsed.text).toContain('这是我们唯一的一次提醒');
  // Later passes, a day later or just before expiry, queue nothing more.
  for (const hours of [48, 49, 72, 29 * 24]) expect(await queueDueReminders(deps(), settings, at(sub.consent_at, hours * HOUR))).toBe(0);
  await queueIdle(app.queues);
  expect((await mailsTo(app.smtp, email)).filter((m) => REMINDER.test(m.subject))).toHaveLength(1);
  expect(await events(sub.id)).toEqual(['subscribed', 'confirmation_sent', 'reminder_queued', 'reminder_sent']);

  // Its link confirms, like the first email's.
  const confirmUrl = await linkIn(mail, 'confirm');
  expect((await postForm(confirmUrl, {})).status).toBe(200);
  expect((await subscriptionOf(email))!.status).toBe('active');
});

test('a confirmed subscription gets no reminder, and a reminder job for one that confirmed meanwhile sends nothing', async () => {
  const email = address('quick');
  await postJson(`${app.baseUrl}/lists/waiting/subscribe`, { email });
  const first = await waitForMail(app.smtp, email, /确认/);
  const sub = (await subscriptionOf(email))!;
  // Queued while pending, but the worker is paused: the reader confirms before it runs.
  await app.queues.systemMail.pause(true);
  expect(await queueDueReminders(deps(), settings, at(sub.consent_at, 50 * HOUR))).toBe(1);
  expect((await postForm(await linkIn(first, 'confirm'), {})).status).toBe(200);
  await app.queues.systemMail.resume(true);
  await queueIdle(app.queues);
  expect((await mailsTo(app.smtp, email)).filter((m) => REMINDER.test(m.subject))).toHaveLength(0);
  expect(await queueDueReminders(deps(), settings, at(sub.consent_at, 60 * HOUR))).toBe(0);
});

test('the per-address limit holds for reminders too: an address that had its emails this hour waits', async () => {
  const email = address('busy');
  // Three subscribe requests: three confirmation emails, the address's budget for the hour.
  // (The second and third are the same queued job, so one email: the budget is spent all the same.)
  for (let i = 0; i < 3; i++) await postJson(`${app.baseUrl}/lists/waiting/subscribe`, { email });
  await waitForMail(app.smtp, email, /确认/);
  await queueIdle(app.queues);
  const sub = (await subscriptionOf(email))!;
  expect(await queueDueReminders(deps(), settings, at(sub.consent_at, 48 * HOUR))).toBe(0);
  expect(await events(sub.id)).not.toContain('reminder_queued');
});

test('after 30 days a pending subscription is removed with its personal data; a list event without the address stays', async () => {
  const lonely = address('never');
  const keeps = address('keeps');
  await postJson(`${app.baseUrl}/lists/waiting/subscribe`, { email: lonely });
  await postJson(`${app.baseUrl}/lists/waiting/subscribe`, { email: keeps });
  // The second person also reads another list, confirmed: that subscription and the person stay.
  await postJson(`${app.baseUrl}/lists/other/subscribe`, { email: keeps });
  const otherMail = await waitForMail(app.smtp, keeps, /Confirm/i);
  await postForm(await linkIn(otherMail, 'confirm'), {});
  const a = (await subscriptionOf(lonely))!;
  const b = (await subscriptionOf(keeps))!;
  // One of them was reminded on the way.
  await queueIdle(app.queues);
  expect(await queueDueReminders(deps(), settings, at(a.consent_at, 48 * HOUR))).toBeGreaterThanOrEqual(1);
  await waitForMail(app.smtp, lonely, REMINDER);
  await queueIdle(app.queues);
  const t0 = new Date(Math.max(a.consent_at.getTime(), b.consent_at.getTime()));

  expect(await expirePendingSubscriptions(app.test.db, settings, at(t0, 30 * DAY - 60_000))).toBe(0);
  expect(await subscriptionOf(lonely)).toBeDefined();

  const before = await app.test.db.selectFrom('list_events').select('id').execute();
  expect(await expirePendingSubscriptions(app.test.db, settings, at(t0, 30 * DAY + 1000))).toBeGreaterThanOrEqual(2);
  expect(await subscriptionOf(lonely)).toBeUndefined();
  expect(await subscriptionOf(keeps)).toBeUndefined();
  // The person with nothing else is gone entirely; the other keeps their confirmed subscription.
  expect(await app.test.db.selectFrom('subscribers').select('id').where('email', '=', lonely).executeTakeFirst()).toBeUndefined();
  expect((await subscriptionOf(keeps, 'other'))!.status).toBe('active');
  // Their events went with the subscription; what stays names nobody.
  expect(await app.test.db.selectFrom('subscription_events').select('id').where('subscription_id', 'in', [a.id, b.id]).execute()).toEqual([]);
  const kept = await app.test.db
    .selectFrom('list_events')
    .selectAll()
    .where('id', 'not in', before.length ? before.map((r) => r.id) : ['0'])
    .execute();
  expect(kept.length).toBeGreaterThanOrEqual(2);
  for (const event of kept) {
    expect(event.type).toBe('pending_expired');
    const text = JSON.stringify(event.data);
    expect(text).not.toContain('@');
    expect(text).not.toMatch(/127\.0\.0\.1|::1|ip|user_agent/);
    expect(event.data).toEqual(expect.objectContaining({ source: expect.any(String), requested_at: expect.any(String), reminded: expect.any(Boolean) }));
  }
  // The reminder that was sent earlier is remembered as such, without its address.
  expect(kept.some((e) => (e.data as { reminded?: boolean }).reminded === true)).toBe(true);
  // Nothing left to do at the next pass.
  expect(await expirePendingSubscriptions(app.test.db, settings, at(t0, 31 * DAY))).toBe(0);
});
