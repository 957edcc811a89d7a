import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from '../helpers/eventually';
import {
  addSubscribers,
  deliveryCounts,
  importFixture,
  receivedPerAddress,
  startSend,
  startSendWorld,
  waitForSendStatus,
  type SendWorld,
  freePort,
  startPrivateRedis,
  stopPrivateRedis,
} from '../helpers/send-world';

/**
 * The faults happen for real: a worker process killed with SIGKILL, a private Redis flushed
 * and restarted. Redis here is a server of this test's own, on its own port, so the faults
 * touch nothing else.
 */
jest.setTimeout(180_000);

async function waitForRedis(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await eventually(
      async () => {
        try {
          await client.connect();
          return (await client.ping()) === 'PONG';
        } finally {
          client.disconnect();
        }
      },
      { what: 'redis up', everyMs: 100 },
    );
  } finally {
    client.disconnect();
  }
}

let redisPort: number;
let redisUrl: string;
beforeAll(async () => {
  redisPort = await freePort();
  redisUrl = `redis://127.0.0.1:${redisPort}`;
  startPrivateRedis(redisPort);
  await waitForRedis(redisUrl);
});
afterAll(() => {
  stopPrivateRedis(redisPort);
});

function startWorker(world: SendWorld): ChildProcess {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(__dirname, '../helpers/worker-process.ts')], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: world.test.url,
      REDIS_URL: world.redisUrl,
      REDIS_PREFIX: world.prefix,
      SMTP_URL: world.smtp.url,
      PUBLIC_URL: world.config.publicUrl,
      SECRET_KEY: 'test-secret-key-for-links-0001',
      DATA_DIR: world.dataDir,
      SEND_CONCURRENCY: '4',
      SEND_RATE: '150',
      SEND_BATCH_SIZE: '25',
      REPAIR_INTERVAL_SECONDS: '1',
      DELIVERY_LEASE_SECONDS: '5',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function waitForMessages(world: SendWorld, n: number): Promise<void> {
  await eventually(() => world.smtp.messages().length >= n, { timeoutMs: 120_000, what: `${n} messages at the SMTP server` });
}

/** Everyone once; duplicates only among messages in flight at the crash. */
function expectDeliveredOnce(world: SendWorld, readers: string[], maxDuplicates: number): number {
  const got = receivedPerAddress(world.smtp);
  for (const a of readers) expect(got.get(a) ?? 0).toBeGreaterThanOrEqual(1);
  expect(got.size).toBe(readers.length);
  const duplicates = [...got.values()].reduce((n, c) => n + c - 1, 0);
  expect(duplicates).toBeLessThanOrEqual(maxDuplicates);
  // Any duplicate is the same message: the same Message-ID.
  const ids = new Map<string, Set<string>>();
  for (const m of world.smtp.messages()) {
    const id = /^Message-ID: (.+)$/im.exec(m.raw.toString('utf8', 0, 4000))?.[1]?.trim() ?? '';
    const to = m.envelope.to[0]!;
    ids.set(to, (ids.get(to) ?? new Set()).add(id));
  }
  for (const set of ids.values()) expect(set.size).toBe(1);
  return duplicates;
}

test('kill -9 of a worker mid-send: a new worker finishes it, everyone once', async () => {
  const world = await startSendWorld({ redisUrl, workers: false });
  let worker = startWorker(world);
  try {
    const readers = await addSubscribers(world.db, world.list.id, 1000, 'kill');
    await importFixture(world);
    await startSend(world, '2021-02');
    await waitForMessages(world, 200);
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
    const atCrash = world.smtp.messages().length;
    expect(atCrash).toBeLessThan(1000);
    worker = startWorker(world);
    await waitForSendStatus(world.db, 'done', 120_000);
    // In flight at the crash: at most the two batches the worker held.
    expectDeliveredOnce(world, readers, 2 * 25);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 1000 });
  } finally {
    await stopWorker(worker);
    await world.close();
  }
});

test('Redis flushed (FLUSHALL) and then restarted mid-send: the rows bring the work back, everyone once', async () => {
  const world = await startSendWorld({ redisUrl, workers: false });
  const worker = startWorker(world);
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  try {
    const readers = await addSubscribers(world.db, world.list.id, 1000, 'flush');
    await importFixture(world);
    await startSend(world, '2021-02');
    await waitForMessages(world, 150);
    await admin.flushall();
    await waitForMessages(world, 500);
    // A restart: the server goes away and comes back empty.
    stopPrivateRedis(redisPort);
    await new Promise((r) => setTimeout(r, 1500));
    startPrivateRedis(redisPort);
    await waitForRedis(redisUrl);
    await waitForSendStatus(world.db, 'done', 120_000);
    expectDeliveredOnce(world, readers, 2 * 2 * 25);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 1000 });
  } finally {
    admin.disconnect();
    await stopWorker(worker);
    await world.close();
  }
});
