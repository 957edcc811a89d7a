import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { watchQueues } from '../../src/metrics';
import { createQueues } from '../../src/queues';
import { createTestDb } from '../helpers/db';
import { freePort, startPrivateRedis, stopPrivateRedis } from '../helpers/send-world';

/**
 * Issue 13, finding 7: `/metrics` needs `Authorization: Bearer METRICS_TOKEN` when the token is
 * set, and answers within 2 s whatever Redis does: with Redis gone (a private redis-server of
 * this test's own, stopped here) it gives the last good queue depths, marked stale.
 */
jest.setTimeout(60_000);

test('/metrics: bearer token required; with Redis down it answers within 2 s, marked stale', async () => {
  const port = await freePort();
  startPrivateRedis(port);
  const redisUrl = `redis://127.0.0.1:${port}`;
  const t = await createTestDb();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const queues = createQueues(redisUrl, `bs-metrics-${randomBytes(4).toString('hex')}`, t.db);
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({ NODE_ENV: 'test', PUBLIC_URL: base, SECRET_KEY: 'test-secret-key-for-links-0001', METRICS_TOKEN: 'scrape-me-0001' });
  server.on('request', createApp({ config, db: t.db, redis, queues }));
  watchQueues(queues);
  const scrape = (token?: string) => fetch(`${base}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  try {
    expect((await scrape()).status).toBe(401);
    expect((await scrape('wrong')).status).toBe(401);
    const good = await scrape('scrape-me-0001');
    expect(good.status).toBe(200);
    const body = await good.text();
    expect(body).toMatch(/broadsheet_queue_jobs\{kind="send-batch",state="waiting"\} 0/);
    expect(body).toMatch(/broadsheet_queue_jobs_stale 0/);

    stopPrivateRedis(port);
    const t0 = Date.now();
    const single = await scrape('scrape-me-0001');
    expect(single.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await single.text()).toMatch(/broadsheet_queue_jobs_stale 1/);
    // Twenty scrapes at once share one read of Redis: none waits longer.
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => scrape('scrape-me-0001').then(async (r) => ({ status: r.status, body: await r.text() }))),
    );
    const took = Date.now() - started;
    expect(took).toBeLessThan(2000);
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body).toMatch(/broadsheet_queue_jobs_stale 1/);
      // The last good read is still there.
      expect(a.body).toMatch(/broadsheet_queue_jobs\{kind="send-batch",state="waiting"\} 0/);
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await Promise.race([queues.close(), new Promise((r) => setTimeout(r, 3000))]);
    redis.disconnect();
    stopPrivateRedis(port);
    await t.drop();
  }
});
