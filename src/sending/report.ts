import { subscriptionTallies } from '../db/counters';
import type { Db } from '../db/database';
import type { Send } from '../db/schema';
import { AppError } from '../errors';
import { sendProgress, type SendProgress } from './control';
import { attributedEvents, findSend as findSendRow, keepSmtpAnswers, keptSmtpAnswers, smtpResponseCounts, summaryOfPrunedSend } from './repository';

/**
 * What became of a send, for the editor: the delivery rows counted, plus what readers did
 * afterwards (left, complained, bounced later). No opens, no clicks: Broadsheet does not track
 * readers, so the report says only what the mail system and the readers' own actions said.
 */

export interface SmtpAnswer {
  /** The answer with its per-message parts (queue ids, long tokens) replaced by "…". */
  answer: string;
  count: number;
}

export interface SendReport {
  send: Send;
  recipients: number;
  delivered: number;
  /** Refused with a 5xx while sending. */
  bounced: number;
  /** Reported as bounced afterwards (a DSN, a webhook) by a reader this send reached. */
  bouncedLater: number;
  complained: number;
  suppressed: number;
  failed: number;
  cancelled: number;
  pending: number;
  /** Readers who left through this email: see `attributedEvents` for how an event is tied to a send. */
  unsubscribed: number;
  smtpAnswers: SmtpAnswer[];
}

/** Accepting servers put queue ids and hashes in their 250 answers; without them, answers group. */
export function normalizeSmtpAnswer(answer: string): string {
  return answer
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/<[^<>\s]*@[^<>\s]*>/g, '<…>')
    .replace(/\b(?=[A-Za-z0-9+/=_.-]*\d)[A-Za-z0-9+/=_.-]{8,}\b/g, '…')
    .slice(0, 200);
}

/** The most common SMTP answers of a send, grouped after `normalizeSmtpAnswer`. */
async function smtpAnswers(db: Db, sendId: string, top: number): Promise<SmtpAnswer[]> {
  const rows = await smtpResponseCounts(db, sendId);
  const grouped = new Map<string, number>();
  for (const r of rows) {
    const key = normalizeSmtpAnswer(r.smtp_response!);
    grouped.set(key, (grouped.get(key) ?? 0) + Number(r.n));
  }
  return [...grouped]
    .map(([answer, count]) => ({ answer, count }))
    .sort((a, b) => b.count - a.count || a.answer.localeCompare(b.answer))
    .slice(0, top);
}

/** How many of a finished send's answers are kept grouped: more than any page shows. */
const KEPT_ANSWERS = 20;

/**
 * A finished send's answers, grouped on the first view and read from send_smtp_answers after
 * (migration 2026-12-07-30-03 says why). A late bounce that rewrites an answer removes the row
 * (inbound.ts); one landing while the row is being written may be missed until the next one,
 * which changes only the list of answers, never a count of the report.
 */
async function finishedSendAnswers(db: Db, sendId: string, top: number): Promise<SmtpAnswer[]> {
  const kept = await keptSmtpAnswers(db, sendId);
  if (kept) return kept.slice(0, top);
  const answers = await smtpAnswers(db, sendId, Math.max(top, KEPT_ANSWERS));
  await keepSmtpAnswers(db, sendId, answers);
  return answers.slice(0, top);
}

export async function findSend(db: Db, sendId: string): Promise<Send | undefined> {
  // Not a UUID (a typed id, a URL): no such send, where PostgreSQL would refuse the query.
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(sendId)) return undefined;
  return findSendRow(db, sendId);
}

export async function getSend(db: Db, sendId: string): Promise<Send> {
  const send = await findSend(db, sendId);
  if (!send) throw new AppError('not_found', 'no such send');
  return send;
}

export async function sendReport(db: Db, sendId: string, options: { topAnswers?: number } = {}): Promise<SendReport> {
  const send = await getSend(db, sendId);
  // Past DELIVERY_RETENTION_DAYS the rows are gone (retention.ts): the summary written from
  // them before they were removed is the report.
  const kept = await summaryOfPrunedSend(db, send.id);
  if (kept) {
    return {
      send,
      recipients: kept.recipients,
      delivered: kept.delivered,
      bounced: kept.bounced,
      bouncedLater: kept.bounced_later,
      complained: kept.complained,
      suppressed: kept.suppressed,
      failed: kept.failed,
      cancelled: kept.cancelled,
      pending: 0,
      unsubscribed: kept.unsubscribed,
      smtpAnswers: kept.top_responses.slice(0, options.topAnswers ?? 5),
    };
  }
  const [progress, unsubscribed, complained, bouncedLater, answers] = await Promise.all([
    sendProgress(db, send),
    attributedEvents(db, send.id, 'unsubscribed'),
    attributedEvents(db, send.id, 'complained'),
    attributedEvents(db, send.id, 'bounced'),
    send.status === 'done' || send.status === 'cancelled'
      ? finishedSendAnswers(db, send.id, options.topAnswers ?? 5)
      : smtpAnswers(db, send.id, options.topAnswers ?? 5),
  ]);
  const c = progress.counts;
  return {
    send,
    recipients: progress.total,
    delivered: c.sent,
    bounced: c.bounced,
    bouncedLater,
    complained,
    suppressed: c.suppressed,
    failed: c.failed,
    cancelled: c.cancelled,
    pending: c.pending,
    unsubscribed,
    smtpAnswers: answers,
  };
}

/** What a send's live page shows each second (Server-Sent Events) and at load, without script. */
export interface LiveProgress {
  status: Send['status'];
  pauseReason: string | null;
  recipients: number;
  sent: number;
  pending: number;
  /** Done in any way other than sent: bounced, failed, suppressed, cancelled. */
  notSent: number;
  /** Messages a second over the last minute. */
  rate: number;
  etaSeconds: number | null;
  /**
   * Whether the sender is getting through (sending/circuit.ts): `closed` (mail flows),
   * `waiting` (SMTP refuses; the send waits for its next probe), `paused` (stopped for a person).
   */
  circuit: 'closed' | 'waiting' | 'paused';
  /** The circuit in words when it is not closed ("SMTP refusing since 10:02, next try 10:04"). */
  circuitText: string | null;
  finished: boolean;
}

export function toLiveProgress(p: SendProgress): LiveProgress {
  const c = p.counts;
  const circuit = p.send.status === 'paused' ? 'paused' : p.circuit.state;
  return {
    status: p.send.status,
    pauseReason: p.send.pause_reason,
    recipients: p.total,
    sent: c.sent,
    pending: c.pending,
    notSent: c.bounced + c.failed + c.suppressed + c.cancelled,
    rate: Math.round(p.rate * 10) / 10,
    etaSeconds: p.counts.pending > 0 ? p.etaSeconds : null,
    circuit,
    circuitText: p.circuit.text,
    finished: p.send.status === 'done' || p.send.status === 'cancelled',
  };
}

export async function liveProgress(db: Db, sendId: string, timezone = 'UTC'): Promise<LiveProgress> {
  return toLiveProgress(await sendProgress(db, await getSend(db, sendId), timezone));
}

/**
 * How many readers a send of this cadence would go to if it were planned now: the same rows
 * planning walks (active, not paused), from the counters the database keeps. Named in the
 * desk's "send now?" confirmation.
 */
export async function countRecipients(db: Db, listId: string, cadence: Send['cadence']): Promise<number> {
  const tallies = (await subscriptionTallies(db, [listId])).get(listId)!;
  return tallies.filter((t) => t.status === 'active' && !t.paused && t.cadence === cadence).reduce((sum, t) => sum + t.n, 0);
}
