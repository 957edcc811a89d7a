import type { CircuitSettings } from '../config';
import type { Send } from '../db/schema';
import { inZone } from '../local-time';

/**
 * The circuit breaker of one send (issue 14), pure: what a batch job may do given the send's
 * circuit columns, and what they become after a probe. SMTP trouble is ridden out the way a
 * mail server rides it out: when SMTP keeps refusing (temporary failures in a row), the whole
 * send waits; one probe message is tried after the wait, the wait doubling up to a ceiling;
 * the first probe that goes through resumes the send at full speed. Only after
 * SEND_GIVE_UP_AFTER of nothing but failures does the send pause for a person.
 */
export type CircuitColumns = Pick<Send, 'failing_since' | 'retry_at' | 'backoff_ms' | 'last_error'>;

export type Gate =
  /** Send at full speed. */
  | { kind: 'closed' }
  /** SMTP is refusing: send nothing until `until`. */
  | { kind: 'wait'; until: Date }
  /** The wait is over: one message may be tried (by whoever takes the probe first). */
  | { kind: 'probe' };

export function gate(send: CircuitColumns, now: Date): Gate {
  if (!send.retry_at) return { kind: 'closed' };
  if (send.retry_at.getTime() > now.getTime()) return { kind: 'wait', until: send.retry_at };
  return { kind: 'probe' };
}

/** The circuit as it opens now, after `openAfter` temporary failures in a row. */
export function opened(settings: CircuitSettings, now: Date, error: string): CircuitColumns {
  return { failing_since: now, retry_at: new Date(now.getTime() + settings.firstBackoffMs), backoff_ms: settings.firstBackoffMs, last_error: error };
}

export type AfterProbe = { kind: 'wait'; columns: CircuitColumns; waitMs: number } | { kind: 'give up'; reason: string };

/** After a failed probe: wait twice as long (up to the ceiling), or give up after long enough. */
export function probeFailed(send: CircuitColumns, settings: CircuitSettings, now: Date, error: string, timezone: string): AfterProbe {
  const since = send.failing_since ?? now;
  if (now.getTime() - since.getTime() >= settings.giveUpAfterMs) {
    return {
      kind: 'give up',
      reason: `paused itself: SMTP refused every message since ${clock(since, timezone)} (${error}); check the SMTP server, then resume`,
    };
  }
  const waitMs = Math.min(Math.max(send.backoff_ms, settings.firstBackoffMs) * 2, settings.maxBackoffMs);
  return { kind: 'wait', waitMs, columns: { failing_since: since, retry_at: new Date(now.getTime() + waitMs), backoff_ms: waitMs, last_error: error } };
}

/** What the editor sees of a send's circuit (CLI, API, the desk). */
export interface CircuitView {
  state: 'closed' | 'waiting';
  /** Since when SMTP has refused every message. */
  failingSince: Date | null;
  nextTryAt: Date | null;
  lastError: string | null;
  /** "SMTP refusing since 10:02, next try 10:06 (421 too busy)", in the list's time zone; null when closed. */
  text: string | null;
}

export function circuitView(send: CircuitColumns, timezone: string): CircuitView {
  if (!send.failing_since) return { state: 'closed', failingSince: null, nextTryAt: null, lastError: null, text: null };
  const next = send.retry_at ? `, next try ${clock(send.retry_at, timezone)}` : '';
  return {
    state: 'waiting',
    failingSince: send.failing_since,
    nextTryAt: send.retry_at,
    lastError: send.last_error,
    text: `SMTP refusing since ${clock(send.failing_since, timezone)}${next}${send.last_error ? ` (${send.last_error})` : ''}`,
  };
}

/** 10:02 Europe/Berlin: in the list's zone, named (an unknown zone: UTC, said so). */
function clock(at: Date, timezone: string): string {
  return inZone(at, timezone, 'clock');
}
