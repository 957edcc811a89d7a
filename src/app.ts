import express from 'express';
import type { Redis } from 'ioredis';
import type { Config } from './config';
import type { Db } from './db/database';
import { errorHandler, notFound } from './http/errors';
import type { Queues } from './queues';
import type { CaptureServer } from './sending/capture';
import { outboxRoutes } from './sending/outbox';
import { subscriberRoutes } from './subscribers/routes';
import { adminApi } from './api/routes';
import { archiveRoutes, homeRoutes } from './archive/routes';
import { scheduleApi } from './schedules/routes';

/** What the HTTP side needs; built for real by `startServer`, by tests with their own parts. */
export interface AppDeps {
  config: Config;
  db: Db;
  redis: Redis;
  queues: Queues;
  /** Present when mail goes to the embedded capture server (SMTP_URL unset). */
  outbox?: CaptureServer;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Behind a reverse proxy the client address (for rate limits and the consent record)
  // is in X-Forwarded-For; trusting loopback proxies only keeps it unspoofable otherwise.
  app.set('trust proxy', 'loopback');
  // Bodies over 100 KB are refused with 413 before any handler runs.
  app.use(express.json({ limit: '100kb' }));
  app.use(express.urlencoded({ extended: false, limit: '100kb' }));

  app.get('/healthz', async (_req, res) => {
    await deps.db.selectNoFrom((eb) => eb.lit(1).as('ok')).execute();
    await deps.redis.ping();
    res.json({ ok: true });
  });

  app.use('/api/v1', scheduleApi(deps));
  app.use('/api/v1', adminApi(deps));
  app.use(subscriberRoutes(deps));
  app.use(homeRoutes(deps));
  app.use(archiveRoutes(deps));
  if (deps.outbox) app.use('/dev/outbox', outboxRoutes(deps.outbox));

  app.use(notFound);
  app.use(errorHandler());
  return app;
}

