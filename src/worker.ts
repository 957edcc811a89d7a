import { randomUUID } from 'node:crypto';
import { AppError } from './errors';
import { jobRegistry, type JobDefinition, type WorkerDeps } from './jobs';
import { JOB_KINDS, pauseHere, type JobKind, type Owned, type JobPayloads } from './queues';
import { RetryLater } from './sending/batch';
import { beat, forgetWorker } from './sending/repository';
import { startScheduler, type SchedulerOptions } from './schedules/tick';
import { pruneDeliveries } from './sending/retention';

export type { WorkerDeps } from './jobs';

export interface Workers {
  /** Runs every kind's repair once now (also run on start and every REPAIR_INTERVAL). */
  repair(): Promise<void>;
  /** Stops taking new jobs and waits (bounded) for the ones in progress. */
  close(): Promise<void>;
}

/** Runs every kind of job in the registry, their repairs, and the scheduler. */
export async function startWorkers(deps: WorkerDeps, options: { scheduler?: SchedulerOptions } = {}): Promise<Workers> {
  const workerId = randomUUID();
  const registry = jobRegistry(deps, workerId);
  const owner = await deps.queues.owner();

  // "Alive" every WORKER_HEARTBEAT: rows this process leased are taken over by others as soon
  // as it misses three (killed), instead of after the whole lease.
  const heartbeat = () =>
    beat(deps.db, workerId).catch((err: unknown) => deps.log.warn({ err: (err as Error).message }, 'heartbeat not recorded; will try again'));
  await heartbeat();
  const beating = setInterval(() => void heartbeat(), deps.config.workerHeartbeatMs);
  beating.unref();

  for (const kind of JOB_KINDS) {
    const def = registry[kind] as JobDefinition<JobKind>;
    const queue = deps.queues.queue(kind);
    // Not awaited: bull's process() settles only when the queue closes. A failure to start is
    // also emitted as the queue's 'error' event; it must not become an unhandled rejection.
    queue
      .process(def.concurrency(deps.config), async (job) => {
        const data = job.data as Owned<JobPayloads[JobKind]>;
        if (data.owner !== owner) {
          // Two deployments on one Redis with the same REDIS_PREFIX: refuse loudly, never skip.
          const message = `job ${job.id} names database ${data.owner}, but this worker's database is ${owner}: two deployments share Redis with the same REDIS_PREFIX`;
          deps.log.error({ kind, job: job.id }, message);
          throw new AppError('conflict', message);
        }
        return def.handle(data);
      })
      .catch((err: unknown) => deps.log.error({ kind, err: (err as Error).message }, 'worker stopped'));
    queue.on('failed', (job, err) => {
      if (err instanceof RetryLater) deps.log.info({ kind, job: job.id, attempt: job.attemptsMade }, err.message);
      else deps.log.warn({ kind, job: job.id, attempt: job.attemptsMade, err: err.message }, 'job failed');
    });
  }

  const repair = async () => {
    for (const kind of JOB_KINDS) {
      const def = registry[kind] as JobDefinition<JobKind>;
      if (!def.repair) continue;
      try {
        const found = await def.repair();
        if (Array.isArray(found)) await deps.queues.addBulk(kind, found);
        const n = Array.isArray(found) ? found.length : found;
        if (n > 0) deps.log.debug({ kind, jobs: n }, 'repair queued jobs from the rows');
      } catch (err) {
        deps.log.warn({ kind, err: (err as Error).message }, 'repair failed; will try again');
      }
    }
  };
  void repair();
  const timer = setInterval(() => void repair(), deps.config.repairIntervalMs);
  timer.unref();
  // Finished sends' delivery rows past DELIVERY_RETENTION_DAYS, summarised then removed in
  // small batches (sending/retention.ts); hourly is plenty for a limit counted in days.
  const prune = () =>
    pruneDeliveries(deps.db, { retentionDays: deps.config.deliveryRetentionDays })
      .then((r) => r.rows > 0 && deps.log.info(r, 'removed delivery rows past DELIVERY_RETENTION_DAYS (summaries kept)'))
      .catch((err: Error) => deps.log.warn({ err: err.message }, 'delivery retention failed; will try again'));
  const pruneTimer = setInterval(() => void prune(), 60 * 60 * 1000);
  pruneTimer.unref();
  // Scheduled sends and monthly digests, driven by the rows: every worker runs one, and the
  // guarded status moves make sure each send starts once.
  // `options.scheduler`: a test's clock and interval, so a send scheduled minutes ahead goes
  // through this very scheduler without the test waiting minutes.
  const scheduler = startScheduler(deps, options.scheduler);

  return {
    repair,
    async close() {
      clearInterval(timer);
      clearInterval(pruneTimer);
      clearInterval(beating);
      await Promise.race([scheduler.close(), new Promise((r) => setTimeout(r, 5000).unref())]);
      // Local pause: this process stops taking jobs and waits for its active ones; others on
      // the same queues carry on. Bounded, so a stop never hangs on a Redis that is gone.
      await Promise.all(
        JOB_KINDS.map((kind) => Promise.race([pauseHere(deps.queues.queue(kind)).catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())])),
      );
      // Its jobs have ended and released their rows: nothing of this process is left to wait for.
      await Promise.race([forgetWorker(deps.db, workerId).catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    },
  };
}
