import { randomUUID } from 'node:crypto';
import type { SkipReason } from './rules';

/** What an import did, line by line where the editor has something to look at. */
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

export interface ImportLine {
  line: number;
  reason: string;
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

export function newReport(list: string): ImportReport {
  return {
    importId: randomUUID(),
    list,
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
}

export function noteBad(report: ImportReport, line: number, reason: string): void {
  report.bad++;
  if (report.badLines.length < MAX_REPORTED_LINES) report.badLines.push({ line, reason });
}

export function noteSkipped(report: ImportReport, line: number, reason: SkipReason): void {
  report.skipped++;
  report.skippedReasons[reason] = (report.skippedReasons[reason] ?? 0) + 1;
  if (report.skippedLines.length < MAX_REPORTED_LINES) report.skippedLines.push({ line, reason: SKIP_REASON_TEXT[reason] });
}

/** Batches note their lines in the order the database finds them; the editor reads them in file order. */
export function sortLines(report: ImportReport): ImportReport {
  report.badLines.sort((a, b) => a.line - b.line);
  report.skippedLines.sort((a, b) => a.line - b.line);
  return report;
}
