import type { Kysely } from 'kysely';

// Frozen in time: never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // The title and preheader of a list's generated monthly digest, with {list}, {month} and
  // {count} placeholders. Null: the default wording in the list's language.
  await db.schema.alterTable('lists').addColumn('digest_title', 'text').addColumn('digest_preheader', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('lists').dropColumn('digest_title').dropColumn('digest_preheader').execute();
}
