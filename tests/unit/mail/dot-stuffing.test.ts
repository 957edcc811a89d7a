import type DataStreamClass from 'nodemailer/lib/smtp-connection/data-stream';

// nodemailer's DataStream as it ships, from a module registry of its own (before our patch),
// and the patched one that the SMTP connections use.
let Pristine!: typeof DataStreamClass;
jest.isolateModules(() => {
  Pristine = require('nodemailer/lib/smtp-connection/data-stream');
});
const { dotStuff } = require('../../../src/mail/dot-stuffing') as typeof import('../../../src/mail/dot-stuffing');
const Patched = require('nodemailer/lib/smtp-connection/data-stream') as typeof DataStreamClass;

async function through(Stream: typeof DataStreamClass, chunks: Buffer[]): Promise<{ out: Buffer; inBytes: number; outBytes: number }> {
  const stream = new Stream();
  const parts: Buffer[] = [];
  stream.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject));
  // Written as the SMTP connection's pipe hands them over, one chunk a write (an empty one is
  // no write there either); Readable.from(…).pipe() did the same at many times the cost.
  for (const chunk of chunks) if (chunk.length > 0) stream.write(chunk);
  stream.end();
  await done;
  return { out: Buffer.concat(parts), inBytes: stream.inByteCount, outBytes: stream.outByteCount };
}

/** Random bytes rich in the ones that matter: CR, LF, dots, at chunk edges too. */
function randomMessage(seed: number): Buffer[] {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = [0x0d, 0x0a, 0x2e, 0x41, 0x20, 0xe4];
  const chunks: Buffer[] = [];
  const count = 1 + Math.floor(next() * 6);
  for (let c = 0; c < count; c++) {
    const len = Math.floor(next() * 40);
    chunks.push(Buffer.from(Array.from({ length: len }, () => alphabet[Math.floor(next() * alphabet.length)]!)));
  }
  return chunks;
}

test('the patch is installed on the class the SMTP connection uses', () => {
  expect(Patched).not.toBe(Pristine);
  expect(Patched.prototype._transform).not.toBe(Pristine.prototype._transform);
});

test('output and byte counts equal nodemailer’s own on 3,000 random messages split into random chunks', async () => {
  const counts: Array<{ seed: number; got: number[]; want: number[] }> = [];
  for (let seed = 1; seed <= 3000; seed++) {
    const chunks = randomMessage(seed);
    const [want, got] = await Promise.all([through(Pristine, chunks), through(Patched, chunks)]);
    if (!got.out.equals(want.out))
      throw new Error(
        `seed ${seed}: ${JSON.stringify(chunks.map((c) => c.toString('latin1')))} gave ${JSON.stringify(got.out.toString('latin1'))}, want ${JSON.stringify(want.out.toString('latin1'))}`,
      );
    // Compared here, one expect() at the end: 3,000 matcher calls were most of this test's time.
    if (got.inBytes !== want.inBytes || got.outBytes !== want.outBytes)
      counts.push({ seed, got: [got.inBytes, got.outBytes], want: [want.inBytes, want.outBytes] });
  }
  expect(counts).toEqual([]);
});

test('known cases: a leading dot, a dot after CRLF, bare CR and LF, a dot after a bare CR', () => {
  expect(dotStuff(Buffer.from('.a\r\n.b\r\nc'), false).toString()).toBe('..a\r\n..b\r\nc');
  expect(dotStuff(Buffer.from('a\nb\rc\r.d'), false).toString()).toBe('a\r\nb\r\nc\r\n..d');
  // Decided by the previous chunk's last byte.
  expect(dotStuff(Buffer.from('.x'), 0x0a).toString()).toBe('..x');
  expect(dotStuff(Buffer.from('.x'), 0x41).toString()).toBe('.x');
  expect(dotStuff(Buffer.from('\nx'), 0x0d).toString()).toBe('\nx');
  // Nothing to change: the same Buffer, not a copy.
  const clean = Buffer.from('Subject: hi\r\n\r\nbody . with dots.\r\n');
  expect(dotStuff(clean, false)).toBe(clean);
});
