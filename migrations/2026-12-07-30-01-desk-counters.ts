import { sql, type Kysely } from 'kysely';

// Frozen in time: never imports application code.

/**
 * Counters for the desk, kept by PostgreSQL itself so that no path that changes a
 * subscription or a delivery can forget them (the reader pages, the CLI, the API, the desk,
 * the import's set-based SQL, bounces by mail or webhook, forget's cascades, planning, the
 * batch job, retention).
 *
 * Why rows of changes and not one counter row per key: a counter row is a lock. Two import
 * connections (import/batch.ts writes with two at once) or two batch jobs recording results
 * would queue on it until each other's commit, and two statements that touch the same two
 * keys in opposite order would deadlock. Each statement appends its net change per key
 * instead (one row per key it changed, from the statement's transition tables), which locks
 * nothing; a reader sums the rows of its list or send, and the rows are folded into one per
 * key now and then (src/db/counters.ts), which is safe to run concurrently because a
 * DELETE … RETURNING only ever hands a row to one transaction.
 *
 * A statement trigger with transition tables sees exactly the rows the statement changed,
 * including both halves of INSERT … ON CONFLICT DO UPDATE and rows removed by a cascade.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // --- subscriptions per list, status, cadence and paused -------------------------------------
  await sql`
    CREATE TABLE subscription_counts (
      id bigserial PRIMARY KEY,
      list_id uuid NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
      status text NOT NULL,
      cadence text NOT NULL,
      paused boolean NOT NULL,
      n bigint NOT NULL,
      at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX subscription_counts_list ON subscription_counts (list_id)`.execute(db);

  // One function for the three events: a row that left a key counts -1 there, a row that
  // entered one +1; an UPDATE that changed no counted column nets to zero and writes nothing.
  // Rows of a list deleted in this same statement (a cascade from DELETE FROM lists) are
  // skipped: their counters went with the list.
  await sql`
    CREATE FUNCTION subscription_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO subscription_counts (list_id, status, cadence, paused, n)
        SELECT c.list_id, c.status, c.cadence, c.paused, count(*) FROM new_rows c
        WHERE EXISTS (SELECT 1 FROM lists l WHERE l.id = c.list_id)
        GROUP BY 1, 2, 3, 4;
      ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO subscription_counts (list_id, status, cadence, paused, n)
        SELECT c.list_id, c.status, c.cadence, c.paused, -count(*) FROM old_rows c
        WHERE EXISTS (SELECT 1 FROM lists l WHERE l.id = c.list_id)
        GROUP BY 1, 2, 3, 4;
      ELSE
        INSERT INTO subscription_counts (list_id, status, cadence, paused, n)
        SELECT c.list_id, c.status, c.cadence, c.paused, sum(c.n) FROM (
          SELECT o.list_id, o.status, o.cadence, o.paused, -1 AS n
            FROM old_rows o JOIN new_rows w USING (id)
           WHERE (o.list_id, o.status, o.cadence, o.paused) IS DISTINCT FROM (w.list_id, w.status, w.cadence, w.paused)
          UNION ALL
          SELECT w.list_id, w.status, w.cadence, w.paused, 1
            FROM old_rows o JOIN new_rows w USING (id)
           WHERE (o.list_id, o.status, o.cadence, o.paused) IS DISTINCT FROM (w.list_id, w.status, w.cadence, w.paused)
        ) c
        WHERE EXISTS (SELECT 1 FROM lists l WHERE l.id = c.list_id)
        GROUP BY 1, 2, 3, 4
        HAVING sum(c.n) <> 0;
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  await sql`CREATE TRIGGER subscription_counts_insert AFTER INSERT ON subscriptions REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_apply()`.execute(db);
  await sql`CREATE TRIGGER subscription_counts_update AFTER UPDATE ON subscriptions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_apply()`.execute(db);
  await sql`CREATE TRIGGER subscription_counts_delete AFTER DELETE ON subscriptions REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_apply()`.execute(db);
  await sql`
    CREATE FUNCTION subscription_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN DELETE FROM subscription_counts; RETURN NULL; END $$`.execute(db);
  await sql`CREATE TRIGGER subscription_counts_truncate AFTER TRUNCATE ON subscriptions
            FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_truncate()`.execute(db);

  // --- deliveries per send and status ---------------------------------------------------------
  await sql`
    CREATE TABLE delivery_counts (
      id bigserial PRIMARY KEY,
      send_id uuid NOT NULL REFERENCES sends (id) ON DELETE CASCADE,
      status text NOT NULL,
      n bigint NOT NULL,
      at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  // (send_id, at): a send's rows, and its recent 'sent' ones for the rate of the last minute.
  await sql`CREATE INDEX delivery_counts_send ON delivery_counts (send_id, at)`.execute(db);
  await sql`
    CREATE FUNCTION delivery_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO delivery_counts (send_id, status, n)
        SELECT c.send_id, c.status, count(*) FROM new_rows c
        WHERE EXISTS (SELECT 1 FROM sends s WHERE s.id = c.send_id)
        GROUP BY 1, 2;
      ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO delivery_counts (send_id, status, n)
        SELECT c.send_id, c.status, -count(*) FROM old_rows c
        WHERE EXISTS (SELECT 1 FROM sends s WHERE s.id = c.send_id)
        GROUP BY 1, 2;
      ELSE
        -- Most UPDATEs of deliveries are leases (claim, release), which change no status: the
        -- join finds nothing to write.
        INSERT INTO delivery_counts (send_id, status, n)
        SELECT c.send_id, c.status, sum(c.n) FROM (
          SELECT o.send_id, o.status, -1 AS n
            FROM old_rows o JOIN new_rows w USING (id)
           WHERE (o.send_id, o.status) IS DISTINCT FROM (w.send_id, w.status)
          UNION ALL
          SELECT w.send_id, w.status, 1
            FROM old_rows o JOIN new_rows w USING (id)
           WHERE (o.send_id, o.status) IS DISTINCT FROM (w.send_id, w.status)
        ) c
        WHERE EXISTS (SELECT 1 FROM sends s WHERE s.id = c.send_id)
        GROUP BY 1, 2
        HAVING sum(c.n) <> 0;
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  await sql`CREATE TRIGGER delivery_counts_insert AFTER INSERT ON deliveries REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_apply()`.execute(db);
  await sql`CREATE TRIGGER delivery_counts_update AFTER UPDATE ON deliveries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_apply()`.execute(db);
  await sql`CREATE TRIGGER delivery_counts_delete AFTER DELETE ON deliveries REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_apply()`.execute(db);
  await sql`
    CREATE FUNCTION delivery_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN DELETE FROM delivery_counts; RETURN NULL; END $$`.execute(db);
  await sql`CREATE TRIGGER delivery_counts_truncate AFTER TRUNCATE ON deliveries
            FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_truncate()`.execute(db);

  // The counts as they are now. The triggers exist already and this runs in the migration's
  // transaction, whose CREATE TRIGGER holds off every writer of the two tables until commit:
  // nothing is counted twice or missed. (The backfill's rows are dated a minute back so that
  // they are never taken for a send's last-minute rate.)
  await sql`
    INSERT INTO subscription_counts (list_id, status, cadence, paused, n)
    SELECT list_id, status, cadence, paused, count(*) FROM subscriptions GROUP BY 1, 2, 3, 4`.execute(db);
  await sql`
    INSERT INTO delivery_counts (send_id, status, n, at)
    SELECT send_id, status, count(*), now() - interval '1 minute' FROM deliveries GROUP BY 1, 2`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['insert', 'update', 'delete', 'truncate']) {
    await sql.raw(`DROP TRIGGER subscription_counts_${t} ON subscriptions`).execute(db);
    await sql.raw(`DROP TRIGGER delivery_counts_${t} ON deliveries`).execute(db);
  }
  await sql`DROP FUNCTION subscription_counts_apply(), subscription_counts_truncate(), delivery_counts_apply(), delivery_counts_truncate()`.execute(db);
  await sql`DROP TABLE subscription_counts, delivery_counts`.execute(db);
}
