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
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3 });
  const queues = createQueues(config.redisUrl);
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

