import Queue from 'bull';

/**
 * The queues are the work list, never the truth: every job names rows in PostgreSQL, and
 * a flushed Redis is repaired by re-creating jobs from what the rows say is not done.
 */
export interface SystemMailJob {
  kind: 'confirm' | 'welcome' | 'preferences';
  subscriptionId: string;
}

export interface Queues {
  /** The Redis key prefix of this deployment (or test); rate-limit counters share it. */
  prefix: string;
  systemMail: Queue.Queue<SystemMailJob>;
  close(): Promise<void>;
}

/** `prefix` keeps the keys of one deployment (or one test) apart from another's. */
export function createQueues(redisUrl: string, prefix = 'broadsheet'): Queues {
  const systemMail = new Queue<SystemMailJob>('system-mail', redisUrl, {
    prefix,
    defaultJobOptions: {
      // An SMTP server that is down for a while must not lose a confirmation email.
      attempts: 8,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: 1000,
      removeOnFail: 5000,
    },
  });
  return {
    prefix,
    systemMail,
    async close() {
      await systemMail.close();
    },
  };
}
