import { sql, type Kysely } from 'kysely';

// Frozen in time: never imports application code.

/**
 * A CSV import started on the desk, with its progress and then its report: one row, written
 * by the process that runs the import (about once a second) and read by any process that
 * serves the page, so the progress bar survives a reload balanced to another web process and
 * the report outlives the process. A row that stops being written while unfinished is an
 * import whose process went away (the page says so; importing the file again is safe).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE desk_imports (
      id uuid PRIMARY KEY,
      list_id uuid NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
      editor text NOT NULL,
      source text NOT NULL,
      total_bytes bigint NOT NULL,
      bytes bigint NOT NULL DEFAULT 0,
      rows integer NOT NULL DEFAULT 0,
      report jsonb,
      error text,
      started_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz
    )`.execute(db);
  // Old finished imports are removed by age.
  await sql`CREATE INDEX desk_imports_started ON desk_imports (started_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE desk_imports`.execute(db);
}
