import Queue from 'bull';
import type { Redis } from 'ioredis';
import type { Db } from './db/database';
import { AppError } from './errors';

/**
 * The queues are the work list, never the truth: every job names rows in PostgreSQL, and a
 * flushed Redis is repaired by re-creating jobs from what the rows say is not done
 * (src/jobs.ts lists, for each kind, how).
 *
 * This module only knows the kinds and how to enqueue them, so the web process can queue
 * work without loading the code that does it.
 */
export interface SystemMailJob {
  /** `reminder`: the one reminder to confirm, for a subscription still pending days later. */
  kind: 'confirm' | 'welcome' | 'preferences' | 'export' | 'reminder';
  subscriptionId: string;
}
export interface PlanSendJob {
  sendId: string;
}
export interface SendBatchJob {
  sendId: string;
  /** Deliveries with ids in [batch × batchSize, (batch + 1) × batchSize) of the send. */
  batch: number;
}

/** One test email of an issue, to an editor (`issues test`). */
export interface TestSendJob {
  issueId: string;
  to: string;
  /** Makes each request its own job: a test is asked for, not repaired. */
  requestId: string;
}

/** An editor's sign-in link for the desk (the link's row; the worker signs the URL again). */
export interface EditorMailJob {
  linkId: string;
}

export interface JobPayloads {
  'system-mail': SystemMailJob;
  'editor-mail': EditorMailJob;
  'test-send': TestSendJob;
  'plan-send': PlanSendJob;
  'send-batch': SendBatchJob;
}
export type JobKind = keyof JobPayloads;

/** Every job carries the id of the database whose rows it names. */
export type Owned<P> = P & { owner: string };

interface KindOptions<P> {
  /**
   * The same work gets the same id, so enqueuing it again (a repair, a retry by a user, a
   * second scheduler) is a no-op while the job exists. Finished jobs are removed, so the id
   * can be used again once the rows say there is more to do.
   */
  jobId(payload: P): string;
  attempts: number;
  backoffMs: number;
}

const KINDS: { [K in JobKind]: KindOptions<JobPayloads[K]> } = {
  // An SMTP server that is down for a while must not lose a confirmation email.
  'system-mail': { jobId: (p) => `${p.kind}:${p.subscriptionId}`, attempts: 8, backoffMs: 2000 },
  'editor-mail': { jobId: (p) => `sign-in:${p.linkId}`, attempts: 5, backoffMs: 2000 },
  'test-send': { jobId: (p) => `test:${p.requestId}`, attempts: 3, backoffMs: 1000 },
  'plan-send': { jobId: (p) => `plan:${p.sendId}`, attempts: 10, backoffMs: 1000 },
  // A batch whose SMTP server is down is retried with backoff; once its attempts are spent the
  // rows are still pending and the repair queues it again, so nothing is lost by giving up.
  // A send waiting out SMTP trouble retries its prober for as long as the circuit says (up to
  // SEND_GIVE_UP_AFTER), so attempts are many; each wait is capped at MAX_RETRY_MS.
  'send-batch': { jobId: (p) => `batch:${p.sendId}:${p.batch}`, attempts: 100, backoffMs: 1000 },
};
export const JOB_KINDS = Object.keys(KINDS) as JobKind[];

/** How long an enqueue may wait for Redis before the caller is told it is unavailable. */
const ENQUEUE_TIMEOUT_MS = 10_000;

export interface Queues {
  /** The Redis key prefix of this deployment (or test); rate-limit counters share it. */
  prefix: string;
  queue<K extends JobKind>(kind: K): Queue.Queue<Owned<JobPayloads[K]>>;
  /** The system-mail queue (kept by name: tests and the outbox wait on it). */
  systemMail: Queue.Queue<Owned<SystemMailJob>>;
  add<K extends JobKind>(kind: K, payload: JobPayloads[K]): Promise<Queue.Job<Owned<JobPayloads[K]>>>;
  addBulk<K extends JobKind>(kind: K, payloads: JobPayloads[K][]): Promise<void>;
  /** This database's id (see the `instance` table): jobs naming another one are refused. */
  owner(): Promise<string>;
  close(): Promise<void>;
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError('unavailable', `Redis did not answer in time (${what}); try again shortly`)), ENQUEUE_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** bull's timings (JOB_LOCK_SECONDS, JOB_STALL_CHECK_SECONDS); fault tests shorten them. */
export interface QueueTimings {
  /** A running job's lock; its worker renews it at half this. */
  lockMs: number;
  /** How often workers look for jobs whose lock ran out (a killed worker's) and take them over. */
  stalledIntervalMs: number;
  /** The first wait before a failed job runs again (doubled each time); unset: each kind's own. */
  retryFirstMs?: number;
}

const DEFAULT_TIMINGS: QueueTimings = { lockMs: 15_000, stalledIntervalMs: 10_000 };

/** bull's own pause before a worker whose Redis call failed (a flushed or restarted Redis) looks for work again. */
const RETRY_PROCESS_MS = 5000;

/** The longest a failed job waits for its next try. */
const MAX_RETRY_MS = 5 * 60_000;

/**
 * When a failed job runs again: when the error says (a send waiting out SMTP trouble knows
 * when its next probe is due: \`retryInMs\`), else exponentially from the kind's first wait,
 * at most MAX_RETRY_MS.
 */
function retryLater(attemptsMade: number, err: Error, options: { delay: number } | null): number {
  const told = (err as { retryInMs?: unknown }).retryInMs;
  if (typeof told === 'number' && told >= 0) return told;
  return Math.min(Math.round((2 ** attemptsMade - 1) * (options?.delay ?? 1000)), MAX_RETRY_MS);
}

/** `prefix` keeps the keys of one deployment (or one test) apart from another's (REDIS_PREFIX). */
export function createQueues(redisUrl: string, prefix: string, db: Db, timings: QueueTimings = DEFAULT_TIMINGS): Queues {
  const queues = new Map<JobKind, Queue.Queue>();
  const queue = <K extends JobKind>(kind: K): Queue.Queue<Owned<JobPayloads[K]>> => {
    let q = queues.get(kind);
    if (!q) {
      const options = KINDS[kind];
      q = new Queue(kind, redisUrl, {
        prefix,
        defaultJobOptions: {
          attempts: options.attempts,
          backoff: { type: 'retryLater', options: { delay: timings.retryFirstMs ?? options.backoffMs } } as Queue.BackoffOptions,
          removeOnComplete: true,
          removeOnFail: true,
        },
        // A killed worker's job is taken over by another after about lock + stalled interval.
        settings: {
          lockDuration: timings.lockMs,
          stalledInterval: timings.stalledIntervalMs,
          maxStalledCount: 2,
          backoffStrategies: { retryLater },
          // Never slower than the look for stalled jobs: with the defaults bull's own 5 s, and a
          // fault test that shortens the stall check gets its Redis restart picked up as soon.
          retryProcessDelay: Math.min(RETRY_PROCESS_MS, timings.stalledIntervalMs),
        },
      });
      // Without a listener a lost connection is an unhandled 'error' event; ioredis reconnects by itself.
      q.on('error', () => {});
      queues.set(kind, q);
    }
    return q as Queue.Queue<Owned<JobPayloads[K]>>;
  };
  let owner: Promise<string> | undefined;
  const ownerId = () => {
    owner ??= db
      .selectFrom('instance')
      .select('id')
      .executeTakeFirstOrThrow()
      .then((r) => r.id);
    owner.catch(() => (owner = undefined));
    return owner;
  };
  return {
    prefix,
    queue,
    get systemMail() {
      return queue('system-mail');
    },
    async add(kind, payload) {
      const me = await ownerId();
      return withTimeout(queue(kind).add({ ...payload, owner: me }, { jobId: KINDS[kind].jobId(payload) }), `queueing ${kind}`);
    },
    async addBulk(kind, payloads) {
      if (payloads.length === 0) return;
      const me = await ownerId();
      // In slices: a million-recipient send has ten thousand batch jobs.
      for (let i = 0; i < payloads.length; i += 1000) {
        const jobs = payloads.slice(i, i + 1000).map((p) => ({ data: { ...p, owner: me }, opts: { jobId: KINDS[kind].jobId(p) } }));
        await withTimeout(queue(kind).addBulk(jobs), `queueing ${jobs.length} ${kind} jobs`);
      }
    },
    owner: ownerId,
    async close() {
      // Bounded: with Redis gone, bull's close waits for a connection that never comes.
      await Promise.all([...queues.values()].map((q) => Promise.race([q.close().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())])));
    },
  };
}

/**
 * Stops this process taking jobs of `queue` and waits for the ones it is running (bull's local
 * pause), without bull's half-second wait. bull QUITs its blocking connection, and Redis answers
 * that QUIT only after the BRPOPLPUSHes queued ahead of it (one per unit of concurrency) end,
 * which bull gives up waiting for after 500 ms: every stop of a worker, and every test world's,
 * paid it. Once the pause has begun (the QUIT is sent), each of them is unblocked in turn, the
 * connection found by its local port. Where it cannot be found (Redis behind NAT), bull's own
 * timeout still ends the wait.
 */
export async function pauseHere(queue: Queue.Queue): Promise<void> {
  const bull = queue as unknown as { bclientInitialized?: boolean; bclient: { stream?: { localPort?: number } }; client: Redis };
  let paused = false;
  const pausing = queue.pause(true).finally(() => (paused = true));
  const port = bull.bclientInitialized ? bull.bclient.stream?.localPort : undefined;
  const addr = new RegExp(`\\baddr=\\S+:${port} `);
  for (let tries = 0; port && !paused && tries < 50; tries++) {
    try {
      const clients = (await bull.client.client('LIST')) as string;
      const blocked = clients
        .split('\n')
        .find((line) => line.includes(' cmd=brpoplpush ') && addr.test(line))
        ?.match(/^id=(\d+) /)?.[1];
      if (blocked) await bull.client.client('UNBLOCK', blocked);
      else await new Promise((r) => setTimeout(r, 5));
    } catch {
      break; // Redis away: the pause below is bounded by bull and by the caller.
    }
  }
  await pausing;
}
