import type { Config } from '../config';
import type { List } from '../db/schema';
import type { Logger } from '../log';
import { allLists } from '../lists/repository';
import { parseMonthlySlot } from '../lists/slots';
import { startSend, type ControlDeps } from '../sending/control';
import { appendSendEvent } from '../sending/events';
import { dueSends } from '../sending/repository';
import { ensureDigestSend, type DigestOutcome } from './monthly';
import { lastMonthlySlot, monthKey, previousMonth } from './next-slot';

/**
 * The scheduler: a timer that, each tick, reads the rows and acts on what is due. The rows are
 * the schedule (not delayed jobs), so a flushed Redis or a restart loses nothing: a send whose
 * time passed while no scheduler ran is simply due at the next tick, and goes out late, once.
 *
 * Every worker runs one. They need no coordination: the digest's issue and send are guarded by
 * unique constraints, and startSend moves a send out of 'scheduled' with one conditional
 * UPDATE, so of several schedulers seeing the same due send exactly one starts it.
 */

/** A subset of WorkerDeps (src/jobs.ts): the worker passes its own deps as they are. */
export type SchedulerDeps = ControlDeps & {
  config: Pick<Config, 'dataDir' | 'sendBatchSize'>;
  log: Pick<Logger, 'info' | 'warn'>;
};

export interface SchedulerOptions {
  /** What time it is. Injected so that tests move time without touching timers that bull uses. */
  clock?: () => Date;
  intervalMs?: number;
  /** A send started more than this after its time is reported as late. */
  lateAfterMs?: number;
}

export interface TickReport {
  started: Array<{ sendId: string; late: boolean }>;
  digests: Array<{ list: string; month: string; outcome: DigestOutcome }>;
}

const DEFAULT_INTERVAL_MS = 15_000;
/** How many due sends one tick starts; the rest wait for the next tick (seconds later). */
const DUE_BATCH = 100;

/** One pass: the monthly digests that are due get their send, then every due send is started. */
export async function tick(deps: SchedulerDeps, now: Date, opts: { lateAfterMs?: number } = {}): Promise<TickReport> {
  const { log } = deps;
  const lateAfterMs = opts.lateAfterMs ?? 2 * DEFAULT_INTERVAL_MS;
  const report: TickReport = { started: [], digests: [] };

  for (const list of await allLists(deps.db)) {
    const outcome = await digestDue(deps, list, now).catch((err: unknown) => {
      // One list's problem (a slug clash, a broken issue) must not stop the others' digests.
      log.warn({ list: list.slug, err: (err as Error).message }, 'scheduler: the monthly digest failed; will try again');
      return undefined;
    });
    if (outcome) report.digests.push(outcome);
  }

  const due = await dueSends(deps.db, now, DUE_BATCH);
  for (const send of due) {
    const lateBy = now.getTime() - (send.scheduled_at ?? now).getTime();
    const late = lateBy > lateAfterMs;
    if (await startSend(deps, send.id, { now })) {
      report.started.push({ sendId: send.id, late });
      // In the send's log with no actor: Broadsheet started it, at the time an editor chose.
      await appendSendEvent(deps.db, { issueId: send.issue_id, sendId: send.id, type: 'started', data: { scheduled: true } });
      const fields = { list: send.list, issue: send.issue, send: send.id, scheduledAt: send.scheduled_at?.toISOString() };
      if (late) log.warn({ ...fields, late: true, lateBySeconds: Math.round(lateBy / 1000) }, 'scheduler: started a send late');
      else log.info(fields, 'scheduler: started a send');
    }
  }
  return report;
}

/** At or after a list's monthly slot: the digest of the month before that slot. */
async function digestDue(deps: SchedulerDeps, list: List, now: Date): Promise<TickReport['digests'][number] | undefined> {
  if (!list.monthly_slot) return undefined;
  const parsed = parseMonthlySlot(list.monthly_slot);
  if (!parsed.ok) return undefined;
  const slot = lastMonthlySlot(parsed.slot, list.timezone, now);
  const { year, month } = previousMonth(slot.year, slot.month);
  const outcome = await ensureDigestSend(deps.db, {
    list,
    year,
    month,
    slotAt: slot.at,
    dataDir: deps.config.dataDir,
    batchSize: deps.config.sendBatchSize,
  });
  return { list: list.slug, month: monthKey(year, month), outcome };
}

export interface Scheduler {
  close(): Promise<void>;
  /** Ticks finished so far (done or failed): a test asserts "nothing happened" after counted ticks, not after a sleep. */
  ticks(): number;
}

/**
 * Ticks now and every `intervalMs`. Ticks never overlap within one process (the next waits for
 * the last); across processes they may, which is safe (see above). A failed tick is logged and
 * retried at the next one.
 */
export function startScheduler(deps: SchedulerDeps, opts: SchedulerOptions = {}): Scheduler {
  const clock = opts.clock ?? (() => new Date());
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let ticks = 0;

  const run = () => {
    running = tick(deps, clock(), { lateAfterMs: opts.lateAfterMs ?? 2 * intervalMs })
      .then(() => undefined)
      .catch((err: unknown) => deps.log.warn({ err: (err as Error).message }, 'scheduler: tick failed; will try again'))
      .finally(() => {
        ticks++;
        if (!closed) {
          timer = setTimeout(run, intervalMs);
          timer.unref();
        }
      });
  };
  run();

  return {
    ticks: () => ticks,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
