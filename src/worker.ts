import type { Config } from './config';
import type { Db } from './db/database';
import type { Queues } from './queues';
import type { Mailer } from './sending/mailer';
import { requeueLostConfirmations } from './subscribers/repair';
import { processSystemMailJob } from './subscribers/system-mail';

/** What the queue workers need; `runProcess` (src/main.ts) and the tests build it for real. */
export interface WorkerDeps {
  config: Config;
  db: Db;
  queues: Queues;
  mailer: Mailer;
}

export interface Workers {
  /** Stops taking new jobs and waits for the ones in progress. */
  close(): Promise<void>;
}

/** System emails are few and small; a handful at once keeps a slow SMTP server from holding them up. */
const SYSTEM_MAIL_CONCURRENCY = 4;
/** How often the rows are compared with the queue, to re-create jobs that were lost. */
const REPAIR_EVERY_MS = 5 * 60_000;

export async function startWorkers(deps: WorkerDeps): Promise<Workers> {
  const { systemMail } = deps.queues;
  // Not awaited: bull's process() settles only when the queue closes. A failure to start is
  // also emitted as the queue's 'error' event; it must not become an unhandled rejection.
  systemMail
    .process(SYSTEM_MAIL_CONCURRENCY, (job) => processSystemMailJob(deps, job.data))
    .catch((err: unknown) => console.error('system mail worker stopped', err));
  await systemMail.isReady();

  const repair = () =>
    requeueLostConfirmations(deps.db, deps.queues)
      .then((n) => n > 0 && console.log(`re-queued ${n} confirmation email(s) that were lost`))
      .catch((err: unknown) => console.error('confirmation repair failed; will try again', err));
  void repair();
  const timer = setInterval(repair, REPAIR_EVERY_MS);
  timer.unref();

  return {
    async close() {
      clearInterval(timer);
      // Local pause: this process stops taking jobs; others on the same queue carry on.
      await systemMail.pause(true);
    },
  };
}
