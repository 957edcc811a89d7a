import { Readable } from 'node:stream';
import { sql } from 'kysely';
import type { List, SubscriptionStatus } from '../../src/db/schema';
import { markBounced } from '../../src/subscribers/bounce';
import { importSubscribers } from '../../src/subscribers/import/pipeline';
import { signToken } from '../../src/subscribers/tokens';
import { address, linkIn, mailsTo, postForm, queueIdle, startWorld, waitForMail, type World } from '../helpers/world';

/**
 * Issue 13, finding 1: a suppressed subscription (complained, bounced, unsubscribed) stays
 * suppressed, with its consent record, through an anonymous subscribe form and the editor's
 * routine `subscribers import --confirmed` of their file; only the confirmation link in the
 * person's own mailbox brings an unsubscribed or bounced one back, and a complained address
 * gets no email from the form at all. Real PostgreSQL, Redis, SMTP and HTTP.
 */

let app: World;
let news: List;

beforeAll(async () => {
  app = await startWorld({ app: true, list: false, ratePerIp: 1000 });
  news = await app.createList('suppress-news');
});

afterAll(async () => {
  await app?.close();
});

async function subscriptionOf(email: string) {
  return app.test.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .selectAll('s')
    .where(sql<string>`lower(p.email)`, '=', email.toLowerCase())
    .where('s.list_id', '=', news.id)
    .executeTakeFirstOrThrow();
}

function confirmMails(email: string) {
  return mailsTo(app.smtp, email).then((all) => all.filter((m) => /Confirm your subscription/.test(m.subject)));
}

/** The editor's routine re-import of their file, with --confirmed, as `subscribers import` runs it. */
function reimportConfirmed(emails: string[]) {
  return importSubscribers(app.test.db, app.queues, news.slug, Readable.from([`email,name\n${emails.map((e) => `${e},Someone`).join('\n')}\n`]), {
    confirmed: true,
  });
}

/** An active subscriber through the real form and link, then suppressed the way each status really happens. */
async function suppressed(tag: string, status: Exclude<SubscriptionStatus, 'pending' | 'active'>) {
  const email = address(tag);
  expect((await postForm(`${app.baseUrl}/lists/${news.slug}/subscribe`, { email }, { 'user-agent': 'first-visit' })).status).toBe(200);
  const first = await waitForMail(app.smtp, email, /Confirm your subscription/);
  const firstLink = await linkIn(first, 'confirm');
  expect((await fetch(firstLink, { method: 'POST' })).status).toBe(200);
  const { id } = await subscriptionOf(email);
  if (status === 'unsubscribed') {
    const oneClick = await fetch(`${app.baseUrl}/unsubscribe/${signToken(app.config.secretKeys, 'unsubscribe', id)}`, {
      method: 'POST',
      body: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(oneClick.status).toBe(200);
  } else {
    // What the bounce webhook and the SMTP answer call.
    expect(await markBounced(app.test.db, id, status, { test: true })).toBe(true);
  }
  const before = await subscriptionOf(email);
  expect(before.status).toBe(status);
  return { email, id, before, firstLink };
}

const consentOf = (s: Awaited<ReturnType<typeof subscriptionOf>>) => ({
  status: s.status,
  consent_at: s.consent_at,
  consent_ip: s.consent_ip,
  consent_user_agent: s.consent_user_agent,
  consent_source: s.consent_source,
  cadence: s.cadence,
});

test.each(['complained', 'bounced', 'unsubscribed'] as const)(
  'a %s subscription stays suppressed, with its consent record, through the form and a --confirmed re-import',
  async (status) => {
    const { email, id, before } = await suppressed(`held-${status}`, status);

    // The anonymous form: the page answers exactly as for anyone.
    const form = await postForm(`${app.baseUrl}/lists/${news.slug}/subscribe`, { email, cadence: 'monthly' }, { 'user-agent': 'hostile-poster' });
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('Check your inbox');
    await queueIdle(app.queues);
    expect(consentOf(await subscriptionOf(email))).toEqual(consentOf(before));

    // The editor's routine import of the same file, --confirmed: skipped, nothing updated.
    const report = await reimportConfirmed([email]);
    expect(report.updated).toBe(0);
    expect(report.imported).toBe(0);
    expect(consentOf(await subscriptionOf(email))).toEqual(consentOf(before));
    expect((await app.test.db.selectFrom('subscription_events').select('type').where('subscription_id', '=', id).execute()).map((e) => e.type)).not.toContain(
      'imported',
    );

    if (status === 'complained') {
      // No confirmation email at all: only the first one, from the original subscription.
      expect(await confirmMails(email)).toHaveLength(1);
    } else {
      // The request waits beside the subscription; the mailbox's click brings it back.
      const second = await waitForMail(app.smtp, email, /Confirm your subscription/, 2);
      const link = await linkIn(second, 'confirm');
      const page = await fetch(link);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Confirm');
      expect((await fetch(link, { method: 'POST' })).status).toBe(200);
      expect(await subscriptionOf(email)).toMatchObject({ status: 'active', cadence: 'monthly', consent_user_agent: 'hostile-poster' });
      expect(
        await app.test.db.selectFrom('subscription_requests').select('subscription_id').where('subscription_id', '=', id).executeTakeFirst(),
      ).toBeUndefined();
    }
  },
);

test('a request to come back is never turned active by an import, and an old confirmation link stays refused', async () => {
  const { email, before, firstLink } = await suppressed('held-old-link', 'unsubscribed');
  await postForm(`${app.baseUrl}/lists/${news.slug}/subscribe`, { email });
  await waitForMail(app.smtp, email, /Confirm your subscription/, 2);

  // Re-imported twice, --confirmed and not: still unsubscribed.
  await reimportConfirmed([email]);
  await importSubscribers(app.test.db, app.queues, news.slug, Readable.from([`email\n${email}\n`]), {});
  expect(consentOf(await subscriptionOf(email))).toEqual(consentOf(before));

  // The link of the first subscription predates the request: it cannot be the click that lifts it.
  const stale = await fetch(firstLink, { method: 'POST' });
  expect(stale.status).toBe(410);
  expect((await subscriptionOf(email)).status).toBe('unsubscribed');
});
