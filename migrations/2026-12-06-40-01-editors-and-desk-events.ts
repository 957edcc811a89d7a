import { Kysely, sql } from 'kysely';

// Frozen in time: never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // People who may use the desk at /admin. Owners manage editors and list settings.
  await db.schema
    .createTable('editors')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role IN ('owner', 'editor')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // One editor per address however it is capitalised: sign-in looks the address up this way.
  await sql`CREATE UNIQUE INDEX editors_email ON editors (lower(email))`.execute(db);

  // A one-time sign-in link. The token in the link is the row's id signed with SECRET_KEY, so
  // nothing secret is stored; `used_at` makes it one use, `expires_at` 15 minutes.
  await db.schema
    .createTable('editor_sign_in_links')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('editor_id', 'uuid', (c) => c.notNull().references('editors.id').onDelete('cascade'))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // A signed-in browser. Only the SHA-256 of the cookie's value is kept: a copy of this table
  // (a backup, a leaked dump) signs nobody in.
  await db.schema
    .createTable('editor_sessions')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('editor_id', 'uuid', (c) => c.notNull().references('editors.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .execute();
  await db.schema.createIndex('editor_sessions_editor').on('editor_sessions').column('editor_id').execute();

  // Per-editor bearer tokens for /api/v1, stored hashed and shown once.
  await db.schema
    .createTable('editor_api_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('editor_id', 'uuid', (c) => c.notNull().references('editors.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz')
    .execute();

  // Who made a change: an editor's address (the desk, or their API token), 'cli', 'api'
  // (ADMIN_TOKEN); null when the reader or Broadsheet itself did. Kept as text, not a
  // reference, so the history still names an editor who has since been removed.
  await db.schema.alterTable('subscription_events').addColumn('actor', 'text').execute();

  // A send's log: scheduled, moved, started, paused, resumed, cancelled, with who did it. Keyed
  // by issue, because unscheduling deletes the send row and its log must stay.
  await db.schema
    .createTable('send_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('issue_id', 'uuid', (c) => c.notNull().references('issues.id').onDelete('cascade'))
    .addColumn('send_id', 'uuid', (c) => c.references('sends.id').onDelete('set null'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('actor', 'text')
    .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('send_events_issue').on('send_events').columns(['issue_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('send_events').execute();
  await db.schema.alterTable('subscription_events').dropColumn('actor').execute();
  await db.schema.dropTable('editor_api_tokens').execute();
  await db.schema.dropTable('editor_sessions').execute();
  await db.schema.dropTable('editor_sign_in_links').execute();
  await db.schema.dropTable('editors').execute();
}
