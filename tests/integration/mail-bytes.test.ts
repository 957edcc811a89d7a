import { sql } from 'kysely';
import { simpleParser } from 'mailparser';
import type { CapturedMail } from '../../src/mail/capture';
import { processSystemMailJob } from '../../src/system-mail/job';
import { allDefects, parseWithPython, type PythonView } from '../helpers/python-email';
import { importFixture, startSend, startWorld, waitForSendStatus, type World } from '../helpers/world';

/**
 * The bytes that reach the server, for newsletters and system mail, read back by Python's
 * `email` package (policy=default), an independent parser: no defects for a CJK sender, CJK
 * recipients and a 300-byte name, on a server that offers 8BITMIME and SMTPUTF8 and on one
 * that offers neither.
 */
const SENDER = '周报 Tokens <tokens@example.org>';
const LONG_NAME = '名'.repeat(100); // 300 octets
const PEOPLE = [
  { email: 'cjk@example.org', name: '王小明' },
  { email: 'long@example.org', name: LONG_NAME },
  { email: 'plain@example.org', name: 'Ann Reader' },
  { email: 'idn@例子.中国', name: '例子' },
  { email: '用户@example.org', name: '用户' },
];

async function seed(world: World): Promise<void> {
  await world.db.updateTable('lists').set({ from_address: SENDER, name: '机器学习 "Weekly" 周报' }).where('id', '=', world.list.id).execute();
  for (const p of PEOPLE) {
    await sql`
      WITH s AS (INSERT INTO subscribers (email, name) VALUES (${p.email}, ${p.name}) RETURNING id)
      INSERT INTO subscriptions (list_id, subscriber_id, status, cadence, excluded_sections, consent_source, confirmed_at)
      SELECT ${world.list.id}, id, 'active', 'weekly', '{}'::text[], 'test', now() FROM s
    `.execute(world.db);
  }
  const issue = await importFixture(world);
  await startSend(world, issue.slug);
  await waitForSendStatus(world.db, 'done');
}

/**
 * Messages by recipient. smtp-server (and mailparser) show an IDN address decoded back to
 * Unicode, so the punycode on the wire is checked in the raw To header.
 */
async function byRecipient(world: World): Promise<Map<string, CapturedMail>> {
  const out = new Map<string, CapturedMail>();
  for (const m of world.smtp.messages()) {
    out.set(m.envelope.to[0]!, m);
    const to = (await simpleParser(m.raw)).to;
    // mailparser reads the encoded words back exactly, long name included.
    if (m.envelope.to[0] === 'long@example.org') expect(to && 'value' in to ? to.value[0]!.name : '').toBe(LONG_NAME);
    if (m.envelope.to[0] === 'idn@例子.中国') expect(m.raw.toString('latin1')).toMatch(/(^|\r\n)To: [^\r]*<idn@xn--fsqu00a\.xn--fiqs8s>\r\n/);
  }
  return out;
}

/** The wire form of a recipient: IDN domains in punycode, the way the To header must carry them. */
function onTheWire(email: string): string {
  return email === 'idn@例子.中国' ? 'idn@xn--fsqu00a.xn--fiqs8s' : email;
}

/**
 * Python 3.11 keeps the white space between adjacent encoded words in a display name, which
 * RFC 2047 (6.2) says to drop: a 300-byte name has to be split into several encoded words
 * (75 characters at most each), so Python's reading is compared without white space, and
 * mailparser's exactly (mail-bytes checks both).
 */
function checkClean(view: PythonView, expected: { toName: string; toAddress: string }): void {
  // An address with a non-ASCII local part only goes to a server that offers SMTPUTF8, and
  // there it is written as UTF-8 (RFC 6532), which Python's default policy reports as such.
  const eai = [
    "To: NonASCIILocalPartDefect('local-part contains non-ASCII characters)')",
    "To: UndecodableBytesDefect('Non-ASCII characters found in header token')",
  ];
  expect(allDefects(view)).toEqual(/[^\x00-\x7f]@/.test(expected.toAddress) ? eai : []);
  expect(view.fromName).toBe('周报 Tokens');
  expect(view.fromAddress).toBe('tokens@example.org');
  expect(view.toName.replace(/\s+/g, '')).toBe(expected.toName.replace(/\s+/g, ''));
  // (Python's default policy reads header bytes as ASCII: an RFC 6532 address is not compared.)
  if (!/[^\x00-\x7f]@/.test(expected.toAddress)) expect(view.toAddress).toBe(expected.toAddress);
  // List-Id: only the phrase is encoded; the id filters match stays readable.
  expect(view.headers['List-Id']).toBe('机器学习 "Weekly" 周报 <ml-news.news.example.org>');
  expect(view.headers['Feedback-ID']).toMatch(/^[0-9a-f-]{36}:ml-news:broadsheet:news\.example\.org$/);
  expect(view.parts.map((p) => p.type)).toEqual(['text/plain', 'text/html']);
}

describe('a server that offers neither 8BITMIME nor SMTPUTF8', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld({ plainSmtp: true });
    await seed(world);
  }, 120_000);
  afterAll(() => world?.close());

  test('every newsletter is 7-bit, declared without BODY=8BITMIME, and decodes cleanly in Python', async () => {
    const got = await byRecipient(world);
    expect([...got.keys()].sort()).toEqual(['cjk@example.org', 'idn@例子.中国', 'long@example.org', 'plain@example.org']);
    const views = parseWithPython([...got.values()].map((m) => m.raw));
    const reference = await simpleParser(got.get('plain@example.org')!.raw);
    for (const [i, mail] of [...got.values()].entries()) {
      expect(mail.envelope.body).toBeUndefined();
      expect(mail.raw.filter((b) => b >= 0x80).length).toBe(0);
      for (const line of mail.raw.toString('latin1').split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
      const person = PEOPLE.find((p) => p.email === mail.envelope.to[0])!;
      const view = views[i]!;
      checkClean(view, { toName: person.name, toAddress: onTheWire(person.email) });
      for (const part of view.parts) expect(['quoted-printable', 'base64']).toContain(part.cte);
      // The CJK golden issue: base64 keeps the HTML near 4/3 of its size, under Gmail's clipping.
      expect(view.parts[1]!.encodedBytes).toBeLessThan(102 * 1024);
      // The decoded HTML is the same issue as the plain reader's, names apart.
      expect(view.parts[1]!.content.length).toBeGreaterThan(String(reference.html).length - 200);
    }
    expect(views.find((v) => v.toName === '王小明')!.parts[0]!.content).toContain('王小明');
  });

  test('an address with a non-ASCII local part is not sent, and the delivery says why', async () => {
    const row = await world.db
      .selectFrom('deliveries as d')
      .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .select(['d.status', 'd.smtp_response'])
      .where('p.email', '=', '用户@example.org')
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('failed');
    expect(row.smtp_response).toMatch(/non-ASCII local part.*SMTPUTF8/);
    expect(world.smtp.messages().some((m) => m.envelope.to.some((t) => t.startsWith('用户')))).toBe(false);
  });

  test('system mail goes through the same header code: clean in Python, 7-bit, no white-on-white preheader', async () => {
    world.smtp.clear();
    const sub = await world.db
      .selectFrom('subscriptions as s')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .select('s.id')
      .where('p.email', '=', 'long@example.org')
      .executeTakeFirstOrThrow();
    await world.db.updateTable('subscriptions').set({ status: 'pending' }).where('id', '=', sub.id).execute();
    expect(await processSystemMailJob({ db: world.db, config: world.config, mailer: world.mailer }, { kind: 'confirm', subscriptionId: sub.id })).toBe('sent');
    const [mail] = world.smtp.messages();
    expect(mail!.raw.filter((b) => b >= 0x80).length).toBe(0);
    const [view] = parseWithPython([mail!.raw]);
    expect(allDefects(view!)).toEqual([]);
    expect(view!.toName.replace(/\s+/g, '')).toBe(LONG_NAME);
    expect(view!.fromName).toBe('周报 Tokens');
    expect(view!.headers['List-Id']).toBe('机器学习 "Weekly" 周报 <ml-news.news.example.org>');
    const html = view!.parts.find((p) => p.type === 'text/html')!.content;
    expect(html).not.toMatch(/color:\s*#ffffff[^"]*display:\s*none|display:\s*none[^"]*color:\s*#ffffff/i);
    expect(html).toMatch(/display:none;font-size:1px/);
  });
});

describe('a server that offers 8BITMIME and SMTPUTF8', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await seed(world);
  }, 120_000);
  afterAll(() => world?.close());

  test('the HTML stays 8bit and under 102 KB for every recipient, a 300-byte name included; Python finds no defects', async () => {
    const got = await byRecipient(world);
    expect(got.size).toBe(5);
    const mails = [...got.values()];
    const views = parseWithPython(mails.map((m) => m.raw));
    const sizes: number[] = [];
    for (const [i, mail] of mails.entries()) {
      expect(mail.envelope.body).toBe('8BITMIME');
      const view = views[i]!;
      const person = PEOPLE.find((p) => p.email === mail.envelope.to[0])!;
      checkClean(view, { toName: person.name, toAddress: onTheWire(person.email) });
      expect(view.parts[1]!.cte).toBe('8bit');
      expect(view.parts[1]!.encodedBytes).toBeLessThan(102 * 1024);
      sizes.push(view.parts[1]!.encodedBytes);
    }
    // A long name adds its own length and a few comments, not a re-encoding of the whole part.
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThan(2000);
    expect(views.find((v) => v.toName.replace(/\s+/g, '') === LONG_NAME)!.parts[1]!.content.replace(/<!--\r?\n-->/g, '')).toContain(LONG_NAME);
  });
});
