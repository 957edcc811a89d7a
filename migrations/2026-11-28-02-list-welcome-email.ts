import { Kysely } from 'kysely';

// Frozen in time: never imports application code.

// Whether a list sends a welcome email once a subscription is confirmed. Off by default:
// the confirmation page already tells the reader they are in, and a second email is the
// editor's choice.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('lists')
    .addColumn('welcome_email', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('lists').dropColumn('welcome_email').execute();
}
