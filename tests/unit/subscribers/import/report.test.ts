import { formatImportReport } from '../../../../src/cli/subscribers';
import { newReport, noteBad, noteSkipped } from '../../../../src/subscribers/import/report';

describe('formatImportReport', () => {
  it('a clean run: counts, then that the file was processed', () => {
    const report = { ...newReport('news'), rows: 1, imported: 1 };
    expect(formatImportReport(report, 'people.csv')).toEqual([
      'people.csv → list news: 1 row: imported 1, updated 0, unchanged 0, skipped 0, bad 0',
      'The file was processed.',
    ]);
  });

  it('counts first, then queued emails, ignored columns, skipped and bad lines by line, and what to do', () => {
    const report = { ...newReport('news'), rows: 6, imported: 2, unchanged: 1, confirmationsQueued: 2, ignoredColumns: ['created_at'] };
    noteSkipped(report, 5, 'unsubscribed');
    noteBad(report, 3, 'invalid email "foo"');
    noteBad(report, 4, 'missing email');
    expect(formatImportReport(report, 'people.csv')).toEqual([
      'people.csv → list news: 6 rows: imported 2, updated 0, unchanged 1, skipped 1, bad 2',
      'confirmation emails queued: 2 (new subscriptions stay pending until confirmed)',
      'ignored columns: created_at',
      'skipped 1: 1 unsubscribed earlier',
      '  line 5: skipped, unsubscribed earlier; an import never re-subscribes anyone',
      'bad 2:',
      '  line 3: invalid email "foo"',
      '  line 4: missing email',
      'The file was processed: the good rows are stored, the 2 bad lines above were left out. ' +
        'Fix them and import the file again; rows already imported will count as unchanged.',
    ]);
  });

  it('shows at most 50 lines of a kind, with how many more; a stopped file says where', () => {
    const report = { ...newReport('news'), rows: 80, stopped: { line: 82, message: 'a quoted field starting here is never closed' } };
    for (let line = 2; line < 82; line++) noteBad(report, line, 'missing email');
    const out = formatImportReport(report, 'f.csv');
    expect(out.filter((l) => l.startsWith('  line '))).toHaveLength(50);
    expect(out).toContain('  … and 30 more');
    expect(out.at(-1)).toBe('stopped at line 82: a quoted field starting here is never closed');
  });
});
