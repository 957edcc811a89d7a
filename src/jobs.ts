import type { Redis } from 'ioredis';
import type { Config } from './config';
import type { Db } from './db/database';
import type { CompileMjml } from './issues/mjml';
import type { Templates } from './issues/templates';
import type { Logger } from './log';
import type { Mailer } from './mail/transport';
import type { JobKind, JobPayloads, Queues } from './queues';
import { BATCH_JOBS_PER_WORKER, sendBatch } from './sending/batch';
import { gate } from './sending/circuit';
import { planSend } from './sending/plan';
import { sendStore, sendsInStatus } from './sending/repository';
import { sendTestEmail } from './sending/test-send';
import { createThrottle } from './sending/throttle';
import { VariantCache } from './sending/variants';
import { foldPiledUpCounters } from './db/counters';
import { expirePendingSubscriptions, queueDueReminders } from './subscribers/pending';
import { createSubscribeLimits } from './subscribers/rate-limits';
import { requeueLostConfirmations } from './subscribers/repair';
import { processSystemMailJob } from './system-mail/job';
import { sendSignInMail } from './editors/sign-in-mail';

/** What the handlers need; only the composition roots (main.ts, tests) build it for real. */
export interface WorkerDeps {
  config: Config;
  db: Db;
  redis: Redis;
  queues: Queues;
  /** Newsletters: SEND_CONCURRENCY connections. */
  mailer: Mailer;
  /** System mail has its own small pool, so a confirmation never waits behind a big send. */
  systemMailer: Mailer;
  templates: Templates;
  /**
   * Where MJML runs: the worker process passes its compiler child (mjml-process.ts); tests
   * may pass compileMjmlHere. Required, so that forgetting it is a type error rather than
   * MJML silently loaded into the worker.
   */
  compileMjml: CompileMjml;
  log: Logger;
  /** What time it is for the row-driven housekeeping (reminders, expiry): tests move it. */
  clock?: () => Date;
}

export interface JobDefinition<K extends JobKind> {
  /** Jobs of this kind one worker process runs at once. */
  concurrency(config: Config): number;
  handle(payload: JobPayloads[K]): Promise<unknown>;
  /**
   * The jobs the rows say should exist: queued again on start and every REPAIR_INTERVAL, after
   * a crash, a flushed or restarted Redis. Job ids are deterministic, so a job that is still
   * queued is not doubled. Must be cheap: it runs often.
   */
  repair?(): Promise<JobPayloads[K][] | number>;
}

export type JobRegistry = { [K in JobKind]: JobDefinition<K> };

/** Every kind of job, with its handler and its repair. The worker runs whatever is here. */
/** `workerId`: this process's id in send_workers, the holder of the leases its batch jobs take. */
export function jobRegistry(deps: WorkerDeps, workerId: string): JobRegistry {
  const store = sendStore(deps.db);
  const batchDeps = {
    config: deps.config,
    store,
    queues: deps.queues,
    workerId,
    mailer: deps.mailer,
    throttle: createThrottle(deps.redis, deps.queues.prefix, deps.config.sendRate),
    variants: new VariantCache(),
    templates: deps.templates,
    compileMjml: deps.compileMjml,
    log: deps.log,
  };
  // The same per-address budget the subscribe form spends (Redis, shared by every process).
  const limits = createSubscribeLimits(deps.redis, { subscribeRatePerIp: deps.config.subscribeRatePerIp, keyPrefix: deps.queues.prefix });
  return {
    'system-mail': {
      // Few and small; a handful at once keeps a slow SMTP server from holding them up.
      concurrency: () => 4,
      handle: (job) => processSystemMailJob({ ...deps, mailer: deps.systemMailer }, job),
      // Queues them itself (it records a 'confirmation_requeued' event with each). The same pass
      // reminds the pending subscriptions that waited CONFIRM_REMINDER_HOURS, and removes those
      // that waited PENDING_EXPIRY_DAYS (subscribers/pending.ts): all three are due rows.
      repair: async () => {
        const now = (deps.clock ?? (() => new Date()))();
        const settings = { reminderAfterMs: deps.config.confirmReminderMs, expireAfterMs: deps.config.pendingExpiryMs };
        const requeued = await requeueLostConfirmations(deps.db, deps.queues, now);
        const reminded = await queueDueReminders({ db: deps.db, queues: deps.queues, limits }, settings, now);
        const expired = await expirePendingSubscriptions(deps.db, settings, now);
        // The desk's counters (db/counters.ts): lists and sends nobody looked at are folded here.
        await foldPiledUpCounters(deps.db);
        if (expired > 0) deps.log.info({ expired }, 'removed pending subscriptions nobody confirmed');
        return requeued + reminded;
      },
    },
    'editor-mail': {
      concurrency: () => 1,
      handle: (job) => sendSignInMail({ ...deps, mailer: deps.systemMailer }, job),
    },
    'test-send': {
      concurrency: () => 1,
      handle: (job) => sendTestEmail({ ...deps, mailer: deps.systemMailer }, job),
    },
    'plan-send': {
      concurrency: () => 1,
      handle: (job) => planSend({ store, queues: deps.queues }, job.sendId),
      repair: async () => (await sendsInStatus(deps.db, 'planning')).map((s) => ({ sendId: s.id })),
    },
    'send-batch': {
      // Two batches at once: one is claiming and recording while the other's messages are on the wire.
      concurrency: () => BATCH_JOBS_PER_WORKER,
      handle: (job) => sendBatch(batchDeps, job),
      async repair() {
        const batches = [];
        for (const send of await sendsInStatus(deps.db, 'sending')) {
          // A send waiting out SMTP trouble has its prober queued (delayed until the next try):
          // nothing to add while it waits, and only one job once the probe is due but was lost.
          const entry = gate(send, new Date());
          if (entry.kind === 'wait') continue;
          const unsent = await store.unsentBatches(send, deps.config.workerGoneAfterMs);
          batches.push(...(entry.kind === 'probe' ? unsent.slice(0, 1) : unsent));
        }
        return batches;
      },
    },
  };
}
