import type { Config } from '../config';
import { AppError } from '../errors';
import type { Db } from '../db/database';
import type { CompileMjml } from '../issues/mjml';
import type { Templates } from '../issues/templates';
import { stableMessageId } from '../mail/headers';
import type { Mailer, SmtpResult } from '../mail/transport';
import type { TestSendJob } from '../queues';
import { subscriberLink } from '../subscribers/tokens';
import { assetKey } from '../issues/asset-keys';
import { assetBaseUrl } from '../issues/repository';
import { coverTitles, issueWasSent } from './repository';
import { newsletterAddressing, undeliverableReason } from './envelope';
import { compileVariant } from './variants';

/**
 * One test email of an issue, as a weekly subscriber with no sections excluded sees it,
 * marked as a test in the subject. When the address subscribes to the list, its own links
 * are used; otherwise the preferences and unsubscribe links lead to the list's "email me a
 * link" page, which works for anyone.
 */
export async function sendTestEmail(
  deps: { db: Db; config: Pick<Config, 'publicUrl' | 'secretKeys'>; mailer: Mailer; templates: Templates; compileMjml?: CompileMjml },
  job: TestSendJob,
): Promise<SmtpResult> {
  const { db, config } = deps;
  const issue = await db.selectFrom('issues').selectAll().where('id', '=', job.issueId).executeTakeFirstOrThrow();
  const list = await db.selectFrom('lists').selectAll().where('id', '=', issue.list_id).executeTakeFirstOrThrow();
  const subscription = await db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select(['s.id', 'p.name'])
    .where('s.list_id', '=', list.id)
    .where((eb) => eb(eb.fn('lower', ['p.email']), '=', job.to.toLowerCase()))
    .executeTakeFirst();
  const send = { id: `test-${job.requestId}`, cadence: issue.kind === 'digest' ? 'monthly' : 'weekly' } as const;
  // An unsent issue's images are not public: the test email's URLs carry a key for them.
  const assets = (await issueWasSent(db, issue.id))
    ? undefined
    : `${assetBaseUrl(config.publicUrl, list.slug, issue.slug)}/${assetKey(config.secretKeys, list.slug, issue.slug)}`;
  const variant = await compileVariant(
    {
      send,
      issue,
      list,
      publicUrl: config.publicUrl,
      templates: deps.templates,
      compileMjml: deps.compileMjml,
      coverTitles: await coverTitles(db, issue),
      assetBaseUrl: assets,
    },
    [],
    { subjectPrefix: '[TEST] ' },
  );
  const askForLink = `${config.publicUrl}/lists/${encodeURIComponent(list.slug)}/preferences`;
  const now = new Date();
  const messageId = stableMessageId(['test', job.requestId], config.publicUrl);
  const addressing = newsletterAddressing({ ...config, bounceDomain: undefined }, list, { email: job.to, name: subscription?.name ?? '' }, undefined, now);
  const server = await deps.mailer.capabilities();
  const refused = undeliverableReason(job.to, server);
  if (refused) throw new AppError('invalid_input', refused);
  const message = variant.mime.build(
    {
      to: addressing.to,
      messageId,
      date: now,
      headers: {},
      values: {
        name: subscription?.name ?? '',
        preferences_url: subscription ? subscriberLink(config, 'preferences', subscription.id, now) : askForLink,
        unsubscribe_url: subscription ? subscriberLink(config, 'unsubscribe', subscription.id, now) : askForLink,
        web_url: `${config.publicUrl}/lists/${encodeURIComponent(list.slug)}/archive/${encodeURIComponent(issue.slug)}`,
      },
    },
    undefined,
    server,
  );
  return deps.mailer.sendRaw({ ...addressing.envelope, use8BitMime: message.eightBit }, message.raw, messageId);
}
