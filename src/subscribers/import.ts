import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Cadence, SubscriptionStatus } from '../db/schema';
import { AppError } from '../errors';
import { getListBySlug } from '../lists/repository';
import type { Queues } from '../queues';
import { emailHash } from './repository';
import { enqueueConfirmation } from './system-mail';
import { isValidAddress, NAME_MAX } from './address';

/**
 * `broadsheet subscribers import` and POST /api/v1/lists/:slug/subscribers/import.
 *
 * The file is read as a stream and written in batches, each batch in its own transaction, so
 * that a million rows never sit in memory and a failure keeps what was committed before it.
 * Running the same file again changes nothing: every decision compares the row with what is
 * stored, and only real changes are written and logged.
 *
 * What an import may and may not do to a subscription:
 *  - a new address gets a subscription: `active` with --confirmed (the editor vouches for the
 *    consent), otherwise `pending` with a confirmation email; a `status` column of
 *    unsubscribed / bounced / complained is stored as such (importing a suppression list);
 *  - it never re-activates an unsubscribed, bounced or complained subscription, and never
 *    brings back an address erased by `forget` (only its hash is left, in forgotten_emails);
 *  - it may move a pending subscription to active (--confirmed), or any subscription to a
 *    suppressed status (that only ever means less mail), and change the cadence;
 *  - it never demotes an active subscription to pending and never re-sends a confirmation;
 *  - it fills in a subscriber's name only where none is stored: a name the reader set on
 *    the preference page wins over the editor's file.
 */

export interface ImportOptions {
  /** The editor vouches for consent: new subscriptions are active, without an opt-in email. */
  confirmed?: boolean;
  /** Called after every batch: bytes read from the input so far, data rows seen. */
  onProgress?: (progress: { bytes: number; rows: number }) => void;
  /** Refuse an input larger than this many bytes (the admin API's limit). */
  maxBytes?: number;
  /** Rows per transaction. */
  batchSize?: number;
}

export interface ImportLine {
  line: number;
  reason: string;
}

export type SkipReason = 'unsubscribed' | 'bounced' | 'complained' | 'forgotten' | 'concurrent';

export interface ImportReport {
  /** Named in the data of every 'imported' event this run wrote. */
  importId: string;
  list: string;
  /** Data rows read (the header and empty lines are not rows). */
  rows: number;
  /** New subscriptions. */
  imported: number;
  /** Existing subscriptions this file changed (status, cadence or a missing name). */
  updated: number;
  /** Existing subscriptions the file agrees with. */
  unchanged: number;
  skipped: number;
  skippedReasons: Partial<Record<SkipReason, number>>;
  /** The first MAX_REPORTED_LINES skipped lines; `skipped` has the full count. */
  skippedLines: ImportLine[];
  bad: number;
  /** The first MAX_REPORTED_LINES bad lines; `bad` has the full count. */
  badLines: ImportLine[];
  confirmationsQueued: number;
  /** Header columns this import does not use (created_at and confirmed_at from an export, say). */
  ignoredColumns: string[];
  /** Set when the file could not be read to its end: lines before `line` were imported. */
  stopped?: { line: number; message: string };
}

/** Enough lines for the editor to see the pattern; bounded so a broken file cannot fill memory. */
export const MAX_REPORTED_LINES = 1000;

export const SKIP_REASON_TEXT: Record<SkipReason, string> = {
  unsubscribed: 'unsubscribed earlier; an import never re-subscribes anyone',
  bounced: 'bounced earlier; an import never re-subscribes anyone',
  complained: 'marked our mail as spam earlier; an import never re-subscribes anyone',
  forgotten: 'erased at their request (subscribers forget); never imported again',
  concurrent: 'changed by someone else while the import ran; left as it is',
};

const COLUMNS = ['email', 'name', 'cadence', 'status'] as const;
type Column = (typeof COLUMNS)[number];
const STATUSES: readonly SubscriptionStatus[] = ['pending', 'active', 'unsubscribed', 'bounced', 'complained'];
const CADENCES: readonly Cadence[] = ['weekly', 'monthly'];
const SUPPRESSED: ReadonlySet<SubscriptionStatus> = new Set(['unsubscribed', 'bounced', 'complained']);
/** A subscriber row is well under 1 KB; a field without its closing quote would otherwise buffer the rest of the file. */
const MAX_RECORD_BYTES = 64 * 1024;

/** One valid row of the file. */
export interface ImportRow {
  line: number;
  email: string;
  /** lower(email): what uniqueness is decided on, as the subscribers index does. */
  key: string;
  name: string;
  cadence: Cadence | undefined;
  status: SubscriptionStatus | undefined;
}

type ColumnIndex = Partial<Record<Column, number>>;

function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? value.slice(0, 80) + '…' : value);
}

/** Reverses the export's guard against spreadsheet formulas ("'=…"), so an export re-imports as it was. */
function unescapeFormula(name: string): string {
  return /^'[=+\-@\t\r]/.test(name) ? name.slice(1) : name;
}

/** Checks one data record against the header; a reason string for a bad row. */
export function readRow(fields: string[], columns: ColumnIndex, headerLength: number, line: number): ImportRow | string {
  // More fields than columns usually means an unquoted comma in a name: the values would land
  // in the wrong columns, so the row is refused rather than guessed at. Fewer is fine: missing
  // trailing columns are empty.
  if (fields.length > headerLength) return `${fields.length} fields where the header has ${headerLength} (a comma in a name needs quotes)`;
  const field = (c: Column) => {
    const i = columns[c];
    return i === undefined ? '' : (fields[i] ?? '').trim();
  };
  const email = field('email');
  if (email === '') return 'missing email';
  if (!isValidAddress(email)) return `invalid email ${shown(email)}`;

  const cadenceText = field('cadence').toLowerCase();
  const cadence = cadenceText === '' ? undefined : CADENCES.find((c) => c === cadenceText);
  if (cadenceText !== '' && !cadence) return `unknown cadence ${shown(field('cadence'))} (weekly or monthly)`;

  const statusText = field('status').toLowerCase();
  const status = statusText === '' ? undefined : STATUSES.find((s) => s === statusText);
  if (statusText !== '' && !status) return `unknown status ${shown(field('status'))} (${STATUSES.join(', ')})`;

  // Line breaks inside a quoted name and runs of spaces become one space; control characters go.
  const name = unescapeFormula(field('name'))
    .replace(/[\u0000-\u0008\u000e-\u001f\u007f]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  if (name.length > NAME_MAX) return `name longer than ${NAME_MAX} characters`;

  return { line, email, key: email.toLowerCase(), name, cadence, status };
}

export type RowPlan =
  | { kind: 'insert'; status: SubscriptionStatus; cadence: Cadence }
  | { kind: 'update'; status: SubscriptionStatus; cadence: Cadence; from: SubscriptionStatus }
  | { kind: 'unchanged' }
  | { kind: 'skip'; reason: SkipReason };

/** The status a row asks for: as written for pending and the suppressed ones; active only with --confirmed. */
export function requestedStatus(status: SubscriptionStatus | undefined, confirmed: boolean): SubscriptionStatus {
  if (status && status !== 'active') return status;
  return confirmed ? 'active' : 'pending';
}

/** What to do with one row given the subscription stored for it, if any (see the rules at the top). */
export function planRow(
  existing: { status: SubscriptionStatus; cadence: Cadence } | undefined,
  row: Pick<ImportRow, 'status' | 'cadence'>,
  confirmed: boolean,
): RowPlan {
  const wanted = requestedStatus(row.status, confirmed);
  if (!existing) return { kind: 'insert', status: wanted, cadence: row.cadence ?? 'weekly' };
  if (SUPPRESSED.has(existing.status)) {
    // Already receiving nothing: a file saying so again is no change, and the first reason stays.
    if (SUPPRESSED.has(wanted)) return { kind: 'unchanged' };
    return { kind: 'skip', reason: existing.status as SkipReason };
  }
  let status = existing.status;
  if (SUPPRESSED.has(wanted) || wanted === 'active') status = wanted;
  const cadence = row.cadence ?? existing.cadence;
  if (status === existing.status && cadence === existing.cadence) return { kind: 'unchanged' };
  return { kind: 'update', status, cadence, from: existing.status };
}

/** Line breaks in a record's raw text: CRLF, LF and a lone CR each count once. */
function lineBreaks(raw: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13) {
      n++;
      if (raw.charCodeAt(i + 1) === 10) i++;
    }
  }
  return n;
}

interface ParsedRecord {
  record: string[];
  raw: string;
}

/**
 * Imports the CSV in `input` into the list `listSlug`. User errors that stop the import before
 * it starts (no such list, no header) are thrown as AppError; a malformed quote that makes the
 * rest of the file unreadable ends it with `stopped` set, after the rows before it are stored.
 * The input is not destroyed when the import stops early (an HTTP request must still be answered).
 */
export async function importSubscribers(
  db: Db,
  queues: Queues,
  listSlug: string,
  input: Readable,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const list = await getListBySlug(db, listSlug);
  const confirmed = options.confirmed ?? false;
  const batchSize = options.batchSize ?? 1000;
  const report: ImportReport = {
    importId: randomUUID(),
    list: list.slug,
    rows: 0,
    imported: 0,
    updated: 0,
    unchanged: 0,
    skipped: 0,
    skippedReasons: {},
    skippedLines: [],
    bad: 0,
    badLines: [],
    confirmationsQueued: 0,
    ignoredColumns: [],
  };
  const badLine = (line: number, reason: string) => {
    report.bad++;
    if (report.badLines.length < MAX_REPORTED_LINES) report.badLines.push({ line, reason });
  };
  const skipLine = (line: number, reason: SkipReason) => {
    report.skipped++;
    report.skippedReasons[reason] = (report.skippedReasons[reason] ?? 0) + 1;
    if (report.skippedLines.length < MAX_REPORTED_LINES) report.skippedLines.push({ line, reason: SKIP_REASON_TEXT[reason] });
  };

  // The parser is fed one chunk at a time and hands its records over synchronously
  // (on_record), instead of being read as a stream: a stream that fails drops the records it
  // had parsed but not yet handed out, and the rows before a malformed quote must be kept.
  // Reading the next chunk only after the records of this one are stored is the backpressure.
  const parsed: ParsedRecord[] = [];
  const parser = parse({
    bom: true,
    raw: true,
    // Quotes inside an unquoted field (O"Brien) are kept rather than failing the whole file.
    relax_quotes: true,
    relax_column_count: true,
    max_record_size: MAX_RECORD_BYTES,
    // Empty lines still count for line numbers, so they come through and are dropped below.
    skip_empty_lines: false,
    on_record: (record) => {
      parsed.push(record as unknown as ParsedRecord);
      return undefined;
    },
  });
  parser.on('error', () => {}); // read from parser.errored below
  parser.resume();

  let bytes = 0;
  // csv-parse's own line count is off after a quoted CRLF, so lines are counted here from
  // each record's raw text: a record starts on the line after the previous one ended.
  let nextLine = 1;
  let columns: ColumnIndex | undefined;
  let headerLength = 0;
  let batch: ImportRow[] = [];
  // Duplicates inside the current batch; earlier batches are checked in the database (import_seen).
  let batchKeys = new Map<string, number>();

  // One batch is written while the next one is parsed: the parsing and the database work then
  // use a core each. Writes stay in file order, one at a time, on the one connection.
  let writing: Promise<void> = Promise.resolve();
  const write = async (conn: Db, rows: ImportRow[]) => {
    const pending = await writeBatch(conn, list.id, rows, confirmed, report, { badLine, skipLine });
    if (pending.length > 0) {
      await enqueueConfirmations(queues, pending);
      report.confirmationsQueued += pending.length;
    }
    options.onProgress?.({ bytes, rows: report.rows });
  };
  const flush = async (conn: Db) => {
    await writing;
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    batchKeys = new Map();
    writing = write(conn, rows);
    // Awaited by the next flush; until then a failure must not count as unhandled.
    writing.catch(() => {});
  };

  const take = async (conn: Db) => {
    for (const { record, raw } of parsed.splice(0)) {
      const line = nextLine;
      nextLine += lineBreaks(raw);
      if (record.every((f) => f.trim() === '')) continue;
      if (!columns) {
        ({ columns, headerLength } = readHeader(record, line, report));
        continue;
      }
      report.rows++;
      const row = readRow(record, columns, headerLength, line);
      if (typeof row === 'string') {
        badLine(line, row);
        continue;
      }
      const first = batchKeys.get(row.key);
      if (first !== undefined) {
        badLine(line, `duplicate of line ${first} (${shown(row.email)})`);
        continue;
      }
      batchKeys.set(row.key, row.line);
      batch.push(row);
      if (batch.length >= batchSize) await flush(conn);
    }
  };

  const finish = async (conn: Db): Promise<ImportReport> => {
    await flush(conn);
    await writing;
    // Batches are written sorted by address; the editor reads the lines in file order.
    report.badLines.sort((a, b) => a.line - b.line);
    report.skippedLines.sort((a, b) => a.line - b.line);
    return report;
  };

  // One connection for the whole import: the temporary table of addresses seen so far lives
  // in its session, so duplicates across a million rows are found without holding them in memory.
  return db.connection().execute(async (conn) => {
    await sql`DROP TABLE IF EXISTS pg_temp.import_seen`.execute(conn);
    await sql`CREATE TEMPORARY TABLE import_seen (key text PRIMARY KEY, line integer NOT NULL)`.execute(conn);
    try {
      let tooLarge = false;
      for await (const chunk of input.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer | string>) {
        bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
        if (options.maxBytes !== undefined && bytes > options.maxBytes) {
          tooLarge = true;
          break;
        }
        parser.write(chunk);
        await take(conn);
        if (parser.errored) break;
      }
      if (tooLarge) {
        // The lines read so far are good rows: they stay, and the answer says so.
        await finish(conn);
        throw new AppError(
          'payload_too_large',
          `the CSV is larger than ${Math.round(options.maxBytes! / 1024 / 1024)} MB: stopped at line ${nextLine}; ` +
            'the lines before it were imported (split the file, or use the CLI)',
          report,
        );
      }
      if (!parser.errored) {
        // The last record may lack its line break: the parser hands it over when it ends.
        await new Promise<void>((resolve) => {
          parser.once('error', () => resolve());
          parser.end(() => resolve());
        });
        await take(conn);
      }
      const err = parser.errored;
      if (err) {
        if (!(err instanceof CsvError)) throw err;
        report.stopped = { line: nextLine, message: csvErrorMessage(err) };
        return finish(conn);
      }
      if (!columns) throw new AppError('invalid_input', `the file is empty: the first line must name the columns, like "${COLUMNS.join(',')}"`);
      return finish(conn);
    } finally {
      // A write still running when something else failed must end before the connection is released.
      await writing.catch(() => {});
      await sql`DROP TABLE IF EXISTS pg_temp.import_seen`.execute(conn);
    }
  });
}

function readHeader(record: string[], line: number, report: ImportReport): { columns: ColumnIndex; headerLength: number } {
  const names = record.map((f) => f.trim().toLowerCase());
  const columns: ColumnIndex = {};
  names.forEach((name, i) => {
    const known = COLUMNS.find((c) => c === name);
    if (!known) {
      report.ignoredColumns.push(name);
      return;
    }
    if (columns[known] !== undefined) throw new AppError('invalid_input', `line ${line}: the header names the column "${known}" twice`);
    columns[known] = i;
  });
  if (columns.email === undefined) {
    throw new AppError(
      'invalid_input',
      `missing header: line ${line} must name the columns, like "${COLUMNS.join(',')}" (found ${shown(record.join(','))})`,
    );
  }
  return { columns, headerLength: record.length };
}

function csvErrorMessage(err: CsvError): string {
  switch (err.code) {
    case 'CSV_MAX_RECORD_SIZE':
      return `a quoted field starting here is not closed (or the row is longer than ${MAX_RECORD_BYTES / 1024} KB); nothing after it was read`;
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field starting here is never closed; nothing after it was read';
    default:
      return `malformed CSV (${err.message.replace(/ at line \d+.*$/s, '')}); nothing after it was read`;
  }
}

interface SubscriberRow {
  id: string;
  key: string;
  name: string;
}

interface SubscriptionRow {
  id: string;
  subscriber_id: string;
  status: SubscriptionStatus;
  cadence: Cadence;
}

/**
 * Writes one batch of distinct, valid rows in one transaction and returns the ids of the new
 * pending subscriptions, whose confirmation email is queued after the commit (a job queued
 * before it could run before the row is visible and find nothing).
 */
async function writeBatch(
  conn: Db,
  listId: string,
  batchRows: ImportRow[],
  confirmed: boolean,
  report: ImportReport,
  note: { badLine(line: number, reason: string): void; skipLine(line: number, reason: SkipReason): void },
): Promise<string[]> {
  // Sorted, so that two imports touching the same addresses take their row locks in the same
  // order and cannot deadlock.
  const rows = [...batchRows].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  return conn.transaction().execute(async (trx) => {
    // Duplicates of rows in earlier batches of this file: the first occurrence counts.
    const firstSeen = await sql<{ key: string }>`
      INSERT INTO import_seen (key, line)
      SELECT * FROM unnest(${rows.map((r) => r.key)}::text[], ${rows.map((r) => r.line)}::int[])
      ON CONFLICT (key) DO NOTHING
      RETURNING key`.execute(trx);
    let unique = rows;
    if (firstSeen.rows.length < rows.length) {
      const fresh = new Set(firstSeen.rows.map((r) => r.key));
      const dupKeys = rows.filter((r) => !fresh.has(r.key)).map((r) => r.key);
      const earlier = await sql<{ key: string; line: number }>`
        SELECT key, line FROM import_seen WHERE key = ANY(${dupKeys}::text[])`.execute(trx);
      const lineOf = new Map(earlier.rows.map((r) => [r.key, r.line]));
      for (const r of rows) if (!fresh.has(r.key)) note.badLine(r.line, `duplicate of line ${lineOf.get(r.key)} (${shown(r.email)})`);
      unique = rows.filter((r) => fresh.has(r.key));
    }
    if (unique.length === 0) return [];

    const hashes = unique.map((r) => emailHash(r.email));
    const forgotten = await trx
      .selectFrom('forgotten_emails')
      .select('email_hash')
      .where('email_hash', 'in', hashes)
      .execute();
    if (forgotten.length > 0) {
      const gone = new Set(forgotten.map((f) => f.email_hash));
      unique = unique.filter((r, i) => {
        if (!gone.has(hashes[i]!)) return true;
        note.skipLine(r.line, 'forgotten');
        return false;
      });
      if (unique.length === 0) return [];
    }

    const keys = unique.map((r) => r.key);
    await sql`
      INSERT INTO subscribers (email, name)
      SELECT * FROM unnest(${unique.map((r) => r.email)}::text[], ${unique.map((r) => r.name)}::text[])
      ON CONFLICT ((lower(email))) DO NOTHING`.execute(trx);
    // The lookups below are written as one index probe per key (LATERAL … LIMIT 1) rather
    // than `= ANY(keys)`: on statistics left by a growing import, the planner priced 1000
    // probes above a scan of the whole table and took the scan for every batch, which made a
    // million-row import quadratic.
    const subscribers = await sql<SubscriberRow>`
      SELECT s.id, s.key, s.name FROM unnest(${keys}::text[]) AS k(key)
      CROSS JOIN LATERAL (SELECT id, lower(email) AS key, name FROM subscribers WHERE lower(email) = k.key LIMIT 1) s`.execute(trx);
    const subscriberByKey = new Map(subscribers.rows.map((s) => [s.key, s]));

    // FOR UPDATE: a reader unsubscribing in the middle of this transaction must not be
    // overwritten by a decision taken on the status read before it. Locked in id order, like
    // any other import would.
    const subscriberIds = subscribers.rows.map((s) => s.id).sort();
    const existing = await sql<SubscriptionRow>`
      SELECT s.id, s.subscriber_id, s.status, s.cadence FROM unnest(${subscriberIds}::uuid[]) AS k(id)
      CROSS JOIN LATERAL (
        SELECT id, subscriber_id, status, cadence FROM subscriptions
        WHERE list_id = ${listId} AND subscriber_id = k.id
        FOR UPDATE
      ) s`.execute(trx);
    const subscriptionBySubscriber = new Map(existing.rows.map((s) => [s.subscriber_id, s]));

    const inserts: Array<{ row: ImportRow; subscriberId: string; status: SubscriptionStatus; cadence: Cadence }> = [];
    const updates: Array<{ row: ImportRow; id: string; status: SubscriptionStatus; cadence: Cadence; from: SubscriptionStatus }> = [];
    const nameOnly: Array<{ row: ImportRow; id: string }> = [];
    const namesToFill: Array<{ id: string; name: string }> = [];

    for (const row of unique) {
      const subscriber = subscriberByKey.get(row.key);
      if (!subscriber) {
        note.skipLine(row.line, 'concurrent'); // forgotten between our insert and select
        continue;
      }
      const subscription = subscriptionBySubscriber.get(subscriber.id);
      const plan = planRow(subscription, row, confirmed);
      if (plan.kind === 'skip') {
        note.skipLine(row.line, plan.reason);
        continue;
      }
      const fillName = subscriber.name === '' && row.name !== '';
      if (fillName) namesToFill.push({ id: subscriber.id, name: row.name });
      if (plan.kind === 'insert') inserts.push({ row, subscriberId: subscriber.id, status: plan.status, cadence: plan.cadence });
      else if (plan.kind === 'update') updates.push({ row, id: subscription!.id, status: plan.status, cadence: plan.cadence, from: plan.from });
      else if (fillName) nameOnly.push({ row, id: subscription!.id });
      else report.unchanged++;
    }

    if (namesToFill.length > 0) {
      await sql`
        UPDATE subscribers s SET name = v.name
        FROM unnest(${namesToFill.map((n) => n.id)}::uuid[], ${namesToFill.map((n) => n.name)}::text[]) AS v(id, name)
        WHERE s.id = v.id AND s.name = ''`.execute(trx);
    }

    const events: Array<{ id: string; data: Record<string, unknown> }> = [];
    const pendingIds: string[] = [];

    if (inserts.length > 0) {
      const inserted = await sql<{ id: string; subscriber_id: string; status: SubscriptionStatus }>`
        INSERT INTO subscriptions (list_id, subscriber_id, status, cadence, consent_source, confirmed_at, unsubscribed_at)
        SELECT ${listId}, t.subscriber_id, t.status, t.cadence, 'import',
               CASE WHEN t.status = 'active' THEN now() END,
               CASE WHEN t.status = 'unsubscribed' THEN now() END
        FROM unnest(${inserts.map((i) => i.subscriberId)}::uuid[], ${inserts.map((i) => i.status)}::text[],
                    ${inserts.map((i) => i.cadence)}::text[]) AS t(subscriber_id, status, cadence)
        ON CONFLICT (list_id, subscriber_id) DO NOTHING
        RETURNING id, subscriber_id, status`.execute(trx);
      const idBySubscriber = new Map(inserted.rows.map((r) => [r.subscriber_id, r.id]));
      for (const i of inserts) {
        const id = idBySubscriber.get(i.subscriberId);
        if (!id) {
          note.skipLine(i.row.line, 'concurrent'); // subscribed through the form a moment ago
          continue;
        }
        report.imported++;
        events.push({ id, data: { import: report.importId, line: i.row.line, status: i.status, cadence: i.cadence } });
        if (i.status === 'pending') pendingIds.push(id);
      }
    }

    if (updates.length > 0) {
      await sql`
        UPDATE subscriptions s SET
          status = v.status,
          cadence = v.cadence,
          confirmed_at = CASE WHEN v.status = 'active' AND s.status <> 'active' THEN now() ELSE s.confirmed_at END,
          unsubscribed_at = CASE WHEN v.status = 'unsubscribed' THEN now() ELSE s.unsubscribed_at END,
          updated_at = now()
        FROM unnest(${updates.map((u) => u.id)}::uuid[], ${updates.map((u) => u.status)}::text[],
                    ${updates.map((u) => u.cadence)}::text[]) AS v(id, status, cadence)
        WHERE s.id = v.id`.execute(trx);
      for (const u of updates) {
        report.updated++;
        events.push({ id: u.id, data: { import: report.importId, line: u.row.line, status: u.status, cadence: u.cadence, from: u.from } });
      }
    }
    for (const n of nameOnly) {
      report.updated++;
      events.push({ id: n.id, data: { import: report.importId, line: n.row.line, name: 'filled in' } });
    }

    if (events.length > 0) {
      await sql`
        INSERT INTO subscription_events (subscription_id, type, data)
        SELECT t.id, 'imported', t.data::jsonb
        FROM unnest(${events.map((e) => e.id)}::uuid[], ${events.map((e) => JSON.stringify(e.data))}::text[]) AS t(id, data)`.execute(trx);
    }
    return pendingIds;
  });
}

/**
 * Queues the double opt-in email of each new pending subscription through the reader side's
 * `enqueueConfirmation` (what the job does is theirs). The adds of a batch go out together:
 * ioredis sends them down one connection without waiting for each answer.
 */
async function enqueueConfirmations(queues: Queues, subscriptionIds: string[]): Promise<void> {
  await Promise.all(subscriptionIds.map((id) => enqueueConfirmation(queues, id)));
}
