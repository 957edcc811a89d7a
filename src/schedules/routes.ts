import express from 'express';
import type { Config } from '../config';
import type { AppDeps } from '../http/deps';
import type { Send } from '../db/schema';
import { AppError } from '../errors';
import { scheduleIssue, unscheduleIssue, type ScheduleWhen } from './service';

export type ScheduleApiDeps = Pick<AppDeps, 'db' | 'clock'> & { config: Pick<Config, 'sendBatchSize'> };

function scheduleJson(send: Send) {
  return { status: send.status, scheduledAt: send.scheduled_at?.toISOString() ?? null, cadence: send.cadence };
}

function whenOf(body: unknown): ScheduleWhen {
  const raw = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (raw.at !== undefined && raw.next !== undefined) throw new AppError('invalid_input', 'give either "at" or "next": true, not both');
  if (typeof raw.at === 'string') return { at: raw.at };
  if (raw.next === true) return { next: true };
  throw new AppError(
    'invalid_input',
    'send { "next": true } for the next free weekly slot, or { "at": "2026-12-07T09:00" } (offset optional: the list\'s zone)',
  );
}

/**
 * The admin API's schedule routes, mounted by `adminApi` under /api/v1 behind its auth check:
 *
 *   PUT    /lists/:slug/issues/:issue/schedule   { "at": ISO } or { "next": true }: schedule or move
 *   DELETE /lists/:slug/issues/:issue/schedule   unschedule (until the send starts)
 */
export function scheduleApi(deps: ScheduleApiDeps): express.Router {
  const clock = deps.clock ?? (() => new Date());
  const router = express.Router();
  router.put('/lists/:slug/issues/:issue/schedule', async (req, res) => {
    if (!req.is('application/json')) throw new AppError('invalid_input', 'send the schedule as JSON (Content-Type: application/json)');
    const { send, rescheduled } = await scheduleIssue(deps.db, {
      list: req.params.slug,
      issue: req.params.issue,
      when: whenOf(req.body),
      now: clock(),
      batchSize: deps.config.sendBatchSize,
      actor: res.locals.actor ?? 'api',
    });
    res.status(rescheduled ? 200 : 201).json({ schedule: scheduleJson(send) });
  });

  router.delete('/lists/:slug/issues/:issue/schedule', async (req, res) => {
    await unscheduleIssue(deps.db, { list: req.params.slug, issue: req.params.issue, actor: res.locals.actor ?? 'api' });
    res.status(204).end();
  });

  return router;
}
