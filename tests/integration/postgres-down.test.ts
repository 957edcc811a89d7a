import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createList } from '../../src/lists/repository';
import { createQueues, type Queues } from '../../src/queues';
import { keptDir, startKeptUnsubscribes } from '../../src/subscribers/kept-unsubscribes';
import { upsertSubscriber } from '../../src/subscribers/repository';
import { signToken } from '../../src/subscribers/tokens';
import { createTestDb, type TestDb } from '../helpers/db';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres';
import {} from '../helpers/world';
import { eventually } from '../helpers/eventually';

/**
 * Issue 13, finding 8: with PostgreSQL down, reader pages answer 503 with Retry-After (not a
 * 500), and a one-click unsubscribe is kept and applied once the server is back. The server
 * is a private one of this test's own (initdb and pg_ctl as the postgres user, on its own
 * port), stopped and started here: the shared one is never touched.
 */
jest.setTimeout(120_000);

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
let postgres: PrivatePostgres;

beforeAll(async () => {
  postgres = await startPrivatePostgres();
});

afterAll(() => postgres.destroy());

test('PostgreSQL down: pages answer 503 with Retry-After; a one-click unsubscribe is kept and applied when it is back', async () => {
  const t: TestDb = await createTestDb(postgres.server);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-data-'));
  const prefix = `bs-test-${randomBytes(5).toString('hex')}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const queues: Queues = createQueues(REDIS_URL, prefix, t.db);
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const config = loadConfig({ NODE_ENV: 'test', PUBLIC_URL: base, SECRET_KEY: 'test-secret-key-for-links-0001', DATA_DIR: dataDir });
  server.on('request', createApp({ config, db: t.db, redis, queues }));
  const stopKept = startKeptUnsubscribes(t.db, dataDir, 200, { warn: () => undefined, info: () => undefined });
  try {
    const list = await createList(t.db, { slug: 'down-news', name: 'Down News', from_address: 'news@example.org', contact: 'Example Press' });
    const subscriptionOf = async (email: string) => {
      const person = await upsertSubscriber(t.db, email);
      return t.db
        .insertInto('subscriptions')
        .values({ list_id: list.id, subscriber_id: person.id, status: 'active', consent_source: 'import', confirmed_at: new Date() })
        .returning('id')
        .executeTakeFirstOrThrow();
    };
    const oneClickReader = await subscriptionOf('one-click@example.org');
    const pageReader = await subscriptionOf('page@example.org');
    const unsubscribeUrl = (id: string) => `${base}/unsubscribe/${signToken(config.secretKeys, 'unsubscribe', id)}`;
    expect((await fetch(`${base}/lists/down-news`)).status).toBe(200);

    postgres.stop();

    // Reader pages and the JSON subscribe: 503 with Retry-After, a page or a JSON error, never a stack trace.
    for (const url of [
      `${base}/lists/down-news`,
      `${base}/lists/down-news/archive`,
      unsubscribeUrl(oneClickReader.id),
      `${base}/preferences/${signToken(config.secretKeys, 'preferences', pageReader.id)}`,
    ]) {
      const res = await fetch(url);
      expect({ url, status: res.status }).toEqual({ url, status: 503 });
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      const body = await res.text();
      expect(body).toContain('try again in a minute');
      expect(body).not.toMatch(/ECONNREFUSED|at .*\.ts:\d+/);
    }
    const json = await fetch(`${base}/lists/down-news/subscribe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ email: 'new@example.org' }),
    });
    expect(json.status).toBe(503);
    expect(json.headers.get('retry-after')).toBeTruthy();
    expect((await json.json()) as unknown).toEqual({ error: { code: 'unavailable', message: expect.stringContaining('database') } });

    // The one-click unsubscribe (RFC 8058) and the page's button: kept, and the answer says so.
    const oneClick = await fetch(unsubscribeUrl(oneClickReader.id), {
      method: 'POST',
      body: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'mail-provider' },
    });
    expect(oneClick.status).toBe(503);
    expect(oneClick.headers.get('retry-after')).toBeTruthy();
    expect(await oneClick.text()).toContain('recorded');
    const button = await fetch(unsubscribeUrl(pageReader.id), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(button.status).toBe(503);
    expect(await button.text()).toContain('recorded');
    // A forged link is still refused, database or not.
    const forged = await fetch(`${base}/unsubscribe/unsubscribe.AAAAAAAAAAAAAAAAAAAAAA.0.${'A'.repeat(43)}`, {
      method: 'POST',
      body: 'List-Unsubscribe=One-Click',
    });
    expect(forged.status).toBe(400);
    expect(fs.readdirSync(keptDir(dataDir)).filter((n) => n.endsWith('.json'))).toHaveLength(2);

    postgres.start();

    const statusOf = (id: string) => t.db.selectFrom('subscriptions').select(['status', 'unsubscribed_at']).where('id', '=', id).executeTakeFirst();
    await eventually(async () => (await statusOf(oneClickReader.id).catch(() => undefined))?.status === 'unsubscribed', 20_000);
    await eventually(async () => (await statusOf(pageReader.id))?.status === 'unsubscribed', 20_000);
    const event = await t.db
      .selectFrom('subscription_events')
      .select('data')
      .where('subscription_id', '=', oneClickReader.id)
      .where('type', '=', 'unsubscribed')
      .executeTakeFirstOrThrow();
    expect(event.data).toMatchObject({ method: 'one-click', kept_at: expect.any(String), user_agent: 'mail-provider' });
    // Recorded at the time the reader asked, not when it was applied.
    expect((await statusOf(oneClickReader.id))!.unsubscribed_at!.getTime()).toBeLessThanOrEqual(new Date(event.data.kept_at as string).getTime());
    expect(fs.readdirSync(keptDir(dataDir)).filter((n) => n.endsWith('.json'))).toHaveLength(0);
    expect((await fetch(`${base}/lists/down-news`)).status).toBe(200);
  } finally {
    await stopKept();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await queues.close();
    redis.disconnect();
    await t.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
