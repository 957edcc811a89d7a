import express from 'express';
import type { Redis } from 'ioredis';
import type { Config } from './config';
import type { Db } from './db/database';
import { errorHandler, notFound } from './http/errors';
import { loopbackOnly, noStore, refuseNulBytes, securityHeaders, unless } from './http/middleware';
import type { Queues } from './queues';
import type { CaptureServer } from './sending/capture';
import { outboxRoutes } from './sending/outbox';
import { subscriberRoutes } from './subscribers/routes';
import { adminApi } from './api/routes';

/** What the HTTP side needs; built for real by `startServer`, by tests with their own parts. */
export interface AppDeps {
  config: Config;
  db: Db;
  redis: Redis;
  queues: Queues;
  /** Present when mail goes to the embedded capture server (SMTP_URL unset). */
  outbox?: CaptureServer;
}

/** The RFC 8058 one-click POST reads its own body: no body may stop it from unsubscribing. */
const ONE_CLICK = /^\/unsubscribe\/[^/]+$/;

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Behind a reverse proxy the client address (for rate limits and the consent record) is in
  // X-Forwarded-For; only the proxies TRUST_PROXY names (loopback by default) may set it.
  app.set('trust proxy', deps.config.trustProxy);
  app.use(securityHeaders(deps.config));
  // Bodies over 100 KB are refused with 413 before any handler runs.
  app.use(unless(ONE_CLICK, express.json({ limit: '100kb' })));
  app.use(unless(ONE_CLICK, express.urlencoded({ extended: false, limit: '100kb' })));
  app.use(refuseNulBytes);

  app.get('/healthz', noStore, async (_req, res) => {
    await deps.db.selectNoFrom((eb) => eb.lit(1).as('ok')).execute();
    await deps.redis.ping();
    res.json({ ok: true });
  });

  app.use('/api/v1', adminApi(deps));
  app.use(subscriberRoutes(deps));
  // The outbox shows every link mailed (confirm, preferences, unsubscribe): development only,
  // and only to this machine. loadConfig refuses production without SMTP_URL; this is the
  // second lock.
  if (deps.outbox && deps.config.env !== 'production') app.use('/dev/outbox', loopbackOnly, noStore, outboxRoutes(deps.outbox));

  app.use(notFound);
  app.use(errorHandler());
  return app;
}
