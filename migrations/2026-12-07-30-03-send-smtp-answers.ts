import { sql, type Kysely } from 'kysely';

// Frozen in time: never imports application code.

/**
 * A finished send's most common SMTP answers, grouped once. Grouping them means reading every
 * delivery row's answer, which are nearly all different (queue ids): on a send of 675,000 it
 * took seconds, on each view of the send's page. The answers of a finished send change only
 * when a late bounce rewrites one (sending/inbound.ts), which removes the row.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE send_smtp_answers (
      send_id uuid PRIMARY KEY REFERENCES sends (id) ON DELETE CASCADE,
      answers jsonb NOT NULL,
      computed_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE send_smtp_answers`.execute(db);
}
