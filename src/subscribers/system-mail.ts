import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { List, Subscription } from '../db/schema';
import { escapeHtml } from '../escape-html';
import { pickLanguage, t, type Lang, type MessageKey } from '../i18n';
import { compileMjmlHere, type CompileMjml } from '../issues/mjml';
import { emailsDir } from '../issues/templates';
import type { Queues, SystemMailJob } from '../queues';
import { formatAddress, listId, stableMessageId, unsubscribeHeaders } from '../mail/headers';
import { classifySmtpError, smtpErrorText, type Mailer, type OutgoingMail } from '../mail/transport';
import { markBounced } from './bounce';
import { remindedSince } from './pending';
import { appendEvent, awaitsConfirmation, findOpenRequest, findSubscriptionContext } from './repository';
import { subscriberLink } from './tokens';

/**
 * The emails Broadsheet sends on its own: the confirmation link, the optional welcome, a
 * preferences link asked for from the web, and a short-lived link to download one's data.
 * The HTTP side only enqueues a job naming the subscription; the worker renders and sends it,
 * reading the rows again, so a job for a subscription that changed meanwhile (confirmed,
 * deleted) sends nothing wrong.
 */
export type SystemMailKind = SystemMailJob['kind'] | 'export';
type SystemMail = { kind: SystemMailKind; subscriptionId: string };

async function enqueue(queues: Queues, job: SystemMail): Promise<void> {
  await queues.add('system-mail', job);
}

/** Queues a confirmation email for a pending subscription (the editor-side import uses it too). */
export async function enqueueConfirmation(queues: Queues, subscriptionId: string): Promise<void> {
  await enqueue(queues, { kind: 'confirm', subscriptionId });
}

/** Queues the confirmation emails of many pending subscriptions at once (an import's batch). */
export async function enqueueConfirmations(queues: Queues, subscriptionIds: string[]): Promise<void> {
  await queues.addBulk(
    'system-mail',
    subscriptionIds.map((subscriptionId) => ({ kind: 'confirm', subscriptionId })),
  );
}

export async function enqueueWelcome(queues: Queues, subscriptionId: string): Promise<void> {
  await enqueue(queues, { kind: 'welcome', subscriptionId });
}

export async function enqueuePreferencesLink(queues: Queues, subscriptionId: string): Promise<void> {
  await enqueue(queues, { kind: 'preferences', subscriptionId });
}

/** The "download my data" link, asked for on the preferences page: data only ever goes to the mailbox. */
export async function enqueueDataLink(queues: Queues, subscriptionId: string): Promise<void> {
  await enqueue(queues, { kind: 'export', subscriptionId });
}

// ---------------------------------------------------------------------------------------
// Rendering: each template is compiled by MJML once per language, with the catalogue's
// words in place and `{{name}}` slots left for the per-message values (list name, links),
// which are escaped and substituted for every email.

const TEMPLATE_DIR = path.join(emailsDir(), 'system');
const TEMPLATE_FILE: Record<SystemMailKind, string> = {
  confirm: 'confirm.mjml',
  welcome: 'welcome.mjml',
  preferences: 'preferences-link.mjml',
  export: 'data-link.mjml',
  reminder: 'reminder.mjml',
};

const compiled = new Map<string, Promise<string>>();

async function compileTemplate(kind: SystemMailKind, lang: Lang, compile: CompileMjml): Promise<string> {
  const file = path.join(TEMPLATE_DIR, TEMPLATE_FILE[kind]);
  const source = (await fs.readFile(file, 'utf8'))
    .replace(/\{\{lang\}\}/g, lang)
    // A catalogue message's own `{list}` becomes the slot `{{list}}`, filled per email.
    .replace(/\{\{t:([a-z0-9_.]+)\}\}/g, (_m, key: string) => escapeHtml(t(lang, key as MessageKey, SLOT_VARS)));
  // Includes are off by default in MJML 5; ours are our own files.
  return compile(source, { filePath: file, ignoreIncludes: false });
}

const SLOT_VARS = { list: '{{list}}' };

function template(kind: SystemMailKind, lang: Lang, compile: CompileMjml): Promise<string> {
  const key = `${kind}:${lang}`;
  let html = compiled.get(key);
  if (!html) {
    html = compileTemplate(kind, lang, compile);
    // A failed compile is not cached: the next email tries again (and fails loudly again).
    html.catch(() => compiled.delete(key));
    compiled.set(key, html);
  }
  return html;
}

function fill(htmlTemplate: string, values: Record<string, string>): string {
  return htmlTemplate.replace(/\{\{([a-z_]+)\}\}/g, (whole, name: string) => (name in values ? escapeHtml(values[name]!) : whole));
}

export interface RenderedMail {
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
}

/** Renders one system email. Pure apart from reading (and caching) the template. */
export async function renderSystemMail(
  kind: SystemMailKind,
  context: {
    list: List;
    subscription: Subscription;
    config: Pick<Config, 'publicUrl' | 'secretKeys'>;
    now?: Date;
    /** Where MJML runs: a worker hands in its compiler process; by default, here. */
    compileMjml?: CompileMjml;
  },
): Promise<RenderedMail> {
  const { list, subscription, config } = context;
  const now = context.now ?? new Date();
  const lang = pickLanguage(list.language);
  const vars = { list: list.name };
  const preferencesUrl = subscriberLink(config, 'preferences', subscription.id, now);
  const unsubscribeUrl = subscriberLink(config, 'unsubscribe', subscription.id, now);
  const values: Record<string, string> = {
    list: list.name,
    contact: list.contact,
    preferences_url: preferencesUrl,
    unsubscribe_url: unsubscribeUrl,
  };
  const headers: Record<string, string> = {};
  let subject: string;
  let text: string[];
  // The plain-text part is written from the catalogue, not scraped from the HTML.
  const footer = ['', '-- '];
  const contact = list.contact ? [list.contact] : [];

  if (kind === 'confirm') {
    const url = subscriberLink(config, 'confirm', subscription.id, now);
    values.url = url;
    subject = t(lang, 'email.confirm.subject', vars);
    text = [
      t(lang, 'email.confirm.heading'),
      '',
      t(lang, 'email.confirm.body', vars),
      '',
      url,
      '',
      t(lang, 'email.confirm.expiry'),
      t(lang, 'email.confirm.ignore'),
      ...footer,
      t(lang, 'email.confirm.reason', vars),
      ...contact,
    ];
  } else if (kind === 'reminder') {
    const url = subscriberLink(config, 'confirm', subscription.id, now);
    values.url = url;
    subject = t(lang, 'email.reminder.subject', vars);
    text = [
      t(lang, 'email.reminder.heading', vars),
      '',
      t(lang, 'email.reminder.body', vars),
      '',
      url,
      '',
      t(lang, 'email.confirm.expiry'),
      t(lang, 'email.reminder.last'),
      t(lang, 'email.confirm.ignore'),
      ...footer,
      t(lang, 'email.confirm.reason', vars),
      ...contact,
    ];
  } else if (kind === 'welcome') {
    const sentence = t(lang, subscription.cadence === 'monthly' ? 'email.welcome.monthly' : 'email.welcome.weekly', vars);
    values.cadence_sentence = sentence;
    subject = t(lang, 'email.welcome.subject', vars);
    text = [
      t(lang, 'email.welcome.heading'),
      '',
      sentence,
      '',
      `${t(lang, 'email.welcome.button')}: ${preferencesUrl}`,
      ...footer,
      t(lang, 'email.footer.subscribed', vars),
      `${t(lang, 'email.footer.preferences')}: ${preferencesUrl}`,
      `${t(lang, 'email.footer.unsubscribe')}: ${unsubscribeUrl}`,
      ...contact,
    ];
    // The welcome goes to a subscriber: like every newsletter, it can be left in one click.
    Object.assign(headers, unsubscribeHeaders(unsubscribeUrl, list.from_address));
  } else if (kind === 'export') {
    const url = subscriberLink(config, 'export', subscription.id, now);
    values.url = url;
    subject = t(lang, 'email.data.subject', vars);
    text = [
      t(lang, 'email.data.heading'),
      '',
      t(lang, 'email.data.body', vars),
      '',
      url,
      '',
      t(lang, 'email.data.ignore'),
      ...footer,
      `${t(lang, 'email.footer.preferences')}: ${preferencesUrl}`,
      `${t(lang, 'email.footer.unsubscribe')}: ${unsubscribeUrl}`,
      ...contact,
    ];
  } else {
    subject = t(lang, 'email.prefs.subject', vars);
    text = [
      t(lang, 'email.prefs.heading'),
      '',
      t(lang, 'email.prefs.body', vars),
      '',
      preferencesUrl,
      '',
      t(lang, 'email.prefs.ignore'),
      ...footer,
      `${t(lang, 'email.footer.unsubscribe')}: ${unsubscribeUrl}`,
      ...contact,
    ];
  }

  const html = fill(await template(kind, lang, context.compileMjml ?? compileMjmlHere), values);
  return { subject, html, text: text.join('\n') + '\n', headers };
}

// ---------------------------------------------------------------------------------------
// The job

export interface SystemMailDeps {
  db: Db;
  config: Pick<Config, 'publicUrl' | 'secretKeys'>;
  mailer: Mailer;
  compileMjml?: CompileMjml;
}

export type SystemMailOutcome = 'sent' | 'skipped' | 'bounced';

/** Which subscriptions each kind of email may still go to when the job runs. */
const SENDABLE: Record<SystemMailKind, ReadonlyArray<Subscription['status']>> = {
  // Confirmed (or unsubscribed) meanwhile: the link would be useless or unwanted. A suppressed
  // subscription with an open request to come back gets it too (awaitsConfirmation).
  confirm: ['pending'],
  // Only a subscription still waiting for its first confirmation (never a suppressed one's request).
  reminder: ['pending'],
  welcome: ['active'],
  // Asked for by the reader; an unsubscribed reader may want to look at or delete their data.
  preferences: ['pending', 'active', 'unsubscribed'],
  export: ['pending', 'active', 'unsubscribed'],
};

/**
 * Sends one system email. A temporary SMTP failure is thrown so that the queue retries it
 * with backoff; a permanent one (5xx to the address) marks the subscription bounced and is
 * not retried.
 */
export async function processSystemMailJob(deps: SystemMailDeps, job: SystemMail): Promise<SystemMailOutcome> {
  const loaded = await findSubscriptionContext(deps.db, job.subscriptionId);
  if (!loaded) return 'skipped';
  const { list, subscriber, subscription } = loaded;
  // A suppressed subscription's confirmation goes out only for an open request to come back.
  const request = job.kind === 'confirm' && subscription.status !== 'pending' ? await findOpenRequest(deps.db, subscription.id) : undefined;
  if (job.kind === 'confirm' ? !awaitsConfirmation(subscription, request) : !SENDABLE[job.kind].includes(subscription.status)) return 'skipped';
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
    messageId: job.kind === 'preferences' ? undefined : stableMessageId([job.kind, subscription.id, consentAt.toISOString()], deps.config.publicUrl),
    headers: { 'List-Id': listId(list, deps.config.publicUrl), ...rendered.headers },
  };
  try {
    await deps.mailer.send(mail);
  } catch (err) {
    if (classifySmtpError(err) !== 'permanent') throw err;
    await markBounced(deps.db, subscription.id, 'bounced', { email: job.kind, smtp: smtpErrorText(err) });
    return 'bounced';
  }
  if (job.kind === 'confirm') await appendEvent(deps.db, subscription.id, 'confirmation_sent', {});
  if (job.kind === 'reminder') await appendEvent(deps.db, subscription.id, 'reminder_sent', {});
  return 'sent';
}
