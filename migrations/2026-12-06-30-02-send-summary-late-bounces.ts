import { Kysely } from 'kysely';

// Frozen in time: never imports application code.

// The editor's send report (src/sending/report.ts) tells bounces refused while sending apart
// from those reported afterwards (a DSN, a webhook); its kept summary does the same.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('send_summaries')
    .addColumn('bounced_later', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('send_summaries').dropColumn('bounced_later').execute();
}
