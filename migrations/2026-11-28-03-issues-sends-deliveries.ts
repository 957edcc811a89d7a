import { Kysely, sql } from 'kysely';

// Frozen in time: never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // Who owns this database, named in every queued job: two deployments that share a Redis by
  // mistake then fail loudly on each other's jobs instead of quietly skipping them.
  await db.schema
    .createTable('instance')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('singleton', 'boolean', (c) =>
      c
        .notNull()
        .unique()
        .defaultTo(true)
        .check(sql`singleton`),
    )
    .execute();
  await sql`INSERT INTO instance DEFAULT VALUES`.execute(db);

  // An issue as imported: the validated JSON is kept whole, so the email can be compiled again
  // (per section choice, for the archive) exactly as the editor wrote it.
  await db.schema
    .createTable('issues')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('list_id', 'uuid', (c) => c.notNull().references('lists.id').onDelete('cascade'))
    .addColumn('slug', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('weekly', 'digest')`))
    // The issue's own date (YYYY-MM-DD): which month a weekly belongs to, which month a digest covers.
    .addColumn('date', 'date', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('content', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('issues_list_slug', ['list_id', 'slug'])
    .execute();
  await db.schema.createIndex('issues_list_date').on('issues').columns(['list_id', 'kind', 'date']).execute();

  // One send per issue, ever: the unique issue_id is what makes "send twice" impossible even
  // when two editors (or two schedulers) try at the same moment.
  await db.schema
    .createTable('sends')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('issue_id', 'uuid', (c) => c.notNull().unique().references('issues.id').onDelete('cascade'))
    .addColumn('list_id', 'uuid', (c) => c.notNull().references('lists.id').onDelete('cascade'))
    // Which subscriptions the issue is for: weekly issues go to weekly subscribers, digests to monthly ones.
    .addColumn('cadence', 'text', (c) => c.notNull().check(sql`cadence IN ('weekly', 'monthly')`))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('scheduled', 'planning', 'sending', 'paused', 'done', 'cancelled')`))
    .addColumn('scheduled_at', 'timestamptz')
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    // Deliveries are grouped into batch jobs by id range; kept per send so that a change of the
    // setting never splits a send's batches differently between planning and repair.
    .addColumn('batch_size', 'integer', (c) => c.notNull())
    .addColumn('planned', 'integer', (c) => c.notNull().defaultTo(0))
    // Planning walks the subscriptions in id order, in chunks; it resumes after the last one.
    .addColumn('planned_through', 'uuid')
    .addColumn('planned_at', 'timestamptz')
    .addColumn('pause_reason', 'text')
    // Temporary SMTP failures since the last success: too many and the send pauses itself.
    .addColumn('failure_streak', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // The scheduler looks for due sends; the partial index keeps that cheap however many are done.
  await sql`CREATE INDEX sends_due ON sends (scheduled_at) WHERE status = 'scheduled'`.execute(db);

  // One row per (send, subscription): the truth about who got what.
  await db.schema
    .createTable('deliveries')
    // bigserial: batches are id ranges, and keyset paging walks them in order.
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('send_id', 'uuid', (c) => c.notNull().references('sends.id').onDelete('cascade'))
    .addColumn('subscription_id', 'uuid', (c) => c.notNull().references('subscriptions.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('pending')
        .check(sql`status IN ('pending', 'sent', 'failed', 'bounced', 'suppressed', 'cancelled')`),
    )
    // A batch job leases the rows it is sending; a crashed job's lease runs out and the rows are
    // sent by the next one. Never two live jobs on one row.
    .addColumn('leased_until', 'timestamptz')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('smtp_response', 'text')
    .addColumn('finished_at', 'timestamptz')
    .addUniqueConstraint('deliveries_send_subscription', ['send_id', 'subscription_id'])
    .execute();
  // Repair and the batch job look for a send's unfinished rows; the partial index stays small.
  await sql`CREATE INDEX deliveries_pending ON deliveries (send_id, id) WHERE status = 'pending'`.execute(db);
  // Planning walks a list's sendable subscriptions of one cadence in id order (keyset paging).
  await sql`CREATE INDEX subscriptions_sendable ON subscriptions (list_id, cadence, id) WHERE status = 'active' AND NOT paused`.execute(db);
  await db.schema.createIndex('deliveries_subscription').on('deliveries').column('subscription_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX subscriptions_sendable`.execute(db);
  await db.schema.dropTable('deliveries').execute();
  await db.schema.dropTable('sends').execute();
  await db.schema.dropTable('issues').execute();
  await db.schema.dropTable('instance').execute();
}
