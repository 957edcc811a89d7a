import { CsvStop, csvRecords, type CsvRecord } from '../../../../src/subscribers/import/csv-records';

async function read(chunks: Array<string | Buffer>, maxRecordChars = 64 * 1024): Promise<CsvRecord[]> {
  const out: CsvRecord[] = [];
  for await (const records of csvRecords(chunks, { maxRecordChars })) out.push(...records);
  return out;
}

/** The text cut into pieces of `size` bytes: records, quotes, CRLFs and characters straddle them. */
function pieces(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

const FILE = '\uFEFFemail,name\r\na@x.org,"Multi\r\nline, ""quoted"""\r\n\r\n  ,  \r\nb@x.org,O"Brien\rc@x.org,李小龍\nd@x.org';

describe('csvRecords', () => {
  it('numbers each record by the line it starts on, whatever the line ends and the chunking', async () => {
    const expected = [
      { line: 1, fields: ['email', 'name'] },
      { line: 2, fields: ['a@x.org', 'Multi\r\nline, "quoted"'] },
      { line: 6, fields: ['b@x.org', 'O"Brien'] },
      { line: 7, fields: ['c@x.org', '李小龍'] },
      { line: 8, fields: ['d@x.org'] },
    ];
    expect(await read([FILE])).toEqual(expected);
    for (const size of [1, 2, 3, 7, 64]) expect(await read(pieces(FILE, size))).toEqual(expected);
  });

  it('stops at a quote that is never closed, on the line it opens, after the records before it', async () => {
    const seen: CsvRecord[] = [];
    const run = async () => {
      for await (const records of csvRecords(['email\nq1@x.org\n"q2@x.org\nq3@x.org\n'], { maxRecordChars: 1000 })) seen.push(...records);
    };
    await expect(run()).rejects.toEqual(new CsvStop(3, 'a quoted field starting here is never closed; nothing after it was read'));
    expect(seen.map((r) => r.line)).toEqual([1, 2]);
  });

  it('reports a record over the limit on its line and goes on at the next line, whatever the chunking', async () => {
    const long = 'x'.repeat(300);
    const file = `email,name\na@x.org,A\nb@x.org,${long}\r\nc@x.org,C\n"d@x.org,${long}\ne@x.org,E\nf@x.org,F`;
    const expected = [
      { line: 1, fields: ['email', 'name'] },
      { line: 2, fields: ['a@x.org', 'A'] },
      { line: 3, fields: [], problem: expect.stringMatching(/^longer than 0 KB/) },
      { line: 4, fields: ['c@x.org', 'C'] },
      // A quote never closed: the line it opens on is left out, the next ones are rows again.
      { line: 5, fields: [], problem: expect.stringMatching(/^longer than 0 KB .*is a quote never closed/) },
      { line: 6, fields: ['e@x.org', 'E'] },
      { line: 7, fields: ['f@x.org', 'F'] },
    ];
    expect(await read([file], 100)).toEqual(expected);
    for (const size of [1, 2, 7, 64, 150]) expect(await read(pieces(file, size), 100)).toEqual(expected);
  });

  it('reports a record with bytes that are not UTF-8 or a NUL by its line, and keeps a real U+FFFD', async () => {
    const file = Buffer.concat([
      Buffer.from('email,name\na@x.org,Zoë\nb@x.org,Zo'),
      Buffer.from([0xeb]), // Latin-1 ë
      Buffer.from('\nc@x.org,"Multi\nline ok"\nd@x.org,Nul\u0000Name\ne@x.org,\ufffd kept\nf@x.org,'),
      Buffer.from([0xed, 0xa0, 0x80]), // a surrogate, CESU-style: not UTF-8
      Buffer.from('\ng@x.org,end'),
      Buffer.from([0xe6, 0x9d]), // the file ends inside a character
    ]);
    const expected = [
      { line: 1, fields: ['email', 'name'] },
      { line: 2, fields: ['a@x.org', 'Zoë'] },
      { line: 3, fields: [], problem: expect.stringMatching(/^not valid UTF-8/) },
      { line: 4, fields: ['c@x.org', 'Multi\nline ok'] },
      { line: 6, fields: [], problem: expect.stringMatching(/^contains a NUL character/) },
      { line: 7, fields: ['e@x.org', '\ufffd kept'] },
      { line: 8, fields: [], problem: expect.stringMatching(/^not valid UTF-8/) },
      { line: 9, fields: [], problem: expect.stringMatching(/^not valid UTF-8/) },
    ];
    expect(await read([file])).toEqual(expected);
    const bytes = (size: number) => Array.from({ length: Math.ceil(file.length / size) }, (_, i) => file.subarray(i * size, (i + 1) * size));
    for (const size of [1, 2, 3, 5, 64]) expect(await read(bytes(size))).toEqual(expected);
  });

  // How fast (csv-parse took 45 s for these): `npm run bench:csv`, not a timed test here.
  it('goes through a million blank lines, handing out none of them, and gives the event loop turns meanwhile', async () => {
    const blank = Buffer.from('\n'.repeat(64 * 1024));
    const chunks = [Buffer.from('email\n'), ...Array.from({ length: 16 }, () => blank), Buffer.from('a@x.org\n')];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const records = await read(chunks);
    clearInterval(timer);
    expect(records).toEqual([
      { line: 1, fields: ['email'] },
      { line: 2 + 16 * 64 * 1024, fields: ['a@x.org'] },
    ]);
    expect(ticks).toBeGreaterThan(10);
  });

  it('scans a chunk as its records are read, and refuses to move on before they all are', async () => {
    const chunks = csvRecords(['email\na@x.org\nb@x.org\n', 'c@x.org\n'], { maxRecordChars: 1000 });
    const first = (await chunks.next()).value as Iterable<CsvRecord>;
    const iterator = first[Symbol.iterator]();
    expect(iterator.next().value).toEqual({ line: 1, fields: ['email'] });
    // The records after it are not made yet: the generator cannot know where the next chunk starts.
    await expect(chunks.next()).rejects.toThrow('the records of a chunk must all be read before the next chunk');
  });
});
