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

/** Lines of each kind printed in the summary; the report holds more, the counts are exact. */
const SHOWN_LINES = 50;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The summary an editor reads after an import (the CLI prints it, the desk shows it): counts first, then the lines to look at. */
export function formatImportReport(report: ImportReport, source: string): string[] {
  const out = [
    `${source} → list ${report.list}: ${plural(report.rows, 'row')}: imported ${report.imported}, updated ${report.updated}, ` +
      `unchanged ${report.unchanged}, skipped ${report.skipped}, bad ${report.bad}`,
  ];
  if (report.confirmationsQueued > 0) out.push(`confirmation emails queued: ${report.confirmationsQueued} (new subscriptions stay pending until confirmed)`);
  if (report.ignoredColumns.length > 0) out.push(`ignored columns: ${report.ignoredColumns.join(', ')}`);

  const listLines = (lines: { line: number; reason: string }[], total: number, prefix: string) => {
    for (const l of lines.slice(0, SHOWN_LINES)) out.push(`  line ${l.line}: ${prefix}${l.reason}`);
    const shown = Math.min(lines.length, SHOWN_LINES);
    if (total > shown) out.push(`  … and ${total - shown} more`);
  };
  if (report.skipped > 0) {
    const reasons = Object.entries(report.skippedReasons).map(([k, n]) => `${n} ${SKIP_REASON_TEXT[k as SkipReason].split(';')[0]}`);
    out.push(`skipped ${report.skipped}: ${reasons.join(', ')}`);
    listLines(report.skippedLines, report.skipped, 'skipped, ');
  }
  if (report.bad > 0) {
    out.push(`bad ${report.bad}:`);
    listLines(report.badLines, report.bad, '');
  }
  if (report.stopped) {
    out.push(`stopped at line ${report.stopped.line}: ${report.stopped.message}`);
  } else if (report.bad > 0) {
    out.push(
      `The file was processed: the good rows are stored, the ${plural(report.bad, 'bad line')} above were left out. ` +
        'Fix them and import the file again; rows already imported will count as unchanged.',
    );
  } else {
    out.push('The file was processed.');
  }
  return out;
}
