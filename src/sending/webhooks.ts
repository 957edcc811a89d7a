import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import express from 'express';
import type { Db } from '../db/database';
import { AppError } from '../errors';
import type { AppDeps } from '../http/deps';
import { log } from '../log';
import { markBounced, type BounceKind } from '../subscribers/bounce';

/** One report of a bounce or complaint, whatever form it came in. */
export interface BounceReport {
  kind: BounceKind;
  email: string;
  /** Only this list's subscription; all of the address's otherwise (a complaint is about the sender). */
  list?: string;
  detail: Record<string, unknown>;
}

/**
 * The simple form: `{ "type": "bounce" | "complaint", "email": "…", "list"?: "slug" }`, or
 * `{ "events": [ … ] }`. A temporary ("soft") bounce is not a reason to stop mail: only
 * `type: "bounce"` with `permanent` not false counts.
 */
export function parseSimpleReports(body: unknown): BounceReport[] {
  const events = Array.isArray((body as { events?: unknown })?.events) ? (body as { events: unknown[] }).events : [body];
  return events
    .map((e, i) => {
      const event = e as { type?: unknown; email?: unknown; list?: unknown; permanent?: unknown; reason?: unknown };
      const where = events.length > 1 ? `events[${i}]: ` : '';
      if (event?.type !== 'bounce' && event?.type !== 'complaint') throw new AppError('invalid_input', `${where}"type" must be "bounce" or "complaint"`);
      if (typeof event.email !== 'string' || !event.email.includes('@')) throw new AppError('invalid_input', `${where}"email" must be an address`);
      if (event.list !== undefined && typeof event.list !== 'string') throw new AppError('invalid_input', `${where}"list" must be a list slug`);
      return {
        kind: event.type === 'complaint' ? 'complained' : 'bounced',
        email: event.email,
        list: event.list as string | undefined,
        detail: { source: 'webhook', permanent: event.permanent !== false, reason: typeof event.reason === 'string' ? event.reason.slice(0, 300) : undefined },
      } satisfies BounceReport;
    })
    .filter((r) => r.detail.permanent || r.kind === 'complained');
}

/**
 * Amazon SES through SNS: an envelope `{ Type, MessageId, TopicArn, Message, Signature,
 * SigningCertURL, … }` whose `Message` is SES's JSON. Checked offline: the envelope's shape,
 * that the certificate URL is an https URL of an sns.*.amazonaws.com host, and the topic when
 * SES_TOPIC_ARN is set. The signature itself needs that certificate, fetched from AWS, which
 * this server does not do: the webhook secret is what authenticates the request (README).
 */
export function parseSesNotification(envelope: Record<string, unknown>, expectedTopic?: string): { reports: BounceReport[]; subscribeUrl?: string } {
  const cert = typeof envelope.SigningCertURL === 'string' ? safeUrl(envelope.SigningCertURL) : undefined;
  if (!cert || cert.protocol !== 'https:' || !/^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(cert.hostname)) {
    throw new AppError('invalid_input', 'not an SNS notification: SigningCertURL must be an https URL of sns.<region>.amazonaws.com');
  }
  if (expectedTopic && envelope.TopicArn !== expectedTopic) throw new AppError('forbidden', 'SNS notification from an unexpected topic');
  if (envelope.Type === 'SubscriptionConfirmation') {
    return { reports: [], subscribeUrl: typeof envelope.SubscribeURL === 'string' ? envelope.SubscribeURL : undefined };
  }
  if (envelope.Type !== 'Notification' || typeof envelope.Message !== 'string')
    throw new AppError('invalid_input', 'SNS envelope without a Notification message');
  let message: {
    notificationType?: string;
    eventType?: string;
    bounce?: { bounceType?: string; bouncedRecipients?: { emailAddress?: string; diagnosticCode?: string }[] };
    complaint?: { complainedRecipients?: { emailAddress?: string }[] };
    mail?: { messageId?: string };
  };
  try {
    message = JSON.parse(envelope.Message);
  } catch {
    throw new AppError('invalid_input', 'SNS Message is not JSON');
  }
  const type = message.notificationType ?? message.eventType;
  const detail = { source: 'ses', sesMessageId: message.mail?.messageId, snsMessageId: envelope.MessageId };
  if (type === 'Bounce') {
    // Transient bounces (mailbox full, …) are SES's own retries' business, not a reason to stop.
    if (message.bounce?.bounceType !== 'Permanent') return { reports: [] };
    const recipients: { emailAddress?: string; diagnosticCode?: string }[] = message.bounce?.bouncedRecipients ?? [];
    return {
      reports: recipients
        .filter((r) => typeof r.emailAddress === 'string')
        .map((r) => ({ kind: 'bounced', email: r.emailAddress!, detail: { ...detail, smtp: r.diagnosticCode?.slice(0, 300) } })),
    };
  }
  if (type === 'Complaint') {
    const recipients: { emailAddress?: string }[] = message.complaint?.complainedRecipients ?? [];
    return { reports: recipients.filter((r) => typeof r.emailAddress === 'string').map((r) => ({ kind: 'complained', email: r.emailAddress!, detail })) };
  }
  return { reports: [] };
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** Applies reports: each subscription of the address (on the named list, if any) stops getting mail. */
export async function applyBounceReports(db: Db, reports: BounceReport[]): Promise<number> {
  let changed = 0;
  for (const report of reports) {
    let query = db
      .selectFrom('subscriptions as s')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .innerJoin('lists as l', 'l.id', 's.list_id')
      .select('s.id')
      .where((eb) => eb(eb.fn('lower', ['p.email']), '=', report.email.toLowerCase()));
    if (report.list) query = query.where('l.slug', '=', report.list);
    for (const { id } of await query.execute()) {
      if (await markBounced(db, id, report.kind, report.detail)) changed++;
    }
  }
  return changed;
}

/** Where the last SNS SubscribeURL is kept for the operator (under DATA_DIR). */
export const SNS_SUBSCRIBE_URL_FILE = 'sns-subscribe-url.txt';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * POST /webhooks/bounces?secret=… (or `Authorization: Bearer …`), with BOUNCE_WEBHOOK_SECRET.
 * Without the secret configured the webhook is closed.
 */
export function bounceWebhook(deps: AppDeps): express.Router {
  const router = express.Router();
  const expected = deps.config.bounceWebhookSecret ? digest(deps.config.bounceWebhookSecret) : undefined;
  // SNS posts its JSON as text/plain.
  router.post('/webhooks/bounces', express.text({ type: 'text/plain', limit: '256kb' }), async (req, res) => {
    if (!expected) throw new AppError('unauthorized', 'the bounce webhook is disabled: BOUNCE_WEBHOOK_SECRET is not configured on the server');
    const given = (typeof req.query.secret === 'string' ? req.query.secret : undefined) ?? /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    if (!given || !timingSafeEqual(digest(given), expected)) throw new AppError('unauthorized', 'invalid webhook secret');

    let body: unknown = req.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        throw new AppError('invalid_input', 'the body is not JSON');
      }
    }
    if (!body || typeof body !== 'object') throw new AppError('invalid_input', 'send a JSON object');
    let reports: BounceReport[];
    if ('SigningCertURL' in body || req.get('x-amz-sns-message-type')) {
      const parsed = parseSesNotification(body as Record<string, unknown>, deps.config.sesTopicArn);
      if (parsed.subscribeUrl) {
        // The URL holds SNS's confirmation token: a credential, so it goes to a file the
        // operator reads (mode 600, under DATA_DIR), never into a log line that log shippers copy.
        const file = path.join(deps.config.dataDir, SNS_SUBSCRIBE_URL_FILE);
        await fs.mkdir(deps.config.dataDir, { recursive: true });
        await fs.writeFile(file, `${parsed.subscribeUrl}\n`, { mode: 0o600 });
        log.warn(
          { topic: (body as { TopicArn?: unknown }).TopicArn, file },
          `SNS subscription confirmation: open the URL in ${file} once to confirm the topic subscription`,
        );
      }
      reports = parsed.reports;
    } else {
      reports = parseSimpleReports(body);
    }
    const changed = await applyBounceReports(deps.db, reports);
    res.json({ received: reports.length, changed });
  });
  return router;
}
