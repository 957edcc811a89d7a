import { Kysely, sql } from 'kysely';

// Frozen in time: never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // What a visitor reads about a list before subscribing: a description (Markdown subset, as
  // in issues) and an optional "what you get" line per cadence. Null: not written yet.
  await db.schema
    .alterTable('lists')
    .addColumn('description', 'text')
    .addColumn('weekly_description', 'text')
    .addColumn('monthly_description', 'text')
    .execute();

  // What happened on a list that no longer belongs to a subscription: a pending subscription
  // removed after it was never confirmed leaves this record (when, how it came) and nothing
  // that names the person. subscription_events cannot hold it: they go with their subscription.
  await db.schema
    .createTable('list_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('list_id', 'uuid', (c) => c.notNull().references('lists.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('list_events_list').on('list_events').columns(['list_id', 'id']).execute();

  // The reminder and the expiry walk pending subscriptions by age every few minutes; the
  // partial index keeps that walk to the pending rows, however many active ones a list has.
  await sql`CREATE INDEX subscriptions_pending_consent ON subscriptions (consent_at) WHERE status = 'pending'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX IF EXISTS subscriptions_pending_consent`.execute(db);
  await db.schema.dropTable('list_events').execute();
  await db.schema.alterTable('lists').dropColumn('description').dropColumn('weekly_description').dropColumn('monthly_description').execute();
}
