import express from 'express';
import type { AppDeps } from '../http/deps';

/**
 * The desk's issues pages: the list's issues, upload, validate, preview, test send, schedule, send, pause, resume, cancel.
 * Written by desk-b; see the comment at the top of routes.ts for how a page plugs in.
 */
export function issuesDesk(_deps: AppDeps): express.Router {
  const router = express.Router();
  return router;
}
