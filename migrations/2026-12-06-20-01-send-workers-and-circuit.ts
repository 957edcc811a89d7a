import { sql, type Kysely } from 'kysely';

// Frozen in time: never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // Every worker process says it is alive here every few seconds. A delivery leased by a
  // worker that has stopped saying so can be taken over at once instead of waiting out its
  // lease. In PostgreSQL rather than Redis: a flushed Redis must never make a live worker look
  // gone (its rows would be sent twice), and the claim checks it in the same statement.
  await db.schema
    .createTable('send_workers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.alterTable('deliveries').addColumn('leased_by', 'text').execute();

  // The circuit breaker of a send (issue 14): while SMTP refuses, the whole send waits and
  // one probe message is tried at retry_at; failing_since says since when nothing went out.
  await db.schema
    .alterTable('sends')
    .addColumn('failing_since', 'timestamptz')
    .addColumn('retry_at', 'timestamptz')
    .addColumn('backoff_ms', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sends').dropColumn('failing_since').dropColumn('retry_at').dropColumn('backoff_ms').dropColumn('last_error').execute();
  await db.schema.alterTable('deliveries').dropColumn('leased_by').execute();
  await db.schema.dropTable('send_workers').execute();
}
