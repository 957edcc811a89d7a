import express from 'express';
import { requireAdminToken } from '../api/auth';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { Send } from '../db/schema';
import { AppError } from '../errors';
import { scheduleIssue, unscheduleIssue, type ScheduleWhen } from './service';

export interface ScheduleApiDeps {
  db: Db;
  config: Pick<Config, 'adminToken' | 'sendBatchSize'>;
  /** What time it is; the clock by default (tests pass their own). */
  clock?: () => Date;
}

function scheduleJson(send: Send) {
  return { status: send.status, scheduledAt: send.scheduled_at?.toISOString() ?? null, cadence: send.cadence };
}

function whenOf(body: unknown): ScheduleWhen {
  const raw = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (raw.at !== undefined && raw.next !== undefined) throw new AppError('invalid_input', 'give either "at" or "next": true, not both');
  if (typeof raw.at === 'string') return { at: raw.at };
  if (raw.next === true) return { next: true };
  throw new AppError('invalid_input', 'send { "next": true } for the next free weekly slot, or { "at": "2026-12-07T09:00" } (offset optional: the list\'s zone)');
}

/**
 * The admin API's schedule routes, mounted under /api/v1 beside the others (same bearer token):
 *
 *   PUT    /lists/:slug/issues/:issue/schedule   { "at": ISO } or { "next": true }: schedule or move
 *   DELETE /lists/:slug/issues/:issue/schedule   unschedule (until the send starts)
 */
export function scheduleApi(deps: ScheduleApiDeps): express.Router {
  const clock = deps.clock ?? (() => new Date());
  const router = express.Router();
  // Only these paths: the rest of /api/v1 passes on to the other admin routes (same token).
  router.use('/lists/:slug/issues/:issue/schedule', requireAdminToken(deps.config.adminToken));

  router.put('/lists/:slug/issues/:issue/schedule', async (req, res) => {
    if (!req.is('application/json')) throw new AppError('invalid_input', 'send the schedule as JSON (Content-Type: application/json)');
    const { send, rescheduled } = await scheduleIssue(deps.db, { list: req.params.slug, issue: req.params.issue, when: whenOf(req.body), now: clock(), batchSize: deps.config.sendBatchSize });
    res.status(rescheduled ? 200 : 201).json({ schedule: scheduleJson(send) });
  });

  router.delete('/lists/:slug/issues/:issue/schedule', async (req, res) => {
    await unscheduleIssue(deps.db, { list: req.params.slug, issue: req.params.issue });
    res.status(204).end();
  });

  return router;
}
