import type { Migration } from 'kysely';
import * as listsAndSubscribers from './2026-11-28-01-lists-and-subscribers';
import * as listWelcomeEmail from './2026-11-28-02-list-welcome-email';
import * as issuesSendsDeliveries from './2026-11-28-03-issues-sends-deliveries';
import * as listDigestTemplates from './2026-11-28-04-list-digest-templates';
import * as subscriptionRequests from './2026-12-06-10-01-subscription-requests';
import * as subscriberEmailPrefix from './2026-12-06-50-subscriber-email-prefix';
import * as deliveryReportsAndSendSummaries from './2026-12-06-30-01-delivery-reports-and-send-summaries';
import * as sendSummaryLateBounces from './2026-12-06-30-02-send-summary-late-bounces';
import * as listFrontDoor from './2026-12-06-60-list-front-door';
import * as sendWorkersAndCircuit from './2026-12-06-20-01-send-workers-and-circuit';
import * as editorsAndDeskEvents from './2026-12-06-40-01-editors-and-desk-events';
import * as deskCounters from './2026-12-07-30-01-desk-counters';
import * as deskImports from './2026-12-07-30-02-desk-imports';
import * as sendSmtpAnswers from './2026-12-07-30-03-send-smtp-answers';
import * as departureEvents from './2026-12-07-30-04-departure-events';

/**
 * Every migration, in order. A static list rather than a folder scan, so that the same code
 * runs from TypeScript sources (tests) and from compiled JavaScript (production).
 */
export const migrations: Record<string, Migration> = {
  '2026-11-28-01-lists-and-subscribers': listsAndSubscribers,
  '2026-11-28-02-list-welcome-email': listWelcomeEmail,
  '2026-11-28-03-issues-sends-deliveries': issuesSendsDeliveries,
  '2026-11-28-04-list-digest-templates': listDigestTemplates,
  '2026-12-06-10-01-subscription-requests': subscriptionRequests,
  '2026-12-06-20-01-send-workers-and-circuit': sendWorkersAndCircuit,
  '2026-12-06-30-01-delivery-reports-and-send-summaries': deliveryReportsAndSendSummaries,
  '2026-12-06-30-02-send-summary-late-bounces': sendSummaryLateBounces,
  '2026-12-06-40-01-editors-and-desk-events': editorsAndDeskEvents,
  '2026-12-06-50-subscriber-email-prefix': subscriberEmailPrefix,
  '2026-12-06-60-list-front-door': listFrontDoor,
  '2026-12-07-30-01-desk-counters': deskCounters,
  '2026-12-07-30-02-desk-imports': deskImports,
  '2026-12-07-30-03-send-smtp-answers': sendSmtpAnswers,
  '2026-12-07-30-04-departure-events': departureEvents,
};
