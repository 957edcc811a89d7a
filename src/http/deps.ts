import type { Redis } from 'ioredis';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { CaptureServer } from '../mail/capture';
import type { Queues } from '../queues';

/** What the HTTP side needs; built for real by `runProcess`, by tests with their own parts. */
export interface AppDeps {
  config: Config;
  db: Db;
  redis: Redis;
  queues: Queues;
  /** Present when mail goes to the embedded capture server (SMTP_URL unset). */
  outbox?: CaptureServer;
  /** What time it is; the clock by default (tests pass their own). */
  clock?: () => Date;
}
