import express from 'express';
import type { AppDeps } from '../http/deps';

/**
 * The desk's sends pages: a send's page: live progress (Server-Sent Events), then its report and its log.
 * Written by desk-b; see the comment at the top of routes.ts for how a page plugs in.
 */
export function sendsDesk(_deps: AppDeps): express.Router {
  const router = express.Router();
  return router;
}
