import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config';
import { duplicatesAfterKillBound } from '../../src/sending/batch';
import { freePort } from '../helpers/ports';
import { eventually } from '../helpers/eventually';
import {
  addSubscribers,
  deliveryCounts,
  importFixture,
  receivedPerAddress,
  startSend,
  startWorld,
  waitForSendStatus,
  type World,
  startPrivateRedis,
  stopPrivateRedis,
} from '../helpers/world';

/**
 * The faults happen for real: a worker process killed with SIGKILL, a private Redis flushed
 * and restarted. Redis here is a server of this test's own, on its own port, so the faults
 * touch nothing else.
 */
jest.setTimeout(180_000);

let redisPort: number;
let redisUrl: string;
beforeAll(async () => {
  redisPort = await freePort();
  redisUrl = `redis://127.0.0.1:${redisPort}`;
  await startPrivateRedis(redisPort);
});
afterAll(() => stopPrivateRedis(redisPort));

/**
 * The worker's settings. The lease is the default 60 s: a killed worker's rows must be taken
 * over once it is known gone (three missed heartbeats: 750 ms here) and bull has seen its job's
 * lock run out (500 ms, looked for every 250 ms), all shortened here by configuration, never by
 * waiting less. Only one worker runs at a time, so a live one that misses its heartbeats on a
 * loaded machine has nobody to lose its rows to.
 */
const WORKER_ENV = {
  SEND_CONCURRENCY: '4',
  SEND_RATE: '150',
  SEND_BATCH_SIZE: '50',
  SEND_FLUSH_MS: '100',
  REPAIR_INTERVAL_SECONDS: '0.2',
  DELIVERY_LEASE_SECONDS: '60',
  WORKER_HEARTBEAT_SECONDS: '0.25',
  JOB_LOCK_SECONDS: '0.5',
  JOB_STALL_CHECK_SECONDS: '0.25',
};

/** `broadsheet worker` as its own process (the compiled CLI: `npm run build` first), configured by its environment. */
function startWorker(world: World): ChildProcess {
  const child = spawn(process.execPath, [path.join(__dirname, '../../bin/broadsheet.js'), 'worker'], {
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
      ...WORKER_ENV,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function waitForMessages(world: World, n: number): Promise<void> {
  await eventually(() => world.smtp.messages().length >= n, { timeoutMs: 120_000, what: `${n} messages at the SMTP server` });
}

function countDuplicates(world: World): number {
  return [...receivedPerAddress(world.smtp).values()].reduce((n, c) => n + c - 1, 0);
}

/** Everyone once; duplicates only among messages in flight at the crash. */
function expectDeliveredOnce(world: World, readers: string[], maxDuplicates: number): number {
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

test('kill -9 of a worker, twice mid-send: duplicates within the stated bound, rows taken over long before their lease ends, everyone at least once', async () => {
  const world = await startWorld({ redisUrl, workers: false, env: WORKER_ENV });
  const bound = duplicatesAfterKillBound(loadConfig({ ...WORKER_ENV }));
  let worker = startWorker(world);
  try {
    // Enough recipients that both kills land mid-send with rows held, each kill's takeover is
    // seen, and the send has more than one batch job in flight (SEND_BATCH_SIZE 50).
    const readers = await addSubscribers(world.db, world.list.id, 500, 'kill');
    await importFixture(world);
    await startSend(world, '2021-02');
    let duplicatesBefore = 0;
    for (const at of [100, 250]) {
      await waitForMessages(world, at);
      // Killed while it holds rows (not in the moment between two batch jobs).
      await eventually(
        () => world.db.selectFrom('deliveries').select('id').where('status', '=', 'pending').where('leased_until', '>', new Date()).executeTakeFirst(),
        { what: 'rows leased by the worker', everyMs: 5 },
      );
      worker.kill('SIGKILL');
      await new Promise((r) => worker.once('exit', r));
      expect(world.smtp.messages().length).toBeLessThan(500);
      // The rows the killed worker held: leased for 60 s from their claim.
      const heldRows = await world.db
        .selectFrom('deliveries')
        .select(['id', 'leased_until'])
        .where('status', '=', 'pending')
        .where('leased_until', '>', new Date())
        .execute();
      const held = heldRows.map((r) => r.id);
      expect(held.length).toBeGreaterThan(0);
      const leaseEnds = Math.min(...heldRows.map((r) => r.leased_until!.getTime()));
      worker = startWorker(world);
      // They must be taken over once the worker is known gone, well before their lease ends.
      await eventually(
        async () => (await world.db.selectFrom('deliveries').select('id').where('id', 'in', held).where('status', '=', 'pending').execute()).length === 0,
        { what: "the killed worker's rows sent by the new one", timeoutMs: 60_000, everyMs: 100 },
      );
      // Sent by the new worker before their lease ran out: taken over, not waited out.
      expect(Date.now()).toBeLessThan(leaseEnds);
      // After each kill, the second copies so far stay within the bound.
      const duplicates = countDuplicates(world);
      expect(duplicates - duplicatesBefore).toBeLessThanOrEqual(bound);
      duplicatesBefore = duplicates;
    }
    await waitForSendStatus(world.db, 'done', 60_000);
    const duplicates = expectDeliveredOnce(world, readers, 2 * bound);
    console.log(`kill -9 twice: ${duplicates} duplicate(s) in all; bound per kill ${bound}`);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 500 });
  } finally {
    await stopWorker(worker);
    await world.close();
  }
});

test('Redis flushed (FLUSHALL) and then restarted mid-send: the rows bring the work back, everyone once', async () => {
  const world = await startWorld({ redisUrl, workers: false, env: WORKER_ENV });
  const worker = startWorker(world);
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  try {
    const readers = await addSubscribers(world.db, world.list.id, 400, 'flush');
    await importFixture(world);
    await startSend(world, '2021-02');
    await waitForMessages(world, 80);
    await admin.flushall();
    await waitForMessages(world, 200);
    // A restart: the server goes away (its port free again) and comes back empty.
    await stopPrivateRedis(redisPort);
    expect(world.smtp.messages().length).toBeLessThan(400); // mid-send
    await startPrivateRedis(redisPort);
    await waitForSendStatus(world.db, 'done', 120_000);
    expectDeliveredOnce(world, readers, 2 * 2 * 50);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 400 });
  } finally {
    admin.disconnect();
    await stopWorker(worker);
    await world.close();
  }
});
