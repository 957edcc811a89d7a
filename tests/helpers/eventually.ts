import { types } from 'node:util';
import type { Scheduler } from '../../src/schedules/tick';

/**
 * The one way a test waits for what a worker, a server or another process does: poll `check`
 * until it gives something truthy, and return that. A check that throws counts as "not yet"
 * (a fault test asks while its database or Redis is away); on timeout the error names what was
 * awaited and the last value or error seen, so a failure says what was missing.
 */
export interface EventuallyOptions {
  /** Give up after this long (10 s unless given). */
  timeoutMs?: number;
  /** What is awaited, for the error message. */
  what?: string;
  /** Pause between checks (50 ms unless given). */
  everyMs?: number;
}

/** What a truthy check gave: not false, null, undefined, 0 or ''. */
export type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export async function eventually<T>(check: () => T | Promise<T>, options: number | EventuallyOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 10_000, what = 'condition', everyMs = 50 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await check();
      if (last) return last as Truthy<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      // isNativeError, not instanceof: fetch's errors come from Node's realm, not the test's.
      const seen = types.isNativeError(last) ? `error: ${last.message}${causeOf(last)}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`${what} not met within ${timeoutMs} ms (${seen})`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** fetch says "fetch failed" and keeps the reason (ECONNREFUSED, say) in `cause`. */
function causeOf(err: Error): string {
  return types.isNativeError(err.cause) ? ` (${err.cause.message})` : '';
}

/**
 * Waits until every scheduler has finished `n` more ticks than it had when called: "nothing
 * happened" asserted after the schedulers looked, however slow the machine, never after a sleep.
 */
export async function afterTicks(schedulers: Scheduler | Scheduler[], n = 2): Promise<void> {
  const all = Array.isArray(schedulers) ? schedulers : [schedulers];
  const from = all.map((s) => s.ticks());
  await eventually(() => all.every((s, i) => s.ticks() >= from[i]! + n), { what: `${n} more ticks of ${all.length} scheduler(s)`, everyMs: 10 });
}
