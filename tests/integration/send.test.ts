import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { stableMessageId } from '../../src/mail/headers';
import { unsubscribe } from '../../src/subscribers/preferences';
import { addSubscribers, deliveryCounts, importFixture, receivedPerAddress, startSend, startWorld, waitForSendStatus, type World } from '../helpers/world';
import { eventually } from '../helpers/eventually';

jest.setTimeout(120_000);

// Small batches, so the send has many batch jobs (two run at once) as a large one has.
describe('a 200-recipient send of the golden issue, in batches of 25', () => {
  let world: World;
  let weekly: string[];
  let optedOut: string[];
  const others: string[] = [];

  beforeAll(async () => {
    world = await startWorld({ env: { SEND_BATCH_SIZE: '25' } });
    weekly = await addSubscribers(world.db, world.list.id, 170, 'weekly');
    optedOut = await addSubscribers(world.db, world.list.id, 30, 'noopapers', { excluded: ['papers', 'no-such-section'] });
    others.push(...(await addSubscribers(world.db, world.list.id, 15, 'monthly', { cadence: 'monthly' })));
    others.push(...(await addSubscribers(world.db, world.list.id, 6, 'pending', { status: 'pending' })));
    others.push(...(await addSubscribers(world.db, world.list.id, 6, 'gone', { status: 'unsubscribed' })));
    others.push(...(await addSubscribers(world.db, world.list.id, 4, 'bounced', { status: 'bounced' })));
    others.push(...(await addSubscribers(world.db, world.list.id, 5, 'paused', { paused: true })));
    await importFixture(world);
    await startSend(world, '2021-02');
    await waitForSendStatus(world.db, 'done', 90_000);
  });
  afterAll(() => world.close());

  test('every active weekly subscriber gets exactly one message, and nobody else gets any', async () => {
    const got = receivedPerAddress(world.smtp);
    expect(got.size).toBe(200);
    for (const a of [...weekly, ...optedOut]) expect(got.get(a)).toBe(1);
    for (const a of others) expect(got.has(a)).toBe(false);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 200 });
  });

  test('each message carries the headers of docs/promises.md and parses with both parts', async () => {
    const subscriber = weekly[1]!; // "读者 2": a name to put in To
    const mail = world.smtp.messages().find((m) => m.envelope.to.includes(subscriber))!;
    const parsed = await simpleParser(mail.raw);
    expect(parsed.from?.text).toContain('news@example.org');
    expect(parsed.to && 'value' in parsed.to ? parsed.to.value[0] : undefined).toEqual({ address: subscriber, name: '读者 2' });
    const issue = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/golden/issue.json'), 'utf8'));
    expect(parsed.subject).toBe(issue.subject ?? issue.title);
    expect(parsed.date).toBeInstanceOf(Date);
    const subscription = await world.db
      .selectFrom('subscriptions as s')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .select('s.id')
      .where('p.email', '=', subscriber)
      .executeTakeFirstOrThrow();
    const send = await world.db.selectFrom('sends').select('id').executeTakeFirstOrThrow();
    expect(parsed.messageId).toBe(stableMessageId([send.id, subscription.id], world.config.publicUrl));
    const line = (key: string) => parsed.headerLines.find((h) => h.key === key)?.line.replace(/\r?\n\s+/g, ' ');
    expect(line('list-id')).toMatch(/^List-Id: .*<ml-news\.news\.example\.org>$/);
    const unsubscribe = line('list-unsubscribe')!;
    const url = /<(http:\/\/news\.example\.org\/unsubscribe\/[^>]+)>/.exec(unsubscribe)?.[1];
    expect(url).toBeDefined();
    expect(unsubscribe).toMatch(/<mailto:news@example\.org\?subject=unsubscribe%20[^>]+>/);
    expect(line('list-unsubscribe-post')).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
    expect(parsed.text).toContain('机器学习总结');
    // The UTF-8 body goes as 8bit, declared to the server.
    expect(mail.raw.toString('utf8')).toMatch(/Content-Transfer-Encoding: 8bit/);
    expect(mail.envelope.body).toBe('8BITMIME');
    expect(parsed.html).toContain('<html');
    // The subscriber's own links in the footer: their token, not someone else's.
    const token = url!.slice(url!.lastIndexOf('/') + 1);
    expect(parsed.html).toContain(token);
    expect(parsed.text).toContain(`/unsubscribe/${token}`);
    expect(parsed.html).toMatch(/\/preferences\/preferences\.[A-Za-z0-9_-]+\.[a-z0-9]+\.[A-Za-z0-9_-]+/);
  });

  test('section opt-out removes exactly those sections', async () => {
    const full = await simpleParser(world.smtp.messages().find((m) => m.envelope.to.includes(weekly[0]!))!.raw);
    const without = await simpleParser(world.smtp.messages().find((m) => m.envelope.to.includes(optedOut[0]!))!.raw);
    const issue = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/golden/issue.json'), 'utf8'));
    const papers = issue.sections.find((s: { id: string }) => s.id === 'papers');
    const kept = issue.sections.filter((s: { id: string }) => s.id !== 'papers');
    const firstPaperTitle: string = papers.items[0].title;
    expect(full.text).toContain(firstPaperTitle);
    expect(without.text).not.toContain(firstPaperTitle);
    for (const section of kept) expect(without.text).toContain(section.items[0].title);
    expect(String(without.html)).not.toContain(papers.items[papers.items.length - 1].url.replace(/&/g, '&amp;'));
  });
});

test('messages are DKIM-signed when DKIM_* is set, and the signature verifies', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-dkim-'));
  const keyFile = path.join(dir, 'dkim.pem');
  fs.writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const world = await startWorld({ env: { DKIM_DOMAIN: 'example.org', DKIM_SELECTOR: 'bs2026', DKIM_PRIVATE_KEY_FILE: keyFile } });
  try {
    await addSubscribers(world.db, world.list.id, 3, 'dkim');
    await importFixture(world);
    await startSend(world, '2021-02');
    await waitForSendStatus(world.db, 'done');
    const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const resolver = async (name: string, type: string) => {
      if (type === 'TXT' && name === 'bs2026._domainkey.example.org') return [[`v=DKIM1; k=rsa; p=${p}`]];
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    };
    const messages = world.smtp.messages();
    expect(messages).toHaveLength(3);
    for (const m of messages) {
      const result = await dkimVerify(m.raw, { resolver });
      expect(result.results[0]?.status.result).toBe('pass');
      expect(result.results[0]?.signingDomain).toBe('example.org');
    }
  } finally {
    await world.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an unsubscribe in the middle of a send stops that subscriber’s mail', async () => {
  // 40 messages a second, two batches of 10 at a time: the send takes ~1.5 s, and the last
  // batch is claimed a second after the first message, time to leave in the middle of it.
  const world = await startWorld({ env: { SEND_RATE: '40', SEND_BATCH_SIZE: '10' } });
  try {
    const readers = await addSubscribers(world.db, world.list.id, 60, 'mid');
    await importFixture(world);
    await startSend(world, '2021-02');
    // The reader whose delivery is planned last: still waiting when they leave.
    await waitForSendStatus(world.db, 'sending');
    const sub = await world.db
      .selectFrom('deliveries as d')
      .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .select(['s.id', 'p.email'])
      .orderBy('d.id', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    const leaver = sub.email;
    expect(readers).toContain(leaver);
    await eventually(() => world.smtp.messages().length > 0, { timeoutMs: 30_000, what: 'the send under way' });
    await unsubscribe({ db: world.db }, sub.id, { method: 'one-click', ip: '127.0.0.1', userAgent: 'test' });
    await waitForSendStatus(world.db, 'done', 60_000);
    const got = receivedPerAddress(world.smtp);
    expect(got.has(leaver)).toBe(false);
    expect(got.size).toBe(59);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 59, suppressed: 1 });
  } finally {
    await world.close();
  }
});
