import { randomUUID } from 'node:crypto';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { IssueRow, List, Send } from '../db/schema';
import { AppError } from '../errors';
import { getIssue } from '../issues/repository';
import { getListBySlug } from '../lists/repository';
import type { SmtpResult } from '../mail/transport';
import type { Queues } from '../queues';
import { cancelSend, getSendOfIssue, pauseSend, resumeSend, sendNow, sendProgress, type SendProgress } from './control';
import { appendSendEvent, type SendEventType } from './events';

/**
 * The editor's operations on an issue's send, shared by the CLI and the admin API so both
 * say the same thing in the same words.
 */
export interface EditorDeps {
  db: Db;
  queues: Queues;
  config: Pick<Config, 'sendBatchSize'>;
}

export async function findListIssue(db: Db, listSlug: string, issueSlug: string): Promise<{ list: List; issue: IssueRow }> {
  const list = await getListBySlug(db, listSlug);
  return { list, issue: await getIssue(db, list, issueSlug) };
}

/**
 * Queues one test email and waits for the worker's answer: the test goes out through the
 * same path as the newsletter (and through the running process's SMTP, capture included).
 */
export async function sendTest(deps: EditorDeps, issue: IssueRow, to: string, timeoutMs = 60_000, actor: string | null = null): Promise<SmtpResult> {
  const job = await deps.queues.add('test-send', { issueId: issue.id, to, requestId: randomUUID() });
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = (await Promise.race([
      job.finished(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new AppError('unavailable', `no worker sent the test within ${timeoutMs / 1000} s: is \`broadsheet start\` or \`broadsheet worker\` running?`),
            ),
          timeoutMs,
        );
      }),
    ])) as SmtpResult;
    await appendSendEvent(deps.db, { issueId: issue.id, type: 'test_sent', actor, data: { to } });
    return result;
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('unavailable', `the test email was not sent: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

export type SendAction = 'send' | 'pause' | 'resume' | 'cancel' | 'status';

const LOGGED: Record<Exclude<SendAction, 'status'>, SendEventType> = { send: 'started', pause: 'paused', resume: 'resumed', cancel: 'cancelled' };

/**
 * `actor` names who did it in the send's log (an editor's address, 'cli', 'api'); a status
 * read logs nothing.
 */
export async function sendAction(deps: EditorDeps, issue: IssueRow, list: List, action: SendAction, actor: string | null = null): Promise<SendProgress> {
  let send: Send;
  if (action === 'send') send = await sendNow(deps, issue, list, deps.config.sendBatchSize);
  else {
    send = await getSendOfIssue(deps.db, issue);
    if (action === 'pause') send = await pauseSend(deps.db, send);
    else if (action === 'resume') send = await resumeSend(deps, send);
    else if (action === 'cancel') send = await cancelSend(deps.db, send);
  }
  if (action !== 'status')
    await appendSendEvent(deps.db, { issueId: issue.id, sendId: send.id, type: LOGGED[action], actor, data: action === 'send' ? { now: true } : {} });
  return sendProgress(deps.db, send, list.timezone);
}

export function progressToJson(p: SendProgress) {
  return {
    status: p.send.status,
    pauseReason: p.send.pause_reason,
    // "waiting": SMTP refuses and the send waits for its next probe (nextTryAt); text says so.
    circuit: {
      state: p.circuit.state,
      failingSince: p.circuit.failingSince,
      nextTryAt: p.circuit.nextTryAt,
      lastError: p.circuit.lastError,
      text: p.circuit.text,
    },
    scheduledAt: p.send.scheduled_at,
    startedAt: p.send.started_at,
    finishedAt: p.send.finished_at,
    cadence: p.send.cadence,
    recipients: p.total,
    deliveries: p.counts,
    rate: Math.round(p.rate * 10) / 10,
    etaSeconds: p.etaSeconds,
  };
}
