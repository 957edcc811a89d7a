import { createHash, timingSafeEqual } from 'node:crypto';
import express from 'express';
import { sql } from 'kysely';
import type { AppDeps } from './http/deps';
import { errorHandler, notFound } from './http/errors';
import { outboxRoutes } from './mail/outbox';
import { registry } from './metrics';
import { bounceWebhook } from './sending/webhooks';
import { loopbackOnly, noStore, refuseNulBytes, securityHeaders, unless } from './http/middleware';
import { subscriberRoutes } from './subscribers/routes';
import { adminApi } from './api/routes';
import { deskRoutes } from './desk/routes';
import { archiveRoutes, homeRoutes } from './archive/routes';
import { assetRoutes } from './archive/assets';

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = createHash('sha256')
    .update(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '')
    .digest();
  return timingSafeEqual(given, createHash('sha256').update(token).digest());
}

/** How long /healthz waits for each dependency before calling it down. */
const HEALTH_TIMEOUT_MS = 2000;

async function probe(check: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return `down: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Bodies these paths parse themselves: the RFC 8058 one-click POST reads its own (no body may
 * stop it from unsubscribing), and the desk takes larger forms (a pasted issue) than readers'.
 */
const OWN_BODY = /^\/unsubscribe\/[^/]+$|^\/admin(\/|$)/;

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Behind a reverse proxy the client address (for rate limits and the consent record) is in
  // X-Forwarded-For; only the proxies TRUST_PROXY names (loopback by default) may set it.
  app.set('trust proxy', deps.config.trustProxy);
  app.use(securityHeaders(deps.config));
  // Bodies over 100 KB are refused with 413 before any handler runs.
  app.use(unless(OWN_BODY, express.json({ limit: '100kb' })));
  app.use(unless(OWN_BODY, express.urlencoded({ extended: false, limit: '100kb' })));
  app.use(refuseNulBytes);

  // Each dependency on its own line, and 503 when one is down, so a load balancer stops
  // sending traffic here and an operator sees which one.
  app.get('/healthz', noStore, async (_req, res) => {
    const [database, redis] = await Promise.all([probe(() => sql`SELECT 1`.execute(deps.db)), probe(() => deps.redis.ping())]);
    const ok = database === 'ok' && redis === 'ok';
    res
      .status(ok ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ ok, checks: { database, redis } });
  });
  app.get('/metrics', noStore, async (req, res) => {
    // Queue depths and send counters say how busy the sender is: only to the scraper, when a
    // token is configured (a bearer token, compared in constant time).
    if (deps.config.metricsToken && !bearerMatches(req.get('authorization'), deps.config.metricsToken)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').type('text/plain').send('metrics need Authorization: Bearer METRICS_TOKEN\n');
      return;
    }
    res.type(registry.contentType).send(await registry.metrics());
  });
  // Images of imported issues, at the URLs the compiled email uses: sent issues' only.
  app.use(assetRoutes(deps));

  app.use('/api/v1', adminApi(deps));
  // The editor's desk: its own sessions, CSRF checks and pages (src/desk/routes.ts).
  app.use('/admin', deskRoutes(deps));
  app.use(bounceWebhook(deps));
  app.use(subscriberRoutes(deps));
  app.use(homeRoutes(deps));
  app.use(archiveRoutes(deps));
  // The outbox shows every link mailed (confirm, preferences, unsubscribe): development only,
  // and only to this machine. loadConfig refuses production without SMTP_URL; this is the
  // second lock.
  if (deps.outbox && deps.config.env !== 'production') app.use('/dev/outbox', loopbackOnly, noStore, outboxRoutes(deps.outbox));

  app.use(notFound);
  app.use(errorHandler());
  return app;
}
