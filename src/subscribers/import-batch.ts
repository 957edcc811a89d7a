import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Cadence, SubscriptionStatus } from '../db/schema';
import { noteBad, noteSkipped, type ImportReport } from './import-report';
import { planRow, shown } from './import-rules';

/**
 * The last stage of an import: a batch of good rows, written with set-based SQL. The rows go
 * into a session-local staging table by `COPY … FROM STDIN` (one round trip, no per-row
 * statement), and everything after that is a handful of statements per batch, each over the
 * whole batch, in one transaction.
 *
 * Lock order, the same as every other writer (service.ts `lockOrFail`, forget's cascade):
 * subscribers before subscriptions, each set in id order, so no import deadlocks with a
 * reader's "delete me", a name change, or another import.
 */

/** A good row as staged: what the file asked for, decided before the database is asked. */
export interface StagedRow {
  line: number;
  email: string;
  name: string;
  cadence: Cadence | undefined;
  /** requestedStatus() of the row. */
  wanted: SubscriptionStatus;
  /** emailHash() of the address, to meet forgotten_emails. */
  hash: string;
}

/**
 * Staging tables in the session of `client`: the rows of the batch, and every address seen so
 * far in this file, so that duplicates across a million rows are found without holding them in
 * memory. Temporary tables: no WAL, gone with the session.
 */
export async function createStaging(client: PoolClient): Promise<void> {
  await dropStaging(client);
  await client.query(`CREATE TEMPORARY TABLE import_rows (
    line integer PRIMARY KEY, email text NOT NULL, name text NOT NULL, cadence text, wanted text NOT NULL, hash text NOT NULL)`);
  await client.query('CREATE TEMPORARY TABLE import_seen (key text PRIMARY KEY, line integer NOT NULL)');
}

export async function dropStaging(client: PoolClient): Promise<void> {
  await client.query('DROP TABLE IF EXISTS pg_temp.import_rows, pg_temp.import_seen');
}

/** COPY's text format: backslash, tab and line breaks escaped, \N for null. */
function copyText(value: string | undefined): string {
  if (value === undefined) return '\\N';
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!) : value;
}

async function stage(client: PoolClient, rows: StagedRow[]): Promise<void> {
  let text = '';
  for (const r of rows) {
    text += `${r.line}\t${copyText(r.email)}\t${copyText(r.name)}\t${copyText(r.cadence)}\t${r.wanted}\t${r.hash}\n`;
  }
  await pipeline(Readable.from([text]), client.query(copyFrom('COPY import_rows (line, email, name, cadence, wanted, hash) FROM STDIN')));
}

interface Existing {
  id: string;
  subscriber_id: string;
  status: SubscriptionStatus;
  cadence: Cadence;
}

/**
 * Writes one batch in one transaction and returns the ids of the new pending subscriptions,
 * whose confirmation emails are queued after the commit (a job queued before it could run
 * before the row is visible and find nothing).
 */
export async function writeBatch(
  client: PoolClient,
  listId: string,
  rows: StagedRow[],
  report: ImportReport,
): Promise<string[]> {
  await client.query('BEGIN');
  try {
    // A crash loses at most this batch, which a re-import writes again: no need to wait for
    // the disk at every commit of a million-row file.
    await client.query('SET LOCAL synchronous_commit = off');
    await client.query('TRUNCATE import_rows');
    await stage(client, rows);
    const pending = await apply(client, listId, rows, report);
    await client.query('COMMIT');
    return pending;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function apply(client: PoolClient, listId: string, rows: StagedRow[], report: ImportReport): Promise<string[]> {
  // The rows still in import_rows, by line: duplicates and forgotten addresses leave it.
  const staged = new Map(rows.map((r) => [r.line, r]));
  // Duplicates, within the batch or of an earlier one (import_seen): the first line counts.
  // Keys are lower(email), exactly as the subscribers index decides uniqueness.
  const dups = await client.query<{ line: number; email: string; first: number }>(`
    WITH keyed AS (SELECT line, email, lower(email) AS key FROM import_rows),
         firsts AS (SELECT DISTINCT ON (key) key, line FROM keyed ORDER BY key, line)
    SELECT k.line, k.email, coalesce(s.line, f.line) AS first
    FROM keyed k JOIN firsts f USING (key) LEFT JOIN import_seen s USING (key)
    WHERE s.key IS NOT NULL OR k.line <> f.line`);
  if (dups.rows.length > 0) {
    for (const d of dups.rows) {
      noteBad(report, d.line, `duplicate of line ${d.first} (${shown(d.email)})`);
      staged.delete(d.line);
    }
    await client.query('DELETE FROM import_rows WHERE line = ANY($1::int[])', [dups.rows.map((d) => d.line)]);
  }
  await client.query('INSERT INTO import_seen (key, line) SELECT lower(email), line FROM import_rows');

  // Erased at their request: only the hash is left, and it keeps them out.
  const forgotten = await client.query<{ line: number }>(
    'DELETE FROM import_rows r USING forgotten_emails f WHERE f.email_hash = r.hash RETURNING r.line',
  );
  for (const f of forgotten.rows) {
    noteSkipped(report, f.line, 'forgotten');
    staged.delete(f.line);
  }

  await client.query(`
    INSERT INTO subscribers (email, name) SELECT email, name FROM import_rows ORDER BY lower(email)
    ON CONFLICT ((lower(email))) DO NOTHING`);
  // Subscribers whose missing name this file may fill in, locked before any subscription.
  const fillable = await client.query<{ id: string }>(`
    SELECT p.id FROM subscribers p JOIN import_rows r ON lower(p.email) = lower(r.email)
    WHERE p.name = '' AND r.name <> '' ORDER BY p.id FOR UPDATE OF p`);
  // FOR UPDATE: a reader unsubscribing during this transaction must not be overwritten by a
  // decision taken on the status read before it.
  const existing = await client.query<Existing>(
    `SELECT s.id, s.subscriber_id, s.status, s.cadence
     FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id JOIN import_rows r ON lower(p.email) = lower(r.email)
     WHERE s.list_id = $1 ORDER BY s.id FOR UPDATE OF s`,
    [listId],
  );
  const subscriberOf = await client.query<{ line: number; id: string }>(
    'SELECT r.line, p.id FROM import_rows r JOIN subscribers p ON lower(p.email) = lower(r.email)',
  );

  const bySubscriber = new Map(existing.rows.map((s) => [s.subscriber_id, s]));
  const canFill = new Set(fillable.rows.map((f) => f.id));
  const inserts: Array<{ line: number; subscriberId: string; status: SubscriptionStatus; cadence: Cadence }> = [];
  const updates: Array<{ line: number; id: string; status: SubscriptionStatus; cadence: Cadence; from: SubscriptionStatus }> = [];
  const names: Array<{ id: string; name: string }> = [];
  const events: Array<{ id: string; data: Record<string, unknown> }> = [];
  for (const { line, id: subscriberId } of subscriberOf.rows) {
    const row = staged.get(line)!;
    staged.delete(line);
    const subscription = bySubscriber.get(subscriberId);
    const plan = planRow(subscription, row);
    if (plan.kind === 'skip') {
      noteSkipped(report, line, plan.reason);
      continue;
    }
    // A name the reader set on the preference page wins over the editor's file.
    const fill = canFill.has(subscriberId);
    if (fill) names.push({ id: subscriberId, name: row.name });
    if (plan.kind === 'insert') inserts.push({ line, subscriberId, status: plan.status, cadence: plan.cadence });
    else if (plan.kind === 'update') updates.push({ line, id: subscription!.id, status: plan.status, cadence: plan.cadence, from: plan.from });
    else if (fill) {
      report.updated++;
      events.push({ id: subscription!.id, data: { import: report.importId, line, name: 'filled in' } });
    } else report.unchanged++;
  }
  // Left without a subscriber: erased between the insert above and the select. The erasure wins.
  for (const line of staged.keys()) noteSkipped(report, line, 'concurrent');

  if (names.length > 0) {
    await client.query(
      `UPDATE subscribers p SET name = v.name FROM unnest($1::uuid[], $2::text[]) AS v(id, name) WHERE p.id = v.id AND p.name = ''`,
      [names.map((n) => n.id), names.map((n) => n.name)],
    );
  }

  const pending: string[] = [];
  if (inserts.length > 0) {
    // New subscriptions and their 'imported' events in one statement; what comes back is only
    // what the caller needs: the pending ones, and lines that someone else subscribed meanwhile.
    const result = await client.query<{ line: number; id: string | null }>(
      `WITH v AS (SELECT * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[]) AS v(subscriber_id, status, cadence, line)),
       ins AS (
         INSERT INTO subscriptions (list_id, subscriber_id, status, cadence, consent_source, confirmed_at, unsubscribed_at)
         SELECT $1, subscriber_id, status, cadence, 'import',
                CASE WHEN status = 'active' THEN now() END, CASE WHEN status = 'unsubscribed' THEN now() END
         FROM v ORDER BY subscriber_id
         ON CONFLICT (list_id, subscriber_id) DO NOTHING
         RETURNING id, subscriber_id, status, cadence),
       ev AS (
         INSERT INTO subscription_events (subscription_id, type, data)
         SELECT ins.id, 'imported', jsonb_build_object('import', $6::text, 'line', v.line, 'status', ins.status, 'cadence', ins.cadence)
         FROM ins JOIN v USING (subscriber_id))
       SELECT v.line, ins.id FROM v LEFT JOIN ins USING (subscriber_id) WHERE ins.id IS NULL OR ins.status = 'pending'`,
      [listId, inserts.map((i) => i.subscriberId), inserts.map((i) => i.status), inserts.map((i) => i.cadence), inserts.map((i) => i.line), report.importId],
    );
    let missed = 0;
    for (const r of result.rows) {
      if (r.id === null) {
        missed++;
        noteSkipped(report, r.line, 'concurrent'); // subscribed through the form a moment ago
      } else pending.push(r.id);
    }
    report.imported += inserts.length - missed;
  }

  if (updates.length > 0) {
    await client.query(
      `UPDATE subscriptions s SET
         status = v.status,
         cadence = v.cadence,
         confirmed_at = CASE WHEN v.status = 'active' AND s.status <> 'active' THEN now() ELSE s.confirmed_at END,
         unsubscribed_at = CASE WHEN v.status = 'unsubscribed' THEN now() ELSE s.unsubscribed_at END,
         updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(id, status, cadence)
       WHERE s.id = v.id`,
      [updates.map((u) => u.id), updates.map((u) => u.status), updates.map((u) => u.cadence)],
    );
    report.updated += updates.length;
    for (const u of updates) {
      events.push({ id: u.id, data: { import: report.importId, line: u.line, status: u.status, cadence: u.cadence, from: u.from } });
    }
  }

  if (events.length > 0) {
    await client.query(
      `INSERT INTO subscription_events (subscription_id, type, data)
       SELECT t.id, 'imported', t.data::jsonb FROM unnest($1::uuid[], $2::text[]) AS t(id, data)`,
      [events.map((e) => e.id), events.map((e) => JSON.stringify(e.data))],
    );
  }
  return pending;
}
