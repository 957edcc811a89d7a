import { Kysely, sql } from 'kysely';

// Frozen in time: never imports application code.

// A reader's request to come back to a list they left (unsubscribed) or that stopped reaching
// them (bounced). It lives beside the subscription, not in its status: the subscription stays
// suppressed, with its consent record, until the confirmation link in the mailbox is clicked.
// Anyone can type anyone's address into a form, so the request proves nothing until then, and
// no import may read it as consent. One open request per subscription; confirming consumes it.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('subscription_requests')
    .addColumn('subscription_id', 'uuid', (c) => c.primaryKey().references('subscriptions.id').onDelete('cascade'))
    // The first request since the suppression: a confirmation link signed before it is refused.
    .addColumn('requested_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // The latest request's details, which become the consent record once confirmed.
    .addColumn('cadence', 'text', (c) => c.notNull().check(sql`cadence IN ('weekly', 'monthly')`))
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('subscription_requests').execute();
}
