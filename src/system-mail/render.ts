import type { Config } from '../config';
import type { List, Subscription } from '../db/schema';
import { escapeHtml } from '../escape-html';
import { pickLanguage, t } from '../i18n';
import { compileMjmlHere, type CompileMjml } from '../issues/mjml';
import { unsubscribeHeaders } from '../mail/headers';
import { fill } from '../placeholders';
import { subscriberLink } from '../subscribers/tokens';
import { cadenceSentence, SYSTEM_MAILS, type SystemMailKind, type TextLine } from './kinds';
import { systemTemplates, type SystemTemplates } from './templates';

export interface RenderedMail {
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
}

/** Renders one system email from its row in SYSTEM_MAILS. Pure apart from the templates, read once. */
export async function renderSystemMail(
  kind: SystemMailKind,
  context: {
    list: List;
    subscription: Subscription;
    config: Pick<Config, 'publicUrl' | 'secretKeys'>;
    now?: Date;
    /** Where MJML runs: a worker hands in its compiler process; by default, here. */
    compileMjml?: CompileMjml;
    templates?: SystemTemplates;
  },
): Promise<RenderedMail> {
  const { list, subscription, config } = context;
  const spec = SYSTEM_MAILS[kind];
  const now = context.now ?? new Date();
  const lang = pickLanguage(list.language);
  const vars = { list: list.name };
  const links = {
    main: spec.link ? subscriberLink(config, spec.link, subscription.id, now) : '',
    preferences: subscriberLink(config, 'preferences', subscription.id, now),
    unsubscribe: subscriberLink(config, 'unsubscribe', subscription.id, now),
  };
  const line = (entry: TextLine): string => {
    if (entry === '') return '';
    if (typeof entry === 'function') return t(lang, entry(subscription.cadence), vars);
    if (typeof entry === 'object') return entry.label ? `${t(lang, entry.label, vars)}: ${links[entry.link]}` : links[entry.link];
    return t(lang, entry, vars);
  };
  const text = [...spec.text.map(line), '', '-- ', ...spec.footer.map(line), ...(list.contact ? [list.contact] : [])];

  const values = {
    list: list.name,
    contact: list.contact,
    url: links.main,
    preferences_url: links.preferences,
    unsubscribe_url: links.unsubscribe,
    cadence_sentence: t(lang, cadenceSentence(subscription.cadence), vars),
  };
  const template = await (context.templates ?? systemTemplates()).html(kind, lang, context.compileMjml ?? compileMjmlHere);
  return {
    subject: t(lang, spec.subject, vars),
    html: fill(template, values, { syntax: 'hole', missing: 'throw', escape: escapeHtml, source: `emails/system/${spec.template}` }),
    text: text.join('\n') + '\n',
    headers: spec.unsubscribeHeaders ? unsubscribeHeaders(links.unsubscribe, list.from_address) : {},
  };
}
