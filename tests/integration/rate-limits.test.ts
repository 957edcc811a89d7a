import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { clientKey, createSubscribeLimits, EMAILS_PER_ADDRESS_PER_HOUR } from '../../src/subscribers/rate-limits';
import { address, mailsTo, postForm, postJson, queueIdle, startWorld, type World } from '../helpers/world';

/** The limits live in Redis: they hold across requests, clients and HTTP processes. */

const PER_IP = 3;
let app: World;

beforeAll(async () => {
  app = await startWorld({ app: true, list: false, ratePerIp: PER_IP });
  await app.createList('limited');
});

afterAll(async () => {
  await app?.close();
});

/** Each test speaks as its own client: the app trusts X-Forwarded-For from loopback only. */
let clients = 0;
function client(): Record<string, string> {
  clients += 1;
  return { 'x-forwarded-for': `198.51.100.${clients}` };
}

const url = () => `${app.baseUrl}/lists/limited/subscribe`;

test(`one client gets ${PER_IP} subscribe requests a minute, then 429 with Retry-After`, async () => {
  const me = client();
  for (let i = 0; i < PER_IP; i++) expect((await postJson(url(), { email: address('ip') }, me)).status).toBe(202);
  const refused = await postJson(url(), { email: address('ip') }, me);
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('rate_limited');

  // The form gets a page saying so.
  const page = await postForm(url(), { email: address('ip') }, me);
  expect(page.status).toBe(429);
  expect(await page.text()).toContain('Too many requests');

  // Another client is not affected.
  expect((await postJson(url(), { email: address('ip') }, client())).status).toBe(202);
});

test('the per-client limit holds across two HTTP processes sharing Redis', async () => {
  const peer = await app.startPeer();
  const me = client();
  const statuses: number[] = [];
  for (let i = 0; i < PER_IP + 1; i++) {
    const base = i % 2 === 0 ? app.baseUrl : peer.baseUrl;
    statuses.push((await postJson(`${base}/lists/limited/subscribe`, { email: address('peer') }, me)).status);
  }
  expect(statuses).toEqual([202, 202, 202, 429]);
});

test('asking for links counts against the same per-client budget', async () => {
  const me = client();
  for (let i = 0; i < PER_IP; i++) {
    expect((await postForm(`${app.baseUrl}/lists/limited/preferences`, { email: address('link') }, me)).status).toBe(200);
  }
  expect((await postForm(`${app.baseUrl}/lists/limited/preferences`, { email: address('link') }, me)).status).toBe(429);
});

test(`one address gets at most ${EMAILS_PER_ADDRESS_PER_HOUR} confirmation emails an hour, whatever the clients; the answer never changes`, async () => {
  const email = address('flood');
  const answers: string[] = [];
  for (let i = 0; i < EMAILS_PER_ADDRESS_PER_HOUR + 2; i++) {
    const res = await postJson(url(), { email }, client());
    expect(res.status).toBe(202);
    answers.push(await res.text());
  }
  expect(new Set(answers).size).toBe(1);
  await queueIdle(app.queues);
  const mails = await mailsTo(app.smtp, email);
  // Never more than the limit. Fewer when requests come faster than the worker: a request
  // while the last confirmation still waits in the queue is the same job (src/queues.ts).
  expect(mails.length).toBeGreaterThanOrEqual(1);
  expect(mails.length).toBeLessThanOrEqual(EMAILS_PER_ADDRESS_PER_HOUR);
  expect(mails.every((m) => /Confirm your subscription/.test(m.subject))).toBe(true);

  // Counted by address, not by spelling.
  expect((await postJson(url(), { email: email.toUpperCase() }, client())).status).toBe(202);
  await queueIdle(app.queues);
  expect(await mailsTo(app.smtp, email.toUpperCase())).toHaveLength(0);

  const sub = await app.test.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select(['s.id', 's.status'])
    .where(sql<string>`lower(p.email)`, '=', email)
    .executeTakeFirstOrThrow();
  expect(sub.status).toBe('pending');
  const sent = await app.test.db
    .selectFrom('subscription_events')
    .select('type')
    .where('subscription_id', '=', sub.id)
    .where('type', '=', 'confirmation_sent')
    .execute();
  expect(sent).toHaveLength(mails.length);
});

test('an IPv6 client counts as its /64; a mapped IPv4 address as the IPv4 address', () => {
  expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
  expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
  expect(clientKey('2001:0db8::1')).toBe('2001:db8:0:0::/64');
  expect(clientKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
  expect(clientKey('203.0.113.9')).toBe('203.0.113.9');
  expect(clientKey(undefined)).toBe('unknown');
});

test('limits are kept in Redis under the deployment prefix, and the address only as a hash', async () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  try {
    const prefix = `${app.prefix}-direct`;
    const limits = createSubscribeLimits(redis, { subscribeRatePerIp: 1, keyPrefix: prefix });
    expect(await limits.takeClient('192.0.2.1')).toEqual({ ok: true });
    expect(await limits.takeClient('192.0.2.1')).toEqual({ ok: false, retryAfterSeconds: expect.any(Number) });
    const email = address('hash');
    expect(await limits.takeAddress(email)).toBe(true);
    const keys = await redis.keys(`${prefix}:*`);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    expect(keys.join(' ')).not.toContain(email);
    await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
});
