import type { Cadence, Subscription, SubscriptionEventType } from '../db/schema';
import type { MessageKey } from '../i18n';
import type { SystemMailJob } from '../queues';

/**
 * The emails Broadsheet sends on its own, one row each: which template, which subject, the
 * link the email is about, its plain-text part (written from the catalogue, not scraped from
 * the HTML), who it may still go to when the job runs, and what is recorded once it went out.
 * render.ts and job.ts read this table; nothing else names a kind's details.
 */
export type SystemMailKind = SystemMailJob['kind'];

/** A line of the plain-text part: a catalogue message, a blank line, the email's link, or a labelled link. */
export type TextLine = MessageKey | '' | { link: 'main' | 'preferences' | 'unsubscribe'; label?: MessageKey } | ((cadence: Cadence) => MessageKey);

export interface SystemMailSpec {
  /** In emails/system/. */
  template: string;
  subject: MessageKey;
  /** The link the email exists for (its button), signed for this purpose; none for the welcome. */
  link?: 'confirm' | 'export';
  /** The body of the text part, then its footer after "-- ". */
  text: readonly TextLine[];
  footer: readonly TextLine[];
  /** Statuses the subscription may be in when the job runs; the rest are skipped. */
  sendable: ReadonlyArray<Subscription['status']>;
  /** An email to a subscriber proper: like every newsletter, it can be left in one click. */
  unsubscribeHeaders?: true;
  /** Recorded once the email went out. */
  event?: SubscriptionEventType;
  /** Sent again after a crash, it is the same message (one Message-ID per consent); a link asked for afresh is a new one. */
  sameIdWhenResent: boolean;
}

/** The welcome's sentence for the reader's cadence, in the text part and the HTML alike. */
export const cadenceSentence = (cadence: Cadence): MessageKey => (cadence === 'monthly' ? 'email.welcome.monthly' : 'email.welcome.weekly');

const preferencesLine = { link: 'preferences', label: 'email.footer.preferences' } as const;
const unsubscribeLine = { link: 'unsubscribe', label: 'email.footer.unsubscribe' } as const;

export const SYSTEM_MAILS: Record<SystemMailKind, SystemMailSpec> = {
  confirm: {
    template: 'confirm.mjml',
    subject: 'email.confirm.subject',
    link: 'confirm',
    text: ['email.confirm.heading', '', 'email.confirm.body', '', { link: 'main' }, '', 'email.confirm.expiry', 'email.confirm.ignore'],
    footer: ['email.confirm.reason'],
    // Confirmed (or unsubscribed) meanwhile: the link would be useless or unwanted. A suppressed
    // subscription with an open request to come back gets it too (job.ts, awaitsConfirmation).
    sendable: ['pending'],
    event: 'confirmation_sent',
    sameIdWhenResent: true,
  },
  reminder: {
    template: 'reminder.mjml',
    subject: 'email.reminder.subject',
    link: 'confirm',
    text: [
      'email.reminder.heading',
      '',
      'email.reminder.body',
      '',
      { link: 'main' },
      '',
      'email.confirm.expiry',
      'email.reminder.last',
      'email.confirm.ignore',
    ],
    footer: ['email.confirm.reason'],
    // Only a subscription still waiting for its first confirmation (never a suppressed one's request).
    sendable: ['pending'],
    event: 'reminder_sent',
    sameIdWhenResent: true,
  },
  welcome: {
    template: 'welcome.mjml',
    subject: 'email.welcome.subject',
    text: ['email.welcome.heading', '', cadenceSentence, '', { link: 'preferences', label: 'email.welcome.button' }],
    footer: ['email.footer.subscribed', preferencesLine, unsubscribeLine],
    sendable: ['active'],
    unsubscribeHeaders: true,
    sameIdWhenResent: true,
  },
  // Asked for by the reader; an unsubscribed reader may want to look at or delete their data.
  preferences: {
    template: 'preferences-link.mjml',
    subject: 'email.prefs.subject',
    text: ['email.prefs.heading', '', 'email.prefs.body', '', { link: 'preferences' }, '', 'email.prefs.ignore'],
    footer: [unsubscribeLine],
    sendable: ['pending', 'active', 'unsubscribed'],
    sameIdWhenResent: false,
  },
  export: {
    template: 'data-link.mjml',
    subject: 'email.data.subject',
    link: 'export',
    text: ['email.data.heading', '', 'email.data.body', '', { link: 'main' }, '', 'email.data.ignore'],
    footer: [preferencesLine, unsubscribeLine],
    sendable: ['pending', 'active', 'unsubscribed'],
    sameIdWhenResent: true,
  },
};
