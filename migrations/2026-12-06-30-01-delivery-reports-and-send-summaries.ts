import { Kysely, sql } from 'kysely';

// Frozen in time: never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // What came back by mail after a delivery was sent (broadsheet inbound): an ARF complaint
  // and the count of 4.x.x DSNs (a 5.x.x one turns the row's status to 'bounced'). Constant
  // defaults: adding them does not rewrite the (large) table.
  await db.schema
    .alterTable('deliveries')
    .addColumn('complained_at', 'timestamptz')
    .addColumn('soft_bounces', 'smallint', (c) => c.notNull().defaultTo(0))
    .execute();

  // One row per finished send, kept for ever: what the editor's send report shows once the
  // send's per-delivery rows are removed (DELIVERY_RETENTION_DAYS). Written before any row is
  // removed, from those rows.
  await db.schema
    .createTable('send_summaries')
    .addColumn('send_id', 'uuid', (c) => c.primaryKey().references('sends.id').onDelete('cascade'))
    .addColumn('recipients', 'integer', (c) => c.notNull())
    .addColumn('delivered', 'integer', (c) => c.notNull())
    .addColumn('bounced', 'integer', (c) => c.notNull())
    .addColumn('complained', 'integer', (c) => c.notNull())
    .addColumn('soft_bounced', 'integer', (c) => c.notNull())
    .addColumn('suppressed', 'integer', (c) => c.notNull())
    .addColumn('failed', 'integer', (c) => c.notNull())
    .addColumn('cancelled', 'integer', (c) => c.notNull())
    .addColumn('unsubscribed', 'integer', (c) => c.notNull())
    // The most common SMTP answers: [{ "response": "250 2.0.0 Ok", "count": 19990 }, …]
    .addColumn('top_responses', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('summarized_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('rows_removed_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('send_summaries').execute();
  await db.schema.alterTable('deliveries').dropColumn('complained_at').dropColumn('soft_bounces').execute();
}
