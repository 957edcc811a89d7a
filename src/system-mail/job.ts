import type { Config } from '../config';
import type { Db } from '../db/database';
import type { CompileMjml } from '../issues/mjml';
import { formatAddress, listId, stableMessageId } from '../mail/headers';
import { classifySmtpError, smtpErrorText, type Mailer, type OutgoingMail } from '../mail/transport';
import { markBounced } from '../subscribers/bounce';
import { remindedSince } from '../subscribers/pending';
import { appendEvent, awaitsConfirmation, findOpenRequest, findSubscriptionContext } from '../subscribers/repository';
import type { SystemMailJob } from '../queues';
import { SYSTEM_MAILS } from './kinds';
import { renderSystemMail } from './render';

/**
 * The system-mail job: the HTTP side only enqueues a job naming the subscription
 * (subscribers/system-mail.ts); the worker reads the rows again here, renders and sends, so a
 * job for a subscription that changed meanwhile (confirmed, deleted) sends nothing wrong.
 */
export interface SystemMailDeps {
  db: Db;
  config: Pick<Config, 'publicUrl' | 'secretKeys'>;
  mailer: Mailer;
  compileMjml?: CompileMjml;
}

export type SystemMailOutcome = 'sent' | 'skipped' | 'bounced';

/**
 * Sends one system email. A temporary SMTP failure is thrown so that the queue retries it
 * with backoff; a permanent one (5xx to the address) marks the subscription bounced and is
 * not retried.
 */
export async function processSystemMailJob(deps: SystemMailDeps, job: SystemMailJob): Promise<SystemMailOutcome> {
  const loaded = await findSubscriptionContext(deps.db, job.subscriptionId);
  if (!loaded) return 'skipped';
  const { list, subscriber, subscription } = loaded;
  const spec = SYSTEM_MAILS[job.kind];
  // A suppressed subscription's confirmation goes out only for an open request to come back.
  const request = job.kind === 'confirm' && subscription.status !== 'pending' ? await findOpenRequest(deps.db, subscription.id) : undefined;
  if (job.kind === 'confirm' ? !awaitsConfirmation(subscription, request) : !spec.sendable.includes(subscription.status)) return 'skipped';
  const consentAt = request ? request.requested_at : subscription.consent_at;
  // One reminder per consent, whatever the queue holds: the rows say whether it went out.
  if (job.kind === 'reminder' && (await remindedSince(deps.db, subscription.id, consentAt))) return 'skipped';

  const rendered = await renderSystemMail(job.kind, { list, subscription, config: deps.config, compileMjml: deps.compileMjml });
  const mail: OutgoingMail = {
    from: list.from_address,
    to: formatAddress(subscriber.name, subscriber.email),
    subject: rendered.subject,
    html: rendered.html,
    text: rendered.text,
    replyTo: list.reply_to ?? undefined,
    // One id per consent: a confirmation or welcome sent again after a crash is the same message.
    // A preferences link is asked for afresh each time, so each one is a new message.
    messageId: spec.sameIdWhenResent ? stableMessageId([job.kind, subscription.id, consentAt.toISOString()], deps.config.publicUrl) : undefined,
    headers: { 'List-Id': listId(list, deps.config.publicUrl), ...rendered.headers },
  };
  try {
    await deps.mailer.send(mail);
  } catch (err) {
    if (classifySmtpError(err) !== 'permanent') throw err;
    await markBounced(deps.db, subscription.id, 'bounced', { email: job.kind, smtp: smtpErrorText(err) });
    return 'bounced';
  }
  if (spec.event) await appendEvent(deps.db, subscription.id, spec.event, {});
  return 'sent';
}
