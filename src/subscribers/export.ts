import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Cadence, SubscriptionStatus } from '../db/schema';

/** The import's columns first, so that an export imports again as it is. */
export const EXPORT_COLUMNS = ['email', 'name', 'cadence', 'status', 'created_at', 'confirmed_at'] as const;

interface ExportRow {
  email: string;
  name: string;
  cadence: Cadence;
  status: SubscriptionStatus;
  created_at: Date;
  confirmed_at: Date | null;
}

/**
 * A spreadsheet runs a cell starting with = + - @ as a formula, and both names and addresses
 * come from the public subscribe form (`=1+2@example.com` is a valid address): a leading
 * apostrophe keeps them text. The import takes it off again (`unescapeFormula`).
 */
export function guardFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** Takes off what guardFormula added, so that an export imports again as it was. */
export function unescapeFormula(value: string): string {
  return /^'[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

function toCsv(rows: ExportRow[]): string {
  return stringify(
    rows.map((r) => [
      guardFormula(r.email),
      guardFormula(r.name),
      r.cadence,
      r.status,
      r.created_at.toISOString(),
      r.confirmed_at ? r.confirmed_at.toISOString() : '',
    ]),
  );
}

/**
 * Every subscription of a list, all statuses, oldest first, as CSV text (header first).
 *
 * Read through a server-side cursor, `pageSize` rows at a time and only as fast as the
 * consumer takes them (the Readable's backpressure), so a list of millions never sits in
 * memory. A cursor rather than keyset pages: it is one query with one plan and one snapshot,
 * where page queries planned on the statistics left by a fresh million-row import turned into
 * a scan of the rest of the list for every page. The cursor's transaction lasts as long as the
 * export; destroying the stream (a client that went away) ends it.
 */
export function exportSubscribers(db: Db, listId: string, pageSize = 1000): Readable {
  let stopped = false;
  let wake: (() => void) | undefined;
  const out = new Readable({
    read() {
      wake?.();
      wake = undefined;
    },
    destroy(err, callback) {
      stopped = true;
      wake?.();
      callback(err);
    },
  });

  db.transaction()
    .execute(async (trx) => {
      await sql`
        DECLARE subscribers_export NO SCROLL CURSOR FOR
        SELECT p.email, p.name, s.cadence, s.status, s.created_at, s.confirmed_at
        FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id
        WHERE s.list_id = ${listId}
        ORDER BY s.created_at, s.id`.execute(trx);
      out.push(stringify([EXPORT_COLUMNS as unknown as string[]]));
      while (!stopped) {
        const { rows } = await sql<ExportRow>`FETCH ${sql.raw(String(Math.trunc(pageSize)))} FROM subscribers_export`.execute(trx);
        if (rows.length === 0 || stopped) break;
        // Wait for the consumer before fetching more; `stopped` is checked in the same tick
        // as the push, so a destroy in between cannot leave this waiting forever.
        if (!out.push(toCsv(rows)) && !stopped) await new Promise<void>((resolve) => (wake = resolve));
      }
    })
    .then(
      () => {
        if (!stopped) out.push(null);
      },
      (err: unknown) => out.destroy(err as Error),
    );
  return out;
}
