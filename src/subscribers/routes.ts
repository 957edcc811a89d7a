import express from 'express';
import type { AppDeps } from '../http/deps';
import { confirmRoutes } from './routes/confirm';
import { readerContext } from './routes/context';
import { exportRoutes } from './routes/export';
import { preferencesRoutes } from './routes/preferences';
import { subscribeRoutes } from './routes/subscribe';
import { unsubscribeRoutes } from './routes/unsubscribe';

/**
 * The reader's side of Broadsheet, one router a link (see each file for its routes):
 *
 *   subscribe     /lists/:list[/subscribe], /lists/:list/preferences (ask for a link)
 *   confirm       /confirm/:token[/resend]
 *   preferences   /preferences/:token, /preferences[/pause|/resume|/export|/delete]
 *   export        /export/:token
 *   unsubscribe   /unsubscribe/:token (and RFC 8058 one-click)
 *
 * A GET never changes anything: mail scanners follow links, and a link must not act by
 * being fetched. Errors on pages are pages (right status, no stack trace); the JSON
 * subscribe API answers errors as `{ error: { code, message } }` (`http/errors.ts`).
 */
export function subscriberRoutes(deps: AppDeps): express.Router {
  const ctx = readerContext(deps);
  const router = express.Router();
  router.use(subscribeRoutes(ctx));
  router.use(confirmRoutes(ctx));
  router.use(preferencesRoutes(ctx));
  router.use(exportRoutes(ctx));
  router.use(unsubscribeRoutes(ctx));
  return router;
}
