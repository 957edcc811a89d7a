import { Redis } from 'ioredis';
import type { Config } from './config';
import { createDb, ensureDatabase, type Db } from './db/database';
import { createQueues, type Queues } from './queues';

export interface Connections {
  config: Config;
  db: Db;
  redis: Redis;
  queues: Queues;
  close(): Promise<void>;
}

/** The real clients for one process. */
export async function connect(config: Config): Promise<Connections> {
  await ensureDatabase(config.databaseUrl);
  const db = createDb(config.databaseUrl);
  // Bounded: with Redis down a command fails within seconds (rate limits answer 503) instead of
  // waiting in ioredis's offline queue for as long as the outage lasts.
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 2000 });
  // Without a listener every failed reconnect is an "Unhandled error event" on stderr; the
  // client reconnects by itself and /healthz reports the outage.
  redis.on('error', () => {});
  const queues = createQueues(config.redisUrl, config.redisPrefix, db, {
    lockMs: config.jobLockMs,
    stalledIntervalMs: config.jobStallCheckMs,
    retryFirstMs: config.jobRetryFirstMs,
  });
  return {
    config,
    db,
    redis,
    queues,
    async close() {
      await queues.close();
      redis.disconnect();
      await db.destroy();
    },
  };
}
