import express from 'express';
import type { AppDeps } from '../http/deps';

/**
 * The desk's digest pages: the month's digest as it would go, and curating it.
 * Written by desk-b; see the comment at the top of routes.ts for how a page plugs in.
 */
export function digestDesk(_deps: AppDeps): express.Router {
  const router = express.Router();
  return router;
}
