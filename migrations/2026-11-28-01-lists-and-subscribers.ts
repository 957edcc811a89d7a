import { Kysely, sql } from 'kysely';

// Frozen in time: this file never imports application code, so it means the same thing in a
// year as today. A change to the schema is a new migration.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('lists')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('slug', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('from_address', 'text', (c) => c.notNull())
    .addColumn('reply_to', 'text')
    .addColumn('language', 'text', (c) => c.notNull().defaultTo('en'))
    .addColumn('timezone', 'text', (c) => c.notNull().defaultTo('UTC'))
    // "mon 09:00" and "1 09:00": read in the list's time zone, so they survive DST changes.
    .addColumn('weekly_slot', 'text')
    .addColumn('monthly_slot', 'text')
    // [{ id, title }]: the sections a reader may opt out of on the preference page.
    .addColumn('sections', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('contact', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('subscribers')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    // Stored as given; uniqueness is case-insensitive through the index below.
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE UNIQUE INDEX subscribers_email_lower ON subscribers (lower(email))`.execute(db);

  await db.schema
    .createTable('subscriptions')
    // The opaque id that signed links name: never the address.
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('list_id', 'uuid', (c) => c.notNull().references('lists.id').onDelete('cascade'))
    .addColumn('subscriber_id', 'uuid', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')`))
    .addColumn('cadence', 'text', (c) =>
      c
        .notNull()
        .defaultTo('weekly')
        .check(sql`cadence IN ('weekly', 'monthly')`),
    )
    .addColumn('excluded_sections', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('paused', 'boolean', (c) => c.notNull().defaultTo(false))
    // The consent record: when, from where and through what the address was given.
    .addColumn('consent_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('consent_ip', 'text')
    .addColumn('consent_user_agent', 'text')
    .addColumn('consent_source', 'text', (c) => c.notNull())
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('unsubscribed_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('subscriptions_list_subscriber', ['list_id', 'subscriber_id'])
    .execute();
  // Sending walks a list's active subscriptions by cadence.
  await db.schema.createIndex('subscriptions_list_status').on('subscriptions').columns(['list_id', 'status', 'cadence']).execute();
  await db.schema.createIndex('subscriptions_subscriber').on('subscriptions').column('subscriber_id').execute();

  await db.schema
    .createTable('subscription_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('subscription_id', 'uuid', (c) => c.notNull().references('subscriptions.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('subscription_events_subscription').on('subscription_events').columns(['subscription_id', 'id']).execute();
  // Append-only: the log is evidence of consent, so it is never edited (only erased whole, by forget).
  await sql`
    CREATE FUNCTION subscription_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'subscription_events is append-only'; END $$;
    CREATE TRIGGER subscription_events_no_update BEFORE UPDATE ON subscription_events
      FOR EACH ROW EXECUTE FUNCTION subscription_events_append_only();
  `.execute(db);

  // After "forget", only a hash of the address remains, so that an import cannot bring back
  // someone who asked to be erased.
  await db.schema
    .createTable('forgotten_emails')
    .addColumn('email_hash', 'text', (c) => c.primaryKey())
    .addColumn('forgotten_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('forgotten_emails').execute();
  await db.schema.dropTable('subscription_events').execute();
  await sql`DROP FUNCTION IF EXISTS subscription_events_append_only() CASCADE`.execute(db);
  await db.schema.dropTable('subscriptions').execute();
  await db.schema.dropTable('subscribers').execute();
  await db.schema.dropTable('lists').execute();
}
