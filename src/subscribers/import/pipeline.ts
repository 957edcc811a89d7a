import type { Readable } from 'node:stream';
import type { PoolClient } from 'pg';
import { rawClient, type Db } from '../../db/database';
import { AppError } from '../../errors';
import { getListBySlug } from '../../lists/repository';
import type { Queues } from '../../queues';
import { CsvStop, csvRecords } from './csv-records';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createStaging, dropStaging, StagedBatch, stagingLine, writeBatch } from './batch';
import { newReport, noteBad, sortLines, type ImportReport } from './report';
import { COLUMNS, partitionOf, readHeader, readRow, requestedStatus, type Header } from './rules';
import { emailHash } from '../repository';
import { enqueueConfirmations } from '../system-mail';

export { MAX_REPORTED_LINES, SKIP_REASON_TEXT, type ImportLine, type ImportReport } from './report';
export type { SkipReason } from './rules';

/**
 * `broadsheet subscribers import` and POST /api/v1/lists/:slug/subscribers/import, as a
 * pipeline of three stages:
 *
 *   CSV records with their line numbers (csv-records.ts)
 *     → one rule per row, the subscribe form's rules for addresses and names (rules.ts)
 *     → batches staged by COPY and written with set-based SQL (batch.ts)
 *
 * The file is streamed and written in batches, each in its own transaction, so a million rows
 * never sit in memory and a failure keeps what was committed before it. The rows are split
 * between connections by a hash of their address (partitionOf), each writing its own batches
 * in its own session while the next ones are read: one PostgreSQL backend writing new rows was
 * the limit, and two share that work. Every spelling of an address goes to one partition, so
 * its session sees all of them in file order (the first line wins) and two partitions never
 * write the same subscriber, so they never wait on each other's locks. Running the
 * same file again changes nothing: every decision compares the row with what is stored, and
 * only real changes are written and logged.
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
  /**
   * Rows per transaction, in each partition. With one connection 10,000 measured best for a
   * million rows (25,500 rows/s, against 22,700 at 20,000 and 18,600 at 5,000): larger batches
   * outgrew the session's 8 MB of temp_buffers, smaller ones cost more round trips. With two,
   * 5,000 each is as fast as 10,000 (the round trips overlap).
   */
  batchSize?: number;
  /**
   * Connections writing at once, each a partition of the addresses (partitionOf). One
   * PostgreSQL backend writing new rows was the limit (~38 µs of its CPU a row against ~15 µs
   * for the parsing); two share that work between two cores.
   */
  connections?: number;
}

/**
 * A subscriber row is well under 1 KB; a longer one is reported and left out, so that a field
 * without its closing quote does not buffer the rest of the file.
 */
const MAX_RECORD_CHARS = 64 * 1024;

/** Thrown inside the read loop when the input passes maxBytes. */
class TooLarge extends Error {}

/**
 * Imports the CSV in `input` into the list `listSlug`. User errors that stop the import before
 * it starts (no such list, no header) are thrown as AppError; a quote never closed before the
 * end of the file ends it with `stopped` set, after the rows before it are stored. A line that
 * is not UTF-8, holds a NUL or is over 64 KB is a bad line like any other: reported, left out.
 * The input is not destroyed when the import stops early (an HTTP request must still be answered).
 */
export async function importSubscribers(db: Db, queues: Queues, listSlug: string, input: Readable, options: ImportOptions = {}): Promise<ImportReport> {
  const list = await getListBySlug(db, listSlug);
  const confirmed = options.confirmed ?? false;
  const batchSize = options.batchSize ?? 5_000;
  const connections = Math.max(1, options.connections ?? 2);
  const report = newReport(list.slug);
  let bytes = 0;
  let lastLine = 0;

  // One connection a partition for the whole import: its staging tables live in its session.
  const partitions: Partition[] = [];
  let failure: { error: unknown } | undefined;
  const flush = async (part: Partition) => {
    await part.writing;
    if (part.batch.size === 0) return;
    const batch = part.batch;
    const analyze = !part.analyzed;
    part.analyzed = true;
    // The batch written before this one is done with (awaited above): it takes the next rows.
    part.batch = part.written.clear();
    part.written = batch;
    part.writing = writeBatch(part.client, list.id, batch, report, analyze).then(async (pending) => {
      // Queued after the commit, in bulk: one add a row cost 70 µs a row and held a batch's
      // worth of promises and timers.
      await enqueueConfirmations(queues, pending);
      report.confirmationsQueued += pending.length;
      options.onProgress?.({ bytes, rows: report.rows });
    });
    // A failed write stops the reading at its next row (the other partitions' writes finish
    // and stay committed, as every batch before a failure does). Until then it must not count
    // as unhandled.
    part.writing.catch((error: unknown) => {
      failure ??= { error };
    });
  };
  const flushAll = async () => {
    await Promise.all(partitions.map(flush));
    await Promise.all(partitions.map((p) => p.writing));
  };

  try {
    for (let i = 0; i < connections; i++) {
      partitions.push({ client: await rawClient(db), batch: new StagedBatch(), written: new StagedBatch(), writing: Promise.resolve(), analyzed: false });
      await createStaging(partitions[i]!.client);
    }
    let header: Header | undefined;
    const records = csvRecords(input.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer | string>, {
      maxRecordChars: MAX_RECORD_CHARS,
      onChunk: (size) => {
        bytes += size;
        if (options.maxBytes !== undefined && bytes > options.maxBytes) throw new TooLarge();
      },
    });
    try {
      for await (const chunk of records) {
        for (const { line, fields, problem } of chunk) {
          lastLine = line;
          if (!header) {
            if (problem) throw new AppError('invalid_input', `line ${line}, the header: ${problem.replace(/; the line was left out$/, '')}`);
            header = readHeader(fields, line);
            report.ignoredColumns = header.ignored;
            continue;
          }
          report.rows++;
          if (problem) {
            noteBad(report, line, problem);
            continue;
          }
          const row = readRow(fields, header, line);
          if (typeof row === 'string') {
            noteBad(report, line, row);
            continue;
          }
          if (failure) throw failure.error;
          const part = partitions[connections === 1 ? 0 : partitionOf(row.email, connections)]!;
          // No spread of the row into a new object here: on a million rows that one object cost
          // 4 s of CPU and fifteen more full collections (measured; V8's reasons are its own).
          part.batch.add(stagingLine(row, requestedStatus(row.status, confirmed), emailHash(row.email)));
          if (part.batch.size >= batchSize) await flush(part);
          // The answers of the batches being written wait for this loop to let go: a turn every
          // few hundred rows keeps the database from idling between its statements.
          else if (report.rows % 256 === 0) await nextTurn();
        }
      }
    } catch (err) {
      if (err instanceof CsvStop) report.stopped = { line: err.line, message: err.message };
      else if (err instanceof TooLarge) {
        // The lines read so far are good rows: they stay, and the answer says so.
        await flushAll();
        throw new AppError(
          'payload_too_large',
          `the CSV is larger than ${Math.round(options.maxBytes! / 1024 / 1024)} MB: stopped after line ${lastLine}; ` +
            'the lines before it were imported (split the file, or use the CLI)',
          sortLines(report),
        );
      } else throw err;
    }
    if (!header && !report.stopped) {
      throw new AppError('invalid_input', `the file is empty: the first line must name the columns, like "${COLUMNS.join(',')}"`);
    }
    await flushAll();
    return sortLines(report);
  } finally {
    // A write still running when something else failed must end before its connection goes back.
    for (const { client, writing } of partitions) {
      await writing.catch(() => {});
      try {
        await dropStaging(client);
        client.release();
      } catch (err) {
        client.release(err as Error);
      }
    }
  }
}

/** A connection of the import, the batch being read for it and the one it is writing. */
interface Partition {
  client: PoolClient;
  batch: StagedBatch;
  /** The batch it is writing or wrote last. */
  written: StagedBatch;
  writing: Promise<void>;
  /** Its staging table's statistics are taken (from its first batch). */
  analyzed: boolean;
}
