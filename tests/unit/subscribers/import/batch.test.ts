import { StagedBatch, stagingLine } from '../../../../src/subscribers/import/batch';

describe('StagedBatch', () => {
  it('keeps every byte of its lines as it grows past its first megabyte, in any script', () => {
    const batch = new StagedBatch();
    const lines: string[] = [];
    for (let i = 0; i < 24_000; i++) {
      // About 60 bytes a line, a third of them in three-byte characters: the batch outgrows
      // its buffer in the middle of one.
      const line = `${i}\treader${i}@example.com\t机器学习周报 ${i}\tweekly\n`;
      lines.push(line);
      batch.add(line);
    }
    expect(batch.size).toBe(24_000);
    expect(batch.text().length).toBeGreaterThan(1 << 20);
    expect(batch.text().toString('utf8')).toBe(lines.join(''));
  });

  it('starts empty again after clear, and holds only the new lines', () => {
    const batch = new StagedBatch();
    batch.add('1\told\n');
    batch.clear().add('2\tnew\n');
    expect(batch.size).toBe(1);
    expect(batch.text().toString('utf8')).toBe('2\tnew\n');
  });
});

describe('stagingLine', () => {
  const row = { line: 7, email: 'ada@example.com', name: 'Ada\\Lovelace\tIII', cadence: undefined, status: undefined };

  it("writes COPY's text format: escaped backslashes and tabs, \\N for no cadence, the new row's status and cadence", () => {
    const fields = stagingLine(row, 'pending', 'h4sh').slice(0, -1).split('\t');
    expect(fields).toHaveLength(10);
    expect(fields.slice(0, 6)).toEqual(['7', 'ada@example.com', 'Ada\\\\Lovelace\\tIII', '\\N', 'pending', 'h4sh']);
    expect(fields.slice(8)).toEqual(['pending', 'weekly']);
    expect(
      stagingLine({ ...row, cadence: 'monthly' }, 'active', 'h')
        .split('\t')
        .slice(8),
    ).toEqual(['active', 'monthly\n']);
  });

  it('gives each row two new UUIDv7 ids, every one distinct and in the order they were made', () => {
    const ids = Array.from({ length: 20_000 }, () => stagingLine(row, 'active', 'h').split('\t').slice(6, 8)).flat();
    // Checked here and compared once: an expect() per id cost 40,000 matcher calls (seconds).
    const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(ids.filter((id) => !uuidV7.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});
