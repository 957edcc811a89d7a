import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient, QueryResult } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Cadence, SubscriptionStatus } from '../../db/schema';
import { noteBad, noteSkipped, type ImportReport } from './report';
import { planRow, shown, type ImportRow } from './rules';
import { timeOrderedId } from './time-ordered-id';

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

/**
 * Staging tables in the session of `client`: the rows of the batch, and every address seen so
 * far in this file, so that duplicates across a million rows are found without holding them in
 * memory. Temporary tables: no WAL, gone with the session. The batch tables empty themselves at
 * every commit (ON COMMIT DELETE ROWS), which costs less than a TRUNCATE per batch.
 *
 * Each row comes with the ids its subscriber and subscription get if they are new, made here
 * rather than by gen_random_uuid(): time-ordered ids (UUIDv7) land at the right-hand end of
 * every index keyed by them (the primary keys, subscriptions by subscriber, the events by
 * subscription), so a million inserts append to a few hot pages instead of dirtying random
 * pages of indexes larger than shared_buffers. Unused ids (rows whose address is known) cost
 * nothing.
 */
export async function createStaging(client: PoolClient): Promise<void> {
  await dropStaging(client);
  await client.query(`CREATE TEMPORARY TABLE import_rows (
    line integer NOT NULL, email text NOT NULL, name text NOT NULL, cadence text, wanted text NOT NULL, hash text NOT NULL,
    subscriber_id uuid NOT NULL, subscription_id uuid NOT NULL, new_status text NOT NULL, new_cadence text NOT NULL) ON COMMIT DELETE ROWS`);
  // The seen keys compare byte by byte (COLLATE "C"): equality is the same under every
  // deterministic collation, and a million index inserts need no locale-aware ordering.
  await client.query('CREATE TEMPORARY TABLE import_seen (key text COLLATE "C" PRIMARY KEY, line integer NOT NULL)');
  await client.query(`CREATE TEMPORARY TABLE import_new (
    subscriber_id uuid PRIMARY KEY, id uuid NOT NULL, line integer NOT NULL, status text NOT NULL, cadence text NOT NULL) ON COMMIT DELETE ROWS`);
}

export async function dropStaging(client: PoolClient): Promise<void> {
  await client.query('DROP TABLE IF EXISTS pg_temp.import_rows, pg_temp.import_seen, pg_temp.import_new');
}

/** COPY's text format: backslash, tab and line breaks escaped, \N for null. */
function copyValue(value: string | undefined): string {
  if (value === undefined) return '\\N';
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!) : value;
}

async function copyText(client: PoolClient, target: string, text: string | Buffer): Promise<void> {
  await pipeline(Readable.from([text]), client.query(copyFrom(`COPY ${target} FROM STDIN`)));
}

/**
 * A batch as it waits for its turn: its rows' lines for import_rows in COPY's text format,
 * encoded as they are read into memory outside the V8 heap. Nothing of a row stays in the
 * heap: a batch lives across many collections of the young generation while the one before it
 * is written, so whatever it held there (the rows, or the strings of their lines, each a tree
 * of the pieces it was concatenated from) was promoted to the old generation, a kilobyte a
 * row, and that garbage was most of the import's memory.
 */
export class StagedBatch {
  private bytes = Buffer.allocUnsafe(1 << 20);
  private length = 0;
  /** Rows in the batch. */
  size = 0;

  /** Adds a row's line (stagingLine). */
  add(line: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: room for that, without measuring the line.
    if (this.length + 3 * line.length > this.bytes.length) {
      const grown = Buffer.allocUnsafe(2 * this.bytes.length + 3 * line.length);
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    this.length += this.bytes.write(line, this.length);
    this.size++;
  }

  /** Empties the batch for the next rows, keeping its memory. */
  clear(): this {
    this.length = 0;
    this.size = 0;
    return this;
  }

  /** The lines, as COPY reads them. */
  text(): Buffer {
    return this.bytes.subarray(0, this.length);
  }
}

/**
 * A good row's line for import_rows: the row, the status it asks for (requestedStatus), the
 * hash of its address to meet forgotten_emails (emailHash), the ids its subscriber and
 * subscription get if its address is new and what it does then (planRow's rule, decided here
 * so that the database writes new rows without asking). Made while the file is read, so that
 * the database does not wait for a batch's text between two batches.
 */
export function stagingLine(row: ImportRow, wanted: SubscriptionStatus, hash: string): string {
  const plan = planRow(undefined, { wanted, cadence: row.cadence }) as { status: SubscriptionStatus; cadence: Cadence };
  return (
    `${row.line}\t${copyValue(row.email)}\t${copyValue(row.name)}\t${row.cadence ?? '\\N'}\t${wanted}\t${hash}\t` +
    `${timeOrderedId()}\t${timeOrderedId()}\t${plan.status}\t${plan.cadence}\n`
  );
}

/**
 * Locks rows by id in id order, one index probe each (see the probes in apply), and returns
 * the locked rows' `columns`: those still there.
 */
async function lockRows<T extends object>(client: PoolClient, table: 'subscribers' | 'subscriptions', ids: string[], columns: string): Promise<T[]> {
  if (ids.length === 0) return [];
  const { rows } = await client.query<T>(
    `SELECT t.* FROM unnest($1::uuid[]) AS k(id) CROSS JOIN LATERAL (SELECT ${columns} FROM ${table} WHERE id = k.id FOR UPDATE) t`,
    [[...ids].sort()],
  );
  return rows;
}

/** A row's subscriber, and its subscription on the list if it has one. */
interface Resolved {
  line: number;
  subscriber_id: string;
  /** The stored name is empty and the row has one. */
  fillable: boolean;
  subscription_id: string | null;
}

/** What import_rows holds of a row that planRow and the name rule read. */
interface Staged {
  name: string;
  cadence: Cadence | null;
  wanted: SubscriptionStatus;
  /** The id its subscription gets if it is new to the list. */
  new_id: string;
}

interface Existing {
  id: string;
  subscriber_id: string;
  status: SubscriptionStatus;
  cadence: Cadence;
}

/**
 * What every import transaction sets for itself (per transaction: the connection goes back to
 * the pool unchanged). A crash loses at most the last batches committed, which a re-import
 * writes again (it is idempotent): no need to wait for the disk at every commit of a
 * million-row file. JIT compiling cost ~100 ms a statement and saved nothing on these plans
 * (they probe indexes and insert, they do not crunch expressions). A batch's sorts (by key,
 * by id) take a few MB more than the default work_mem and spilled to disk without this.
 */
const BATCH_SETTINGS = "SET LOCAL synchronous_commit = off; SET LOCAL jit = off; SET LOCAL work_mem = '64MB'";

/**
 * Writes one batch in one transaction and returns the ids of the new pending subscriptions,
 * whose confirmation emails are queued after the commit (a job queued before it could run
 * before the row is visible and find nothing).
 *
 * Round trips are few (begin, COPY, one multi-statement query for duplicates, forgotten
 * addresses and new addresses, commit): the same thread that waits for their answers parses
 * the next batch, and every answer waits for it to yield.
 */
export async function writeBatch(client: PoolClient, listId: string, batch: StagedBatch, report: ImportReport, analyze: boolean): Promise<string[]> {
  await client.query(`BEGIN; ${BATCH_SETTINGS}`);
  try {
    await copyText(client, 'import_rows (line, email, name, cadence, wanted, hash, subscriber_id, subscription_id, new_status, new_cadence)', batch.text());
    const pending = await apply(client, listId, batch.size, report, analyze);
    await client.query('COMMIT');
    return pending;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function apply(client: PoolClient, listId: string, size: number, report: ImportReport, analyze: boolean): Promise<string[]> {
  // One simple-protocol query of four statements, so without bind parameters: the list id and
  // the import id are uuids this process made or read, quoted as literals.
  const results = (await client.query(
    [
      // Temporary tables are never analyzed by autovacuum: without this the planner guesses the
      // batch's size, and a wrong guess turned the joins below into scans of whole tables. Once
      // is enough: the commit empties the table but keeps its statistics, and the planner scales
      // their rows per page by the pages the next batch fills (every batch looks alike).
      analyze ? 'ANALYZE import_rows' : 'SELECT',
      // Duplicates, within the batch or of an earlier one (import_seen): the first line counts.
      // Keys are lower(email), exactly as the subscribers index decides uniqueness. The rest of
      // the batch is remembered for the batches after it, in the same statement.
      `WITH d AS (
         DELETE FROM import_rows r USING (
           SELECT line, first FROM (
             SELECT line,
                    coalesce((SELECT s.line FROM import_seen s WHERE s.key = lower(r.email)), min(line) OVER (PARTITION BY lower(email))) AS first
             FROM import_rows r) f
           WHERE first <> line) f
         WHERE r.line = f.line
         RETURNING r.line, r.email, f.first),
       seen AS (
         INSERT INTO import_seen (key, line) SELECT lower(email), line FROM import_rows WHERE line NOT IN (SELECT line FROM d))
       SELECT line, email, first FROM d`,
      // Erased at their request: only the hash is left, and it keeps them out.
      'DELETE FROM import_rows r USING forgotten_emails f WHERE f.email_hash = r.hash RETURNING r.line',
      // New addresses: the subscriber, its subscription and the 'imported' event, with the ids
      // made for them in writeBatch. Their rows leave import_rows, so that only the addresses
      // already known are looked up afterwards. A new subscriber cannot have a subscription yet
      // (no one else sees it before the commit), so that insert needs no ON CONFLICT; the
      // subscriber's does, for an address someone subscribes meanwhile.
      `WITH p AS (
         INSERT INTO subscribers (id, email, name) SELECT subscriber_id, email, name FROM import_rows ORDER BY subscriber_id
         ON CONFLICT ((lower(email))) DO NOTHING RETURNING id),
       n AS (
         DELETE FROM import_rows r USING p WHERE r.subscriber_id = p.id
         RETURNING r.line, r.subscriber_id, r.subscription_id, r.new_status AS status, r.new_cadence AS cadence),
       s AS (
         INSERT INTO subscriptions (id, list_id, subscriber_id, status, cadence, consent_source, confirmed_at, unsubscribed_at)
         SELECT subscription_id, ${client.escapeLiteral(listId)}::uuid, subscriber_id, status, cadence, 'import',
                CASE WHEN status = 'active' THEN now() END, CASE WHEN status = 'unsubscribed' THEN now() END
         FROM n ORDER BY subscription_id),
       ev AS (
         INSERT INTO subscription_events (subscription_id, type, data)
         SELECT subscription_id, 'imported', jsonb_build_object('import', ${client.escapeLiteral(report.importId)}::text, 'line', line, 'status', status, 'cadence', cadence)
         FROM n ORDER BY subscription_id)
       SELECT count(*)::int AS imported, coalesce(array_agg(subscription_id) FILTER (WHERE status = 'pending'), '{}') AS pending FROM n`,
    ].join(';\n'),
  )) as unknown as [
    unknown,
    QueryResult<{ line: number; email: string; first: number }>,
    QueryResult<{ line: number }>,
    QueryResult<{ imported: number; pending: string[] }>,
  ];
  const [, dups, forgotten, created] = results;
  for (const d of dups.rows) noteBad(report, d.line, `duplicate of line ${d.first} (${shown(d.email)})`);
  for (const f of forgotten.rows) noteSkipped(report, f.line, 'forgotten');
  const { imported, pending } = created.rows[0]!;
  report.imported += imported;
  if (dups.rows.length + forgotten.rows.length + imported < size) {
    pending.push(...(await applyKnown(client, listId, report)));
  }
  return pending;
}

/** The rows left in import_rows: addresses with a subscriber already, on this list or another. */
async function applyKnown(client: PoolClient, listId: string, report: ImportReport): Promise<string[]> {
  // Each known address's subscriber and subscription, one index probe per row (a LATERAL …
  // LIMIT 1 is never turned into a join): on the statistics a growing import leaves behind,
  // the planner priced a scan of the whole list below a few thousand probes and took it for
  // every batch, which made a million-row import quadratic. A row without a subscriber was
  // erased between the insert above and the probe: the erasure wins.
  //
  // A row that asks for exactly what is stored (the status, the cadence or none, no name to
  // fill in) changes nothing, whatever planRow says of other rows: those are only counted, so
  // that re-importing a file brings back to this process only the rows that change (the rest
  // were a few MB a batch held across the round trips below, garbage promoted to the old
  // generation). They are read without a lock: a change the reader makes meanwhile stands
  // either way.
  const known = await client.query<{ unchanged: number; rows: Array<Resolved & Staged> }>(
    `WITH k AS (
       SELECT r.line, r.name, r.cadence, r.wanted, p.id AS subscriber_id, p.fillable,
              r.subscription_id AS new_id, s.id AS subscription_id,
              s.status = r.wanted AND (r.cadence IS NULL OR r.cadence = s.cadence) AND NOT p.fillable AS same
       FROM import_rows r
       LEFT JOIN LATERAL (SELECT id, name = '' AND r.name <> '' AS fillable FROM subscribers WHERE lower(email) = lower(r.email) LIMIT 1) p ON true
       LEFT JOIN LATERAL (SELECT id, status, cadence FROM subscriptions WHERE list_id = $1 AND subscriber_id = p.id LIMIT 1) s ON true)
     SELECT count(*) FILTER (WHERE same)::int AS unchanged,
            coalesce(json_agg(json_build_object('line', line, 'name', name, 'cadence', cadence, 'wanted', wanted, 'subscriber_id', subscriber_id,
                                                'fillable', fillable, 'new_id', new_id, 'subscription_id', subscription_id))
                       FILTER (WHERE same IS NOT TRUE), '[]') AS rows
     FROM k`,
    [listId],
  );
  const { unchanged, rows } = known.rows[0]!;
  report.unchanged += unchanged;
  const resolved: Array<Resolved & Staged> = [];
  for (const r of rows) {
    if (r.subscriber_id === null) noteSkipped(report, r.line, 'concurrent');
    else resolved.push(r);
  }
  // Locked before anything is decided, subscribers first: a reader unsubscribing or renaming
  // themselves during this transaction must not be overwritten by a decision taken on what was
  // read before it. The statuses come from these locked rows.
  const fillable = resolved.filter((r) => r.fillable).map((r) => r.subscriber_id);
  const canFill = new Set((await lockRows<{ id: string }>(client, 'subscribers', fillable, 'id')).map((r) => r.id));
  const locked = await lockRows<Existing>(
    client,
    'subscriptions',
    resolved.flatMap((r) => (r.subscription_id ? [r.subscription_id] : [])),
    'id, subscriber_id, status, cadence',
  );
  const bySubscriber = new Map(locked.map((s) => [s.subscriber_id, s]));

  const inserts: Array<{ line: number; id: string; subscriberId: string; status: SubscriptionStatus; cadence: Cadence }> = [];
  const updates: Array<{ line: number; id: string; status: SubscriptionStatus; cadence: Cadence; from: SubscriptionStatus }> = [];
  const names: Array<{ id: string; name: string }> = [];
  const events: Array<{ id: string; data: Record<string, unknown> }> = [];
  for (const row of resolved) {
    const { line, subscriber_id: subscriberId, subscription_id: subscriptionId, new_id: newId } = row;
    const subscription = bySubscriber.get(subscriberId);
    if (subscriptionId && !subscription) {
      noteSkipped(report, line, 'concurrent'); // erased between the probe and the lock
      continue;
    }
    const plan = planRow(subscription, { wanted: row.wanted, cadence: row.cadence ?? undefined });
    if (plan.kind === 'skip') {
      noteSkipped(report, line, plan.reason);
      continue;
    }
    // A name the reader set on the preference page wins over the editor's file.
    const fill = canFill.has(subscriberId);
    if (fill) names.push({ id: subscriberId, name: row.name });
    if (plan.kind === 'insert') inserts.push({ line, id: newId, subscriberId, status: plan.status, cadence: plan.cadence });
    else if (plan.kind === 'update') updates.push({ line, id: subscription!.id, status: plan.status, cadence: plan.cadence, from: plan.from });
    else if (fill) {
      report.updated++;
      events.push({ id: subscription!.id, data: { import: report.importId, line, name: 'filled in' } });
    } else report.unchanged++;
  }

  if (names.length > 0) {
    await client.query(`UPDATE subscribers p SET name = v.name FROM unnest($1::uuid[], $2::text[]) AS v(id, name) WHERE p.id = v.id AND p.name = ''`, [
      names.map((n) => n.id),
      names.map((n) => n.name),
    ]);
  }

  const pending: string[] = [];
  if (inserts.length > 0) {
    // Known subscribers new to this list, staged with their lines (import_new, keyed by
    // subscriber), so that their 'imported' events are written in the same statement by an
    // index lookup.
    await copyText(
      client,
      'import_new (subscriber_id, id, status, cadence, line)',
      inserts.map((i) => `${i.subscriberId}\t${i.id}\t${i.status}\t${i.cadence}\t${i.line}\n`).join(''),
    );
    const inserted = await client.query<{ id: string; subscriber_id: string; status: SubscriptionStatus }>(
      `WITH ins AS (
         INSERT INTO subscriptions (id, list_id, subscriber_id, status, cadence, consent_source, confirmed_at, unsubscribed_at)
         SELECT id, $1, subscriber_id, status, cadence, 'import',
                CASE WHEN status = 'active' THEN now() END, CASE WHEN status = 'unsubscribed' THEN now() END
         FROM import_new ORDER BY id
         ON CONFLICT (list_id, subscriber_id) DO NOTHING
         RETURNING id, subscriber_id, status, cadence),
       ev AS (
         INSERT INTO subscription_events (subscription_id, type, data)
         SELECT ins.id, 'imported', jsonb_build_object('import', $2::text, 'line', n.line, 'status', ins.status, 'cadence', ins.cadence)
         FROM ins JOIN import_new n USING (subscriber_id))
       SELECT id, subscriber_id, status FROM ins`,
      [listId, report.importId],
    );
    const done = new Set<string>();
    for (const r of inserted.rows) {
      done.add(r.subscriber_id);
      if (r.status === 'pending') pending.push(r.id);
    }
    report.imported += inserted.rows.length;
    // Not inserted: subscribed through the form a moment ago. Left as the reader made it.
    for (const i of inserts) if (!done.has(i.subscriberId)) noteSkipped(report, i.line, 'concurrent');
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
