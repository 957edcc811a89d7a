import express from 'express';
import type { AppDeps } from '../http/deps';

/**
 * The desk's subscribers pages: find by address, a subscription's page and history, actions, CSV import and export.
 * Written by desk-b; see the comment at the top of routes.ts for how a page plugs in.
 */
export function subscribersDesk(_deps: AppDeps): express.Router {
  const router = express.Router();
  return router;
}
