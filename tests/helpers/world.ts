import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { loadConfig, type CircuitSettings, type Config } from '../../src/config';
import type { Db } from '../../src/db/database';
import type { Cadence, List, ListSection, SendStatus, SubscriptionStatus } from '../../src/db/schema';
import { compileMjmlHere } from '../../src/issues/mjml';
import { importIssue } from '../../src/issues/repository';
import { loadTemplates } from '../../src/issues/templates';
import type { Issue } from '../../src/issues/types';
import { validateIssueFile } from '../../src/issues/validate';
import { createList } from '../../src/lists/repository';
import { log } from '../../src/log';
import { parseMail, startCaptureServer, type CaptureServer, type CapturedMail, type RcptVerdict } from '../../src/mail/capture';
import { createSmtpMailer, type Mailer } from '../../src/mail/transport';
import { createQueues, JOB_KINDS, type Queues } from '../../src/queues';
import type { SchedulerOptions } from '../../src/schedules/tick';
import { sendAction } from '../../src/sending/editor';
import { startWorkers, type Workers } from '../../src/worker';
import { GOLDEN_FILE } from '../fixtures/golden';
import { createTestDb, type TestDb } from './db';
import { eventually } from './eventually';
import { deleteKeys } from './redis-keys';

/**
 * The one test world (kysely's TestContext): a fresh database cloned from the migrated
 * template, Redis under a key prefix of its own, a capture SMTP server, the queue workers and
 * scheduler in this process (unless `workers: false`) and, with `app: true`, the HTTP app on a
 * loopback port. Nothing is mocked. `close()` leaves nothing behind: the database is dropped
 * and every Redis key under the prefix is deleted.
 */
export interface World {
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
  /** The list made at the start (ml-news unless `list` said otherwise); an error with `list: false`. */
  list: List;
  /** The app's address, with `app: true` (PUBLIC_URL is then this address). */
  baseUrl: string;
  createList(slug: string, options?: { language?: string; sections?: ListSection[]; welcome?: boolean; name?: string }): Promise<List>;
  /** An issue and its send as rows (see insertIssue) on the world's list. */
  addIssue(issue: Issue, status: SendStatus | 'draft', startedAt?: Date): Promise<void>;
  /** A second app (own Redis connection and queues, same database and prefix): another process. */
  startPeer(): Promise<{ baseUrl: string; close(): Promise<void> }>;
  close(): Promise<void>;
}

/** Settings a test sets directly, in units finer than the environment's (a circuit that waits 200 ms). */
export type ConfigOverrides = Partial<Omit<Config, 'circuit'>> & { circuit?: Partial<CircuitSettings> };

export interface WorldOptions {
  /** Environment as the product reads it (loadConfig). */
  env?: Record<string, string>;
  /** Applied after `env`: timings shorter than the environment can say. */
  config?: ConfigOverrides;
  redisUrl?: string;
  /** postgres://user@host:port of another PostgreSQL server (fault tests run their own). */
  databaseServer?: string;
  /** The queue workers, their repairs and the scheduler in this process (default true). */
  workers?: boolean;
  scheduler?: SchedulerOptions;
  /** The HTTP app on a loopback port (default false). */
  app?: boolean;
  /** The app's clock (a test moves time with it; bull's timers stay real); the scheduler's is `scheduler.clock`. */
  clock?: () => Date;
  ratePerIp?: number;
  /** The list made at the start; `false`: none (the test makes its own with createList). */
  list?: false | { slug?: string; name?: string; language?: string; timezone?: string };
  /** The SMTP server's answer to a recipient; a promise holds it until it settles. */
  onRcpt?: (address: string) => RcptVerdict | Promise<RcptVerdict>;
  onConnect?: () => RcptVerdict;
  smtpPort?: number;
  /** See startCaptureServer's closeTimeoutMs: an outage test cuts open connections at once. */
  smtpCloseTimeoutMs?: number;
  /** The SMTP server offers neither 8BITMIME nor SMTPUTF8. */
  plainSmtp?: boolean;
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function withOverrides(config: Config, overrides: ConfigOverrides = {}): Config {
  return Object.freeze({ ...config, ...overrides, circuit: Object.freeze({ ...config.circuit, ...overrides.circuit }) });
}

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const test = await createTestDb(options.databaseServer);
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const prefix = `bs-test-${randomBytes(5).toString('hex')}`;
  const smtp = await startCaptureServer({
    onRcpt: options.onRcpt,
    onConnect: options.onConnect,
    keep: 1_000_000,
    port: options.smtpPort,
    plain: options.plainSmtp,
    // close() comes after the mailer's, so no connection of ours is left: nothing to wait 30 s for.
    closeTimeoutMs: options.smtpCloseTimeoutMs ?? 1000,
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-data-'));
  let server: http.Server | undefined;
  if (options.app) {
    server = http.createServer();
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  }
  const baseUrl = server ? `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` : '';
  const config = withOverrides(
    loadConfig({
      NODE_ENV: 'test',
      PUBLIC_URL: baseUrl || 'http://news.example.org',
      SECRET_KEY: 'test-secret-key-for-links-0001',
      DATA_DIR: dataDir,
      SUBSCRIBE_RATE_PER_IP: String(options.ratePerIp ?? 1000),
      SEND_CONCURRENCY: '4',
      REPAIR_INTERVAL_SECONDS: '1',
      DELIVERY_LEASE_SECONDS: '5',
      ...options.env,
    }),
    options.config,
  );
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  // A 100 ms idle wait for jobs (bull's is 5 s): close() stops the workers at once instead of
  // waiting 500 ms for each queue's blocked connection to give up.
  const timings = { lockMs: config.jobLockMs, stalledIntervalMs: config.jobStallCheckMs, retryFirstMs: config.jobRetryFirstMs };
  const queues = createQueues(redisUrl, prefix, test.db, timings);
  const mailer = createSmtpMailer(smtp.url, { pool: config.sendConcurrency, dkim: config.dkim });
  let workers: Workers | undefined;
  if (options.workers !== false) {
    workers = await startWorkers(
      { config, db: test.db, redis, queues, mailer, systemMailer: mailer, templates: loadTemplates(), compileMjml: compileMjmlHere, log },
      { scheduler: options.scheduler },
    );
    // bull names each worker's blocking connection just after process() starts, in a promise it
    // never awaits: a test that pauses the queue locally before that answer comes (which drops
    // the connection) leaves it rejected with "Connection is closed.", and Jest fails the file
    // for the unhandled rejection. Wait until every kind's worker is named.
    await eventually(async () => (await Promise.all(JOB_KINDS.map((kind) => queues.queue(kind).getWorkers()))).every((w) => w.length > 0), {
      what: 'every queue worker named in Redis',
    });
  }
  // Loaded only for a world with an app: express and every route are a third of a second of a
  // test file's start that files without one need not pay.
  const app = () => import('../../src/app.js').then((m) => m.createApp);
  if (server) server.on('request', (await app())({ config, db: test.db, redis, queues, clock: options.clock }));

  const makeList: World['createList'] = (slug, o = {}) =>
    createList(test.db, {
      slug,
      name: o.name ?? `The ${slug} letter`,
      from_address: `"${o.name ?? slug}" <${slug}@news.example.org>`,
      language: o.language ?? 'en',
      sections: o.sections ?? [],
      welcome_email: o.welcome ?? false,
      contact: 'Example Press, 1 Main Street, Springfield',
    });
  let first =
    options.list === false
      ? undefined
      : await createList(test.db, {
          slug: options.list?.slug ?? 'ml-news',
          name: options.list?.name ?? '机器学习月报',
          from_address: '"ML News" <news@example.org>',
          language: options.list?.language ?? 'zh-CN',
          timezone: options.list?.timezone ?? 'Asia/Shanghai',
          contact: 'Example Press · 1 Main Street · Berlin',
          sections: [],
        });

  const peers: Array<() => Promise<void>> = [];
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
    get list(): List {
      if (!first) throw new Error('this world was started with list: false; make one with createList');
      return first;
    },
    /** A test that changed the list's row puts the new one here. */
    set list(changed: List) {
      first = changed;
    },
    get baseUrl(): string {
      if (!baseUrl) throw new Error('this world has no app: start it with app: true');
      return baseUrl;
    },
    createList: makeList,
    addIssue: (issue, status, startedAt) => insertIssue(test.db, first!.id, issue, status, startedAt),
    async startPeer() {
      const peerRedis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      peerRedis.on('error', () => {});
      const peerQueues = createQueues(redisUrl, prefix, test.db, timings);
      const peer = http.createServer((await app())({ config, db: test.db, redis: peerRedis, queues: peerQueues }));
      await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
      const close = async () => {
        peer.closeAllConnections();
        await new Promise<void>((resolve) => peer.close(() => resolve()));
        await peerQueues.close();
        peerRedis.disconnect();
      };
      peers.push(close);
      return { baseUrl: `http://127.0.0.1:${(peer.address() as net.AddressInfo).port}`, close };
    },
    async close() {
      for (const close of peers) await close();
      if (server) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server!.close(() => resolve()));
      }
      await workers?.close();
      await queues.close();
      mailer.close();
      await deleteKeys(redis, prefix);
      redis.disconnect();
      await smtp.close();
      await test.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/* ---- rows ---- */

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
export async function importFixture(world: World, file = GOLDEN_FILE) {
  const checked = await validateIssueFile(file);
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
  return (await importIssue(world.db, { list: world.list, issue: checked.issue, baseDir: checked.baseDir, dataDir: world.dataDir })).issue;
}

/**
 * An issue and its send as rows, in any state a send can be in ('draft': no send at all), so a
 * test says what is public without sending anything.
 */
export async function insertIssue(db: Db, listId: string, issue: Issue, status: SendStatus | 'draft', startedAt = new Date()): Promise<void> {
  const row = await db
    .insertInto('issues')
    .values({ list_id: listId, slug: issue.slug, kind: issue.kind ?? 'weekly', date: issue.date, title: issue.title, content: JSON.stringify(issue) })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (status === 'draft') return;
  await db
    .insertInto('sends')
    .values({
      issue_id: row.id,
      list_id: listId,
      cadence: issue.kind === 'digest' ? 'monthly' : 'weekly',
      status,
      scheduled_at: startedAt,
      started_at: status === 'scheduled' || status === 'cancelled' ? null : startedAt,
      batch_size: 100,
    })
    .execute();
}

/** A small valid issue; `over` changes any field. */
export function smallIssue(slug: string, date: string, over: Partial<Issue> = {}): Issue {
  return {
    format: 1,
    list: 'ml-news',
    kind: 'weekly',
    slug,
    title: `Issue ${slug} <b>& co</b>`,
    preheader: `Preheader of ${slug}`,
    date,
    language: 'en',
    sections: [{ id: 'papers', title: 'Papers', items: [{ title: `Story of ${slug}`, url: `https://example.com/${slug}`, summary: 'A **short** summary.' }] }],
    ...over,
  };
}

/* ---- sends ---- */

export async function startSend(world: World, issueSlug: string) {
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

/* ---- mail ---- */

/** How many messages each recipient got. */
export function receivedPerAddress(smtp: CaptureServer): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of smtp.messages()) for (const to of m.envelope.to) counts.set(to, (counts.get(to) ?? 0) + 1);
  return counts;
}

/** The first link to `/${purpose}/…` in a captured email's plain-text part. */
export async function linkIn(mail: CapturedMail, purpose: 'confirm' | 'preferences' | 'unsubscribe'): Promise<string> {
  const parsed = await parseMail(mail);
  const match = new RegExp(`https?://[^\\s]+/${purpose}/[A-Za-z0-9._-]+`).exec(parsed.text ?? '');
  if (!match) throw new Error(`no ${purpose} link in: ${parsed.text}`);
  return match[0];
}

export function mailTo(address: string, subject?: RegExp) {
  return async (m: CapturedMail) => {
    if (!m.envelope.to.includes(address)) return false;
    if (!subject) return true;
    return subject.test((await parseMail(m)).subject ?? '');
  };
}

/** Mail to one address, in arrival order (the subject parsed). */
export async function mailsTo(smtp: CaptureServer, address: string): Promise<Array<{ subject: string; mail: CapturedMail }>> {
  const mine = smtp.messages().filter((m) => m.envelope.to.includes(address));
  return Promise.all(mine.map(async (mail) => ({ subject: (await parseMail(mail)).subject ?? '', mail })));
}

/** Waits for the n-th email to an address (1-based) whose subject matches. */
export async function waitForMail(smtp: CaptureServer, address: string, subject: RegExp, nth = 1, timeoutMs = 10_000): Promise<CapturedMail> {
  return eventually(async () => (await mailsTo(smtp, address)).filter((m) => subject.test(m.subject))[nth - 1]?.mail, {
    timeoutMs,
    what: `email #${nth} to ${address} matching ${subject}`,
  });
}

/** Waits until the system-mail queue has nothing waiting or running. */
export async function queueIdle(queues: Queues, timeoutMs = 10_000): Promise<void> {
  await eventually(
    async () => {
      const counts = await queues.systemMail.getJobCounts();
      return counts.waiting === 0 && counts.active === 0 && counts.delayed === 0;
    },
    { timeoutMs, what: 'system-mail queue idle' },
  );
}

/** A unique address for one test. */
export function address(tag: string): string {
  return `${tag}-${randomBytes(4).toString('hex')}@example.org`;
}

/* ---- HTTP ---- */

/** A form POST as a browser sends it. */
export function postForm(url: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers },
    body,
    redirect: 'manual',
  });
}

export function postJson(url: string, value: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify(value),
  });
}

/* ---- faults ---- */

/** A private redis-server of the test's own on `port`, so that faults touch nothing else; resolves once it answers. */
export async function startPrivateRedis(port: number): Promise<void> {
  const r = spawnSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes']);
  if (r.status !== 0) throw new Error(`redis-server did not start: ${r.stderr}`);
  await eventually(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG', {
    what: `private redis on ${port} answering`,
    everyMs: 20,
  });
}

/** Stops it; resolves once the port is free again (down means down). */
export async function stopPrivateRedis(port: number): Promise<void> {
  spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
  await eventually(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).status !== 0, {
    what: `private redis on ${port} gone`,
    everyMs: 20,
  });
}
