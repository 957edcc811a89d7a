import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createApp } from '../../src/app';
import { createQueues } from '../../src/queues';
import { enqueueConfirmation } from '../../src/subscribers/system-mail';
import { addSubscribers, startWorld, type World, startPrivateRedis, stopPrivateRedis } from '../helpers/world';
import { freePort } from '../helpers/ports';
import { eventually } from '../helpers/eventually';

/**
 * Redis going away (a private redis-server of this test's own, stopped for real), and two
 * deployments that share a Redis by mistake.
 */
jest.setTimeout(120_000);

const until = (check: () => Promise<boolean>, timeoutMs = 20_000) => eventually(check, { timeoutMs, everyMs: 100 });

describe('Redis down', () => {
  let port: number;
  let world: World;
  let server: http.Server;
  let base: string;
  let redis: Redis;
  beforeAll(async () => {
    port = await freePort();
    await startPrivateRedis(port);
    // No queue workers in this process: the first test is about the app, the second runs
    // `broadsheet worker` itself (in-process workers would only make close() wait out bull's
    // pause on the restarted Redis).
    world = await startWorld({ redisUrl: `redis://127.0.0.1:${port}`, workers: false });
    redis = new Redis(world.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 2000 });
    redis.on('error', () => {});
    server = http.createServer(createApp({ config: world.config, db: world.db, redis, queues: world.queues }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    redis.disconnect();
    await new Promise((r) => server.close(r));
    await world.close();
    await stopPrivateRedis(port);
  });

  test('requests answer within a bounded time, /healthz says which dependency is down, and all recovers without a restart', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await stopPrivateRedis(port);

    const started = Date.now();
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ ok: false, checks: { database: 'ok', redis: expect.stringMatching(/^down/) } });

    const subscribe = await fetch(`${base}/lists/ml-news/subscribe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ email: 'during-outage@example.org' }),
    });
    expect([202, 503]).toContain(subscribe.status);
    expect(Date.now() - started).toBeLessThan(20_000);

    await startPrivateRedis(port);
    await until(async () => (await fetch(`${base}/healthz`)).status === 200);
  });

  test('`broadsheet worker` stops within a bounded time on SIGTERM while Redis is down', async () => {
    // The compiled `broadsheet worker` (npm run build first).
    const child = spawn(process.execPath, [path.join(__dirname, '../../bin/broadsheet.js'), 'worker'], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        DATABASE_URL: world.test.url,
        REDIS_URL: world.redisUrl,
        REDIS_PREFIX: world.prefix,
        SMTP_URL: world.smtp.url,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Its end, whenever it comes (early: a crash).
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      // Running (signal handlers in place) once it says so.
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c;
          if (out.includes('workers running')) resolve();
        });
        void exited.then(() => reject(new Error(`worker exited early: ${out}`)));
      });
      await stopPrivateRedis(port);
      const asked = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      const took = Date.now() - asked;
      expect(code).toBe(0);
      expect(took).toBeLessThan(15_000);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await startPrivateRedis(port);
    }
  });
});

test('two deployments on one Redis with the same prefix: a job for another database fails loudly, never "skipped"', async () => {
  const a = await startWorld({ workers: false });
  const b = await startWorld({}); // its own database, workers running
  try {
    const [email] = await addSubscribers(a.db, a.list.id, 1, 'owner', { status: 'pending' });
    const sub = await a.db
      .selectFrom('subscriptions as s')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .select('s.id')
      .where('p.email', '=', email!)
      .executeTakeFirstOrThrow();
    // Deployment A, misconfigured with B's prefix, queues a confirmation for its own row.
    const sharing = createQueues(b.redisUrl, b.prefix, a.db);
    const failures: string[] = [];
    b.queues.systemMail.on('failed', (_job, err) => failures.push(err.message));
    await enqueueConfirmation(sharing, sub.id);
    await until(async () => failures.length > 0);
    expect(failures[0]).toMatch(/names database .* but this worker's database is .*REDIS_PREFIX/);
    expect(b.smtp.messages()).toHaveLength(0);
    await sharing.close();
  } finally {
    await a.close();
    await b.close();
  }
});
