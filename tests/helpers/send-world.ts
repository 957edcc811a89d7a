import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { loadConfig, type Config } from '../../src/config';
import type { Cadence, List, SubscriptionStatus } from '../../src/db/schema';
import type { Db } from '../../src/db/database';
import { importIssue } from '../../src/issues/repository';
import { compileMjmlHere } from '../../src/issues/mjml';
import { loadTemplates } from '../../src/issues/templates';
import { validateIssueFile } from '../../src/issues/validate';
import { createList } from '../../src/lists/repository';
import { log } from '../../src/log';
import { startCaptureServer, type CaptureServer, type RcptVerdict } from '../../src/mail/capture';
import { createSmtpMailer, type Mailer } from '../../src/mail/transport';
import { createQueues, type Queues } from '../../src/queues';
import { sendAction } from '../../src/sending/editor';
import { startWorkers, type Workers } from '../../src/worker';
import { createTestDb, type TestDb } from './db';
import { eventually } from './eventually';
import { GOLDEN_FILE } from '../fixtures/golden';

/**
 * A whole sending setup for real: a fresh database, Redis with a prefix of its own, a capture
 * SMTP server and (unless `workers: false`) the queue workers in this process.
 */
export interface SendWorld {
  test: TestDb;
  db: Db;
  config: Config;
  redisUrl: string;
  prefix: string;
  redis: Redis;
  queues: Queues;
  smtp: CaptureServer;
  mailer: Mailer;
  workers?: Workers;
  dataDir: string;
  list: List;
  close(): Promise<void>;
}

export interface WorldOptions {
  redisUrl?: string;
  env?: Record<string, string>;
  onRcpt?: (address: string) => RcptVerdict;
  onConnect?: () => RcptVerdict;
  workers?: boolean;
  smtpPort?: number;
  /** See startCaptureServer's closeTimeoutMs: an outage test cuts open connections at once. */
  smtpCloseTimeoutMs?: number;
  /** The SMTP server offers neither 8BITMIME nor SMTPUTF8. */
  plainSmtp?: boolean;
  /** postgres://user@host:port of another PostgreSQL server (fault tests run their own). */
  databaseServer?: string;
}

export async function startSendWorld(options: WorldOptions = {}): Promise<SendWorld> {
  const test = await createTestDb(options.databaseServer);
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `bs-send-${randomBytes(5).toString('hex')}`;
  const smtp = await startCaptureServer({
    onRcpt: options.onRcpt,
    onConnect: options.onConnect,
    keep: 1_000_000,
    port: options.smtpPort,
    plain: options.plainSmtp,
    closeTimeoutMs: options.smtpCloseTimeoutMs,
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-data-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    PUBLIC_URL: 'http://news.example.org',
    SECRET_KEY: 'test-secret-key-for-links-0001',
    DATA_DIR: dataDir,
    SEND_CONCURRENCY: '4',
    REPAIR_INTERVAL_SECONDS: '1',
    DELIVERY_LEASE_SECONDS: '5',
    ...options.env,
  });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  const queues = createQueues(redisUrl, prefix, test.db, {
    lockMs: config.jobLockMs,
    stalledIntervalMs: config.jobStallCheckMs,
    retryFirstMs: config.jobRetryFirstMs,
  });
  const mailer = createSmtpMailer(smtp.url, { pool: config.sendConcurrency, dkim: config.dkim });
  const workers =
    options.workers === false
      ? undefined
      : await startWorkers({ config, db: test.db, redis, queues, mailer, systemMailer: mailer, templates: loadTemplates(), compileMjml: compileMjmlHere, log });
  const list = await createList(test.db, {
    slug: 'ml-news',
    name: '机器学习月报',
    from_address: '"ML News" <news@example.org>',
    language: 'zh-CN',
    contact: 'Example Press · 1 Main Street · Berlin',
    sections: [],
  });
  return {
    test,
    db: test.db,
    config,
    redisUrl,
    prefix,
    redis,
    queues,
    smtp,
    mailer,
    workers,
    dataDir,
    list,
    async close() {
      await workers?.close();
      await queues.close();
      mailer.close();
      redis.disconnect();
      await smtp.close();
      await test.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `n` subscriptions made in one statement: emails `${tag}-${i}@example.org`. */
export async function addSubscribers(
  db: Db,
  listId: string,
  n: number,
  tag: string,
  options: { cadence?: Cadence; status?: SubscriptionStatus; paused?: boolean; excluded?: string[] } = {},
): Promise<string[]> {
  await sql`
    WITH people AS (
      INSERT INTO subscribers (email, name)
      SELECT ${tag} || '-' || i || '@example.org', CASE WHEN i % 3 = 0 THEN '' ELSE '读者 ' || i END FROM generate_series(1, ${n}) i
      RETURNING id, email
    )
    INSERT INTO subscriptions (list_id, subscriber_id, status, cadence, paused, excluded_sections, consent_source, confirmed_at)
    SELECT ${listId}, id, ${options.status ?? 'active'}, ${options.cadence ?? 'weekly'}, ${options.paused ?? false},
           ${options.excluded ?? []}::text[], 'test', now()
    FROM people
  `.execute(db);
  return Array.from({ length: n }, (_, i) => `${tag}-${i + 1}@example.org`);
}

/** Imports an issue file (the golden fixture by default) into the world's list. */
export async function importFixture(world: SendWorld, file = GOLDEN_FILE) {
  const checked = await validateIssueFile(file);
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
  return (await importIssue(world.db, { list: world.list, issue: checked.issue, baseDir: checked.baseDir, dataDir: world.dataDir })).issue;
}

export async function startSend(world: SendWorld, issueSlug: string) {
  const issue = await world.db.selectFrom('issues').selectAll().where('slug', '=', issueSlug).executeTakeFirstOrThrow();
  return sendAction({ db: world.db, queues: world.queues, config: world.config }, issue, world.list, 'send');
}

/** Waits until the (one) send has `status`; a fault test may have the database away meanwhile (eventually asks again). */
export async function waitForSendStatus(db: Db, status: string, timeoutMs = 60_000): Promise<void> {
  await eventually(
    async () => {
      const send = await db.selectFrom('sends').select(['status', 'pause_reason']).executeTakeFirst();
      // Thrown, so that a timeout says where the send stood.
      if (send?.status !== status) throw new Error(`send is ${send?.status} (${send?.pause_reason ?? ''})`);
      return true;
    },
    { timeoutMs, what: `send status ${status}`, everyMs: 100 },
  );
}

export async function deliveryCounts(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** How many messages each recipient got. */
export function receivedPerAddress(smtp: CaptureServer): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of smtp.messages()) for (const to of m.envelope.to) counts.set(to, (counts.get(to) ?? 0) + 1);
  return counts;
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** A private redis-server of the test's own on `port`, so that faults touch nothing else. */
export function startPrivateRedis(port: number): void {
  const r = spawnSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes']);
  if (r.status !== 0) throw new Error(`redis-server did not start: ${r.stderr}`);
}

export function stopPrivateRedis(port: number): void {
  spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
}
