import type { Request } from 'express';
import { DateTime } from 'luxon';
import { html, type SafeHtml } from '../http/page';
import type { SendEvent } from '../db/schema';
import type { IssueState } from '../issues/repository';
import { table } from './layout';

/** Small pieces the desk's issue, send, digest and subscriber pages share. */

/** "2026-12-07 09:00 Europe/Berlin": times on the desk are in the list's zone, as editors plan them. */
export function localTime(at: Date | null | undefined, zone: string): string {
  if (!at) return '';
  return `${DateTime.fromJSDate(at, { zone }).toFormat('yyyy-LL-dd HH:mm')} ${zone}`;
}

/** The value of a `datetime-local` input for an instant, in the list's zone. */
export function localInput(at: Date, zone: string): string {
  return DateTime.fromJSDate(at, { zone }).toFormat("yyyy-LL-dd'T'HH:mm");
}

const STATE_CLASS: Record<IssueState, string> = { draft: '', scheduled: '', sending: 'ok', paused: 'bad', sent: 'ok', cancelled: 'bad' };

export function stateBadge(state: IssueState): SafeHtml {
  return html`<span class="badge ${STATE_CLASS[state]}">${state}</span>`;
}

/**
 * What just happened, after a POST redirected back (`?done=…`): a fixed sentence per key, so
 * the URL cannot put words on the page.
 */
const NOTICES: Record<string, string> = {
  imported: 'The issue is stored.',
  replaced: 'The issue is replaced by the new version.',
  scheduled: 'Scheduled.',
  rescheduled: 'The schedule is moved.',
  unscheduled: 'Unscheduled: the issue is a draft again.',
  test: 'The test email is sent to your address.',
  paused: 'Paused: no more messages are handed out.',
  resumed: 'Resumed.',
  cancelled: 'Cancelled: the rest will not be sent.',
  unsubscribed: 'Unsubscribed.',
  saved: 'Saved.',
  resent: 'The confirmation email is queued again.',
  forgotten: 'Forgotten: the address is erased everywhere, and cannot be imported again.',
};

export function notice(req: Request): SafeHtml | '' {
  const key = typeof req.query.done === 'string' ? req.query.done : '';
  const text = NOTICES[key];
  return text ? html`<p class="notice" role="status">${text}</p>` : '';
}

export function enc(value: string): string {
  return encodeURIComponent(value);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

const SEND_EVENT_TEXT: Record<string, string> = {
  scheduled: 'scheduled',
  rescheduled: 'schedule moved',
  unscheduled: 'unscheduled',
  started: 'started',
  paused: 'paused',
  resumed: 'resumed',
  cancelled: 'cancelled',
  test_sent: 'test email sent',
};

/** An issue's send log (sending/events.ts): what was done and by whom; no actor is Broadsheet itself. */
export function sendLog(events: readonly SendEvent[], zone: string): SafeHtml {
  if (events.length === 0) return html`<p>Nothing yet.</p>`;
  const rows = events.map((e) => {
    const data = e.data as Record<string, unknown>;
    const detail = [
      typeof data.at === 'string' ? `for ${localTime(new Date(data.at), zone)}` : '',
      typeof data.to === 'string' ? `to ${data.to}` : '',
      data.scheduled ? 'at its scheduled time' : '',
      data.reason ? String(data.reason) : '',
    ]
      .filter(Boolean)
      .join('; ');
    return html`<tr><td>${localTime(e.created_at, zone)}</td><td>${SEND_EVENT_TEXT[e.type] ?? e.type}</td><td>${e.actor ?? 'Broadsheet'}</td><td>${detail}</td></tr>`;
  });
  return table('Send log', ['When', 'What', 'By', 'Details'], rows);
}
