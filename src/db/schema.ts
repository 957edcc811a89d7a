import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** The database as kysely sees it. Mirrors migrations/; keep the two in step. */
export interface Database {
  lists: ListsTable;
  subscribers: SubscribersTable;
  subscriptions: SubscriptionsTable;
  subscription_events: SubscriptionEventsTable;
  forgotten_emails: ForgottenEmailsTable;
  subscription_requests: SubscriptionRequestsTable;
  list_events: ListEventsTable;
  instance: InstanceTable;
  issues: IssuesTable;
  sends: SendsTable;
  deliveries: DeliveriesTable;
  send_workers: SendWorkersTable;
  send_summaries: SendSummariesTable;
  editors: EditorsTable;
  editor_sign_in_links: EditorSignInLinksTable;
  editor_sessions: EditorSessionsTable;
  editor_api_tokens: EditorApiTokensTable;
  send_events: SendEventsTable;
  subscription_counts: SubscriptionCountsTable;
  delivery_counts: DeliveryCountsTable;
  desk_imports: DeskImportsTable;
  send_smtp_answers: SendSmtpAnswersTable;
}

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export type SubscriptionStatus = 'pending' | 'active' | 'unsubscribed' | 'bounced' | 'complained';
export type Cadence = 'weekly' | 'monthly';

export interface ListSection {
  id: string;
  title: string;
}

export interface ListsTable {
  id: Generated<string>;
  slug: string;
  name: string;
  from_address: string;
  reply_to: string | null;
  language: Generated<string>;
  timezone: Generated<string>;
  weekly_slot: string | null;
  monthly_slot: string | null;
  sections: ColumnType<ListSection[], string | undefined, string>;
  contact: Generated<string>;
  /** Send a welcome email once a subscription is confirmed (migration 02). */
  welcome_email: Generated<boolean>;
  /** Title and preheader templates of the generated monthly digest; null: the default (migration 04). */
  digest_title: ColumnType<string | null, string | null | undefined, string | null>;
  digest_preheader: ColumnType<string | null, string | null | undefined, string | null>;
  /** What the list is, for visitors (Markdown subset as in issues); null: none yet (migration 60). */
  description: ColumnType<string | null, string | null | undefined, string | null>;
  /** One line each: what a weekly / monthly subscriber gets; null: the default wording. */
  weekly_description: ColumnType<string | null, string | null | undefined, string | null>;
  monthly_description: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
}

export interface SubscribersTable {
  id: Generated<string>;
  email: string;
  name: Generated<string>;
  created_at: Timestamp;
}

export interface SubscriptionsTable {
  id: Generated<string>;
  list_id: string;
  subscriber_id: string;
  status: SubscriptionStatus;
  cadence: ColumnType<Cadence, Cadence | undefined, Cadence>;
  excluded_sections: ColumnType<string[], string[] | undefined, string[]>;
  paused: Generated<boolean>;
  consent_at: Timestamp;
  consent_ip: string | null;
  consent_user_agent: string | null;
  consent_source: string;
  confirmed_at: Date | null;
  unsubscribed_at: Date | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type SubscriptionEventType =
  | 'subscribed'
  | 'confirmation_sent'
  | 'confirmation_requeued'
  | 'reminder_queued'
  | 'reminder_sent'
  | 'confirmed'
  | 'preferences_changed'
  | 'paused'
  | 'resumed'
  | 'unsubscribed'
  | 'bounced'
  | 'complained'
  | 'imported'
  | 'exported'
  /** Asked through the form to come back while suppressed: the status is unchanged. */
  | 'resubscribe_requested';

export interface SubscriptionEventsTable {
  id: Generated<string>;
  subscription_id: string;
  type: SubscriptionEventType;
  data: ColumnType<Record<string, unknown>, string | undefined, never>;
  /** Who made the change: an editor's address, 'cli', 'api'; null: the reader or Broadsheet (migration 40-01). */
  actor: ColumnType<string | null, string | null | undefined, never>;
  created_at: Timestamp;
}

/**
 * A suppressed subscription's open request to come back (migration 2026-12-06-10-01): the
 * subscription keeps its status and consent record until the confirmation link is clicked.
 */
export interface SubscriptionRequestsTable {
  subscription_id: string;
  requested_at: Timestamp;
  cadence: Cadence;
  ip: string | null;
  user_agent: string | null;
  source: string;
  updated_at: Timestamp;
}

export type SubscriptionRequest = Selectable<SubscriptionRequestsTable>;

/** Events of a list that name no subscription (migration 60): a pending one that expired; a list created or its settings changed, by whom (data.actor). */
export type ListEventType = 'pending_expired' | 'created' | 'settings_changed';

export interface ListEventsTable {
  id: Generated<string>;
  list_id: string;
  type: ListEventType;
  data: ColumnType<Record<string, unknown>, string | undefined, never>;
  created_at: Timestamp;
}

export interface ForgottenEmailsTable {
  email_hash: string;
  forgotten_at: Timestamp;
}

export type List = Selectable<ListsTable>;
export type NewList = Insertable<ListsTable>;
export type Subscriber = Selectable<SubscribersTable>;
export type Subscription = Selectable<SubscriptionsTable>;
export type SubscriptionUpdate = Updateable<SubscriptionsTable>;
export type SubscriptionEvent = Selectable<SubscriptionEventsTable>;

/** One row: this database's id, named in every queued job (migration 03). */
export interface InstanceTable {
  id: Generated<string>;
  singleton: Generated<boolean>;
}

export type IssueKind = 'weekly' | 'digest';

/** An imported issue (migration 03); `content` is the validated issue JSON. */
export interface IssuesTable {
  id: Generated<string>;
  list_id: string;
  slug: string;
  kind: IssueKind;
  /** YYYY-MM-DD; pg returns a `date` as a string with our type parser (see database.ts). */
  date: string;
  title: string;
  content: ColumnType<Record<string, unknown>, string, string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type SendStatus = 'scheduled' | 'planning' | 'sending' | 'paused' | 'done' | 'cancelled';

export interface SendsTable {
  id: Generated<string>;
  issue_id: string;
  list_id: string;
  cadence: Cadence;
  status: SendStatus;
  scheduled_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  batch_size: number;
  planned: Generated<number>;
  planned_through: string | null;
  planned_at: Date | null;
  pause_reason: string | null;
  failure_streak: Generated<number>;
  /** Circuit breaker (migration 2026-12-06-20-01): since when only temporary failures; null: closed. */
  failing_since: Date | null;
  /** When the next probe message may be tried; null: closed. */
  retry_at: Date | null;
  /** The wait before the next probe, doubled after each failed one. */
  backoff_ms: Generated<number>;
  last_error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type DeliveryStatus = 'pending' | 'sent' | 'failed' | 'bounced' | 'suppressed' | 'cancelled';

export interface DeliveriesTable {
  id: Generated<number>;
  send_id: string;
  subscription_id: string;
  status: Generated<DeliveryStatus>;
  leased_until: Date | null;
  /** The worker process (send_workers.id) holding the lease. */
  leased_by: string | null;
  attempts: Generated<number>;
  smtp_response: string | null;
  finished_at: Date | null;
  /** An ARF complaint about this message came back (broadsheet inbound). */
  complained_at: Date | null;
  /** 4.x.x delivery status notifications received for this message. */
  soft_bounces: Generated<number>;
}

/** A finished send's counts, kept after its per-delivery rows are removed (retention.ts). */
export interface SendSummariesTable {
  send_id: string;
  recipients: number;
  delivered: number;
  bounced: number;
  /** Reported as bounced after the send (a DSN, a webhook), as in the editor's report. */
  bounced_later: Generated<number>;
  complained: number;
  soft_bounced: number;
  suppressed: number;
  failed: number;
  cancelled: number;
  unsubscribed: number;
  /** The most common SMTP answers, normalised as in the report: [{ answer, count }]. */
  top_responses: ColumnType<{ answer: string; count: number }[], string, string>;
  summarized_at: Generated<Date>;
  rows_removed_at: Date | null;
}

export type IssueRow = Selectable<IssuesTable>;
export type Send = Selectable<SendsTable>;

/** A worker process that sends, and when it last said it is alive (migration 2026-12-06-20-01). */
export interface SendWorkersTable {
  id: string;
  seen_at: Generated<Date>;
}
export type Delivery = Selectable<DeliveriesTable>;

// --- The desk (migration 2026-12-06-40-01) ------------------------------------------------

export type EditorRole = 'owner' | 'editor';

export interface EditorsTable {
  id: Generated<string>;
  email: string;
  role: EditorRole;
  created_at: Timestamp;
}

export interface EditorSignInLinksTable {
  id: Generated<string>;
  editor_id: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: Timestamp;
}

export interface EditorSessionsTable {
  id: Generated<string>;
  editor_id: string;
  token_hash: string;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Date;
  ip: string | null;
  user_agent: string | null;
}

export interface EditorApiTokensTable {
  id: Generated<string>;
  editor_id: string;
  name: string;
  token_hash: string;
  created_at: Timestamp;
  last_used_at: Date | null;
}

export interface SendEventsTable {
  id: Generated<string>;
  issue_id: string;
  send_id: string | null;
  type: string;
  actor: string | null;
  data: ColumnType<Record<string, unknown>, string | undefined, never>;
  created_at: Timestamp;
}

export type Editor = Selectable<EditorsTable>;
export type EditorSession = Selectable<EditorSessionsTable>;
export type SendEvent = Selectable<SendEventsTable>;

// --- Counters kept by triggers (migration 2026-12-07-30-01; read through db/counters.ts) ----

/** A statement's net change to a list's subscriptions of one status, cadence and paused. */
export interface SubscriptionCountsTable {
  id: Generated<string>;
  list_id: string;
  status: SubscriptionStatus;
  cadence: Cadence;
  paused: boolean;
  n: ColumnType<string, number | string, number | string>;
  at: Timestamp;
}

/** A statement's net change to a send's deliveries of one status. */
export interface DeliveryCountsTable {
  id: Generated<string>;
  send_id: string;
  status: DeliveryStatus;
  n: ColumnType<string, number | string, number | string>;
  at: Timestamp;
}

/** A CSV import started on the desk, its progress and its report (migration 2026-12-07-30-02). */
export interface DeskImportsTable {
  id: string;
  list_id: string;
  /** The editor's address. */
  editor: string;
  /** The uploaded file's name. */
  source: string;
  total_bytes: ColumnType<number, number, number>;
  bytes: ColumnType<number, number | undefined, number>;
  rows: ColumnType<number, number | undefined, number>;
  /** The import's report (the CLI's), once finished. */
  report: ColumnType<unknown, string | null | undefined, string | null>;
  error: string | null;
  started_at: Timestamp;
  updated_at: Timestamp;
  finished_at: Date | null;
}

/** A finished send's most common SMTP answers, grouped once (migration 2026-12-07-30-03). */
export interface SendSmtpAnswersTable {
  send_id: string;
  answers: ColumnType<{ answer: string; count: number }[], string, string>;
  computed_at: Timestamp;
}
