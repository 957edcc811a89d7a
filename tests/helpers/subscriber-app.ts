import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import type { List, ListSection } from '../../src/db/schema';
import { createList } from '../../src/lists/repository';
import { createQueues, JOB_KINDS, type Queues } from '../../src/queues';
import { parseMail, startCaptureServer, type CaptureServer, type CapturedMail, type RcptVerdict } from '../../src/mail/capture';
import { createSmtpMailer, type Mailer } from '../../src/mail/transport';
import { startWorkers, type Workers } from '../../src/worker';
import { compileMjmlHere } from '../../src/issues/mjml';
import type { SchedulerOptions } from '../../src/schedules/tick';
import { loadTemplates } from '../../src/issues/templates';
import { log } from '../../src/log';
import { createTestDb, type TestDb } from './db';
import { eventually } from './eventually';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * The whole reader side for real: a fresh PostgreSQL database, Redis with a queue prefix of
 * its own, an SMTP capture server, the system-mail worker sending to it, and the HTTP app on
 * a free loopback port. Nothing is mocked.
 */
export interface SubscriberApp {
  baseUrl: string;
  config: Config;
  test: TestDb;
  redis: Redis;
  queues: Queues;
  smtp: CaptureServer;
  prefix: string;
  createList(slug: string, options?: { language?: string; sections?: ListSection[]; welcome?: boolean; name?: string }): Promise<List>;
  /** A second app (own Redis connection and queues, same database and prefix): another process. */
  startPeer(): Promise<{ baseUrl: string; close(): Promise<void> }>;
  close(): Promise<void>;
}

export async function startSubscriberApp(
  options: {
    ratePerIp?: number;
    onRcpt?: (address: string) => RcptVerdict;
    env?: Record<string, string>;
    /** The app's and the scheduler's clock (a test moves time with it; bull's timers stay real). */
    clock?: () => Date;
    scheduler?: SchedulerOptions;
  } = {},
): Promise<SubscriberApp> {
  const test = await createTestDb();
  const prefix = `bs-test-${randomBytes(5).toString('hex')}`;
  const smtp = await startCaptureServer({ onRcpt: options.onRcpt });

  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const config = loadConfig({
    NODE_ENV: 'test',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    SECRET_KEY: 'test-secret-key-for-links-0001',
    SUBSCRIBE_RATE_PER_IP: String(options.ratePerIp ?? 1000),
    ...options.env,
  });

  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const queues = createQueues(REDIS_URL, prefix, test.db);
  const mailer: Mailer = createSmtpMailer(smtp.url, { pool: 1 });
  const workers: Workers = await startWorkers(
    { config, db: test.db, redis, queues, mailer, systemMailer: mailer, templates: loadTemplates(), compileMjml: compileMjmlHere, log },
    { scheduler: options.scheduler },
  );
  // bull names each worker's blocking connection just after process() starts, in a promise it
  // never awaits: a test that pauses the queue locally before that answer comes (which drops
  // the connection) leaves it rejected with "Connection is closed.", and Jest fails both tests
  // of the file for the unhandled rejection. Wait until every kind's worker is named.
  await eventually(async () => (await Promise.all(JOB_KINDS.map((kind) => queues.queue(kind).getWorkers()))).every((w) => w.length > 0));
  server.on('request', createApp({ config, db: test.db, redis, queues, clock: options.clock }));

  const peers: Array<() => Promise<void>> = [];
  return {
    baseUrl: config.publicUrl,
    config,
    test,
    redis,
    queues,
    smtp,
    prefix,
    createList(slug, o = {}) {
      return createList(test.db, {
        slug,
        name: o.name ?? `The ${slug} letter`,
        from_address: `"${o.name ?? slug}" <${slug}@news.example.org>`,
        language: o.language ?? 'en',
        sections: o.sections ?? [],
        welcome_email: o.welcome ?? false,
        contact: 'Example Press, 1 Main Street, Springfield',
      });
    },
    async startPeer() {
      const peerRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
      const peerQueues = createQueues(REDIS_URL, prefix, test.db);
      const peer = http.createServer(createApp({ config, db: test.db, redis: peerRedis, queues: peerQueues }));
      await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
      const close = async () => {
        await new Promise<void>((resolve) => peer.close(() => resolve()));
        await peerQueues.close();
        peerRedis.disconnect();
      };
      peers.push(close);
      return { baseUrl: `http://127.0.0.1:${(peer.address() as AddressInfo).port}`, close };
    },
    async close() {
      for (const close of peers) await close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await workers.close();
      mailer.close();
      await queues.systemMail.obliterate({ force: true }).catch(() => undefined);
      await queues.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await smtp.close();
      await test.drop();
    },
  };
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

export { eventually };

/** Waits until the system-mail queue has nothing waiting or running. */
export async function queueIdle(queues: Queues, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => {
    const counts = await queues.systemMail.getJobCounts();
    return counts.waiting === 0 && counts.active === 0 && counts.delayed === 0;
  }, timeoutMs);
}

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

/** A unique address for one test. */
export function address(tag: string): string {
  return `${tag}-${randomBytes(4).toString('hex')}@example.org`;
}
