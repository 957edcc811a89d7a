import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import yazl from 'yazl';
import { findIssue } from '../../src/issues/repository';
import { previewAsReader } from '../../src/issues/reader-preview';
import { loadTemplates } from '../../src/issues/templates';
import { uploadIssue } from '../../src/issues/upload';
import { digestOfMonth, curateDraft, comingDigest } from '../../src/schedules/coming-digest';
import { liveProgress, normalizeSmtpAnswer, sendReport } from '../../src/sending/report';
import { applyReport } from '../../src/sending/inbound';
import { markBounced } from '../../src/subscribers/bounce';
import { unsubscribe } from '../../src/subscribers/preferences';
import { searchSubscribers, subscriptionHistory } from '../../src/subscribers/search';
import { GOLDEN_FILE } from '../fixtures/golden';
import { addSubscribers, importFixture, startSend, startWorld, waitForSendStatus, type World } from '../helpers/world';

let world: World;
const GOLDEN_DIR = path.dirname(GOLDEN_FILE);
const golden = () => JSON.parse(fs.readFileSync(GOLDEN_FILE, 'utf8')) as Record<string, any>;

beforeAll(async () => {
  world = await startWorld({ onRcpt: (a) => (a.startsWith('gone-') ? { code: 550, message: '5.1.1 <' + a + '> no such user' } : undefined) });
}, 60_000);
afterAll(() => world.close());

async function subscriptionOf(email: string): Promise<string> {
  const row = await world.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select('s.id')
    .where('p.email', '=', email)
    .executeTakeFirstOrThrow();
  return row.id;
}

describe('a send, its report and its progress', () => {
  let sendId: string;
  beforeAll(async () => {
    await addSubscribers(world.db, world.list.id, 5, 'reader');
    await addSubscribers(world.db, world.list.id, 1, 'gone');
    await addSubscribers(world.db, world.list.id, 2, 'monthly', { cadence: 'monthly' });
    await importFixture(world);
    await startSend(world, '2021-02');
    await waitForSendStatus(world.db, 'done');
    sendId = (await world.db.selectFrom('sends').select('id').executeTakeFirstOrThrow()).id;
  }, 90_000);

  test('counts deliveries, bounces, and what readers did after this email, with the SMTP answers grouped', async () => {
    // After the send: one reader leaves by the link, one complains; a monthly reader (who
    // never got this weekly) leaves too, and must not be counted against it.
    await unsubscribe(world, await subscriptionOf('reader-1@example.org'), { method: 'page' });
    await markBounced(world.db, await subscriptionOf('reader-2@example.org'), 'complained', { source: 'test' });
    await unsubscribe(world, await subscriptionOf('monthly-1@example.org'), { method: 'page' });

    const report = await sendReport(world.db, sendId);
    expect(report).toMatchObject({ recipients: 6, delivered: 5, bounced: 1, unsubscribed: 1, complained: 1, suppressed: 0, failed: 0, pending: 0 });
    const answers = report.smtpAnswers.map((a) => a.count).sort();
    expect(answers).toEqual([1, 5]);
    expect(report.smtpAnswers[0]!.answer).toMatch(/^250/);
    expect(report.smtpAnswers[1]!.answer).toMatch(/550/);
    expect(report.smtpAnswers[1]!.answer).not.toContain('gone-1@example.org');
  });

  test('live progress of a finished send: all sent, nothing pending, the circuit closed', async () => {
    const live = await liveProgress(world.db, sendId);
    expect(live).toMatchObject({ status: 'done', recipients: 6, sent: 5, pending: 0, notSent: 1, circuit: 'closed', finished: true, etaSeconds: null });
  });

  test('an unknown send is a clear 404, also for a malformed id', async () => {
    await expect(sendReport(world.db, 'nope')).rejects.toMatchObject({ code: 'not_found' });
    await expect(liveProgress(world.db, '00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'not_found' });
  });

  test('a subscription history: the log oldest first, and the issues it was sent', async () => {
    const h = await subscriptionHistory(world.db, await subscriptionOf('reader-1@example.org'));
    expect(h.subscriber.email).toBe('reader-1@example.org');
    expect(h.events.map((e) => e.type)).toEqual(['unsubscribed']);
    expect(h.deliveries).toEqual([expect.objectContaining({ issue: '2021-02', status: 'sent', sendState: 'sent', sendId })]);
    await expect(subscriptionHistory(world.db, 'not-a-uuid')).rejects.toMatchObject({ code: 'not_found' });
  });

  test('the generated digest of the month, the coming one, and curate → import as the curated digest', async () => {
    const feb = await digestOfMonth(world.db, world.list, 2021, 2);
    expect(feb).toMatchObject({ source: 'generated', weeklies: 1, state: 'draft' });
    expect(feb.issue?.covers).toEqual(['2021-02']);
    expect((await digestOfMonth(world.db, world.list, 2021, 3)).source).toBe('none');

    // The list has no monthly slot: there is no coming digest; with one, it is last month's.
    expect(await comingDigest(world.db, world.list, new Date('2021-03-10T00:00:00Z'))).toBeUndefined();
    const withSlot = { ...world.list, monthly_slot: '1 09:00', timezone: 'Europe/Berlin' };
    const coming = await comingDigest(world.db, withSlot, new Date('2021-03-10T00:00:00Z'));
    expect(coming).toMatchObject({ year: 2021, month: 3, source: 'none' });
    const comingFeb = await comingDigest(world.db, withSlot, new Date('2021-02-20T00:00:00Z'));
    expect(comingFeb).toMatchObject({ year: 2021, month: 2, source: 'generated' });
    expect(comingFeb!.goesAt!.toISOString()).toBe('2021-03-01T08:00:00.000Z');

    const draft = await curateDraft(world.db, world.list, 2021, 2);
    const edited = JSON.parse(draft!);
    edited.slug = 'digest-2021-02-curated';
    edited.title = 'February, chosen by hand';
    edited.sections = edited.sections.slice(0, 2);
    const result = await uploadIssue(world.db, { list: world.list, upload: { kind: 'json', text: JSON.stringify(edited, null, 2) }, dataDir: world.dataDir });
    expect(result).toMatchObject({ ok: true });
    // Its images came from the weekly's stored assets, into the digest's own folder.
    const firstImage = edited.sections.flatMap((s: any) => s.items).find((i: any) => i.image)?.image.src as string;
    expect(fs.existsSync(path.join(world.dataDir, 'assets', 'ml-news', 'digest-2021-02-curated', firstImage))).toBe(true);
    const curated = await digestOfMonth(world.db, world.list, 2021, 2);
    expect(curated).toMatchObject({ source: 'curated', state: 'draft' });
    expect(curated.issue?.title).toBe('February, chosen by hand');
  });
  test("a finished send's SMTP answers are grouped once, and again after a late bounce rewrites one", async () => {
    await sendReport(world.db, sendId);
    const kept = await world.db.selectFrom('send_smtp_answers').selectAll().where('send_id', '=', sendId).executeTakeFirstOrThrow();
    expect(kept.answers.map((a) => a.count).sort()).toEqual([1, 5]);
    // The kept grouping is what the page shows (a changed row alone would not show).
    await world.db
      .updateTable('deliveries')
      .set({ smtp_response: '250 2.0.0 changed behind its back' })
      .where('send_id', '=', sendId)
      .where('status', '=', 'sent')
      .execute();
    expect((await sendReport(world.db, sendId)).smtpAnswers.map((a) => a.count).sort()).toEqual([1, 5]);
    expect((await sendReport(world.db, sendId)).smtpAnswers.some((a) => a.answer.includes('changed'))).toBe(false);
    // A DSN after the send: the delivery's answer is rewritten and the grouping made again.
    const delivery = await world.db.selectFrom('deliveries').select('id').where('send_id', '=', sendId).where('status', '=', 'sent').executeTakeFirstOrThrow();
    expect(await applyReport(world.db, Number(delivery.id), { kind: 'hard', status: '5.2.2', diagnostic: 'mailbox full' })).toBe('bounced');
    const again = await sendReport(world.db, sendId);
    expect(again.smtpAnswers.map((a) => a.answer)).toEqual(expect.arrayContaining(['5.2.2 mailbox full']));
    expect(again.bounced + again.bouncedLater).toBeGreaterThanOrEqual(2);
  });
});

describe('finding subscribers by address', () => {
  beforeAll(async () => {
    for (const email of ['Ann@Example.org', 'anna.b@example.org', 'joann@example.org', 'an_x@example.org', 'anzx@example.org', 'Ann%@example.org']) {
      const p = await world.db.insertInto('subscribers').values({ email }).returning('id').executeTakeFirstOrThrow();
      if (email !== 'anna.b@example.org') {
        await world.db.insertInto('subscriptions').values({ list_id: world.list.id, subscriber_id: p.id, status: 'active', consent_source: 'test' }).execute();
      }
    }
  });

  test('case-insensitive prefix, in address order, with the subscriptions', async () => {
    const hits = await searchSubscribers(world.db, 'ANN');
    expect(hits.map((h) => h.email)).toEqual(['Ann%@example.org', 'Ann@Example.org', 'anna.b@example.org']);
    expect(hits[1]!.subscriptions).toEqual([expect.objectContaining({ list: 'ml-news', status: 'active', cadence: 'weekly' })]);
    expect(hits[2]!.subscriptions).toEqual([]);
  });

  test('% and _ are letters, not wildcards; a list narrows; an empty query finds nothing', async () => {
    expect((await searchSubscribers(world.db, 'an_')).map((h) => h.email)).toEqual(['an_x@example.org']);
    expect((await searchSubscribers(world.db, 'ann%')).map((h) => h.email)).toEqual(['Ann%@example.org']);
    expect((await searchSubscribers(world.db, 'ann', { listId: world.list.id })).map((h) => h.email)).toEqual(['Ann%@example.org', 'Ann@Example.org']);
    expect(await searchSubscribers(world.db, '   ')).toEqual([]);
  });

  test('the prefix is a range of the subscribers_email_prefix index, not a scan', async () => {
    await sql`INSERT INTO subscribers (email) SELECT 'bulk-' || i || '@example.net' FROM generate_series(1, 20000) i`.execute(world.db);
    await sql`ANALYZE subscribers`.execute(world.db);
    const plan = await sql<{ 'QUERY PLAN': string }>`
      EXPLAIN SELECT id FROM subscribers s WHERE lower(s.email) COLLATE "C" LIKE 'bulk-12%' ORDER BY lower(s.email) COLLATE "C" LIMIT 50`.execute(world.db);
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toContain('subscribers_email_prefix');
    expect(text).not.toMatch(/Seq Scan/);
    expect((await searchSubscribers(world.db, 'BULK-1999')).map((h) => h.email)).toEqual([
      // Byte order: '0' (0x30) comes before '@' (0x40).
      ...Array.from({ length: 10 }, (_, i) => `bulk-1999${i}@example.net`),
      'bulk-1999@example.net',
    ]);
  });
});

describe('uploading an issue', () => {
  const files = () => {
    const issue = golden();
    issue.slug = 'upload-1';
    const images = new Set<string>(issue.sections.flatMap((s: any) => s.items.map((i: any) => i.image?.src)).filter(Boolean));
    return { issue, images: [...images].map((src) => ({ name: path.basename(src), data: fs.readFileSync(path.join(GOLDEN_DIR, src)) })) };
  };

  test('files with a mistake: problems with pointer and line; the corrected JSON alone is then enough', async () => {
    const { issue, images } = files();
    issue.sections[1].items[0].url = 'not a url';
    const text = JSON.stringify(issue, null, 2);
    const first = await uploadIssue(world.db, {
      list: world.list,
      upload: { kind: 'files', files: [{ name: 'issue.json', data: Buffer.from(text) }, ...images] },
      dataDir: world.dataDir,
    });
    if (first.ok) throw new Error('expected problems');
    expect(first.problems).toHaveLength(1);
    const problem = first.problems[0]!;
    expect(problem.pointer).toBe('/sections/1/items/0/url');
    const lines = text.split('\n');
    expect(lines[problem.line! - 1]).toContain('"url": "not a url"');
    expect(await findIssue(world.db, world.list.id, 'upload-1')).toBeUndefined();

    issue.sections[1].items[0].url = 'https://example.org/fixed';
    const second = await uploadIssue(world.db, {
      list: world.list,
      upload: { kind: 'json', text: JSON.stringify(issue, null, 2), previous: first.uploadId },
      dataDir: world.dataDir,
    });
    expect(second).toMatchObject({ ok: true, replaced: false });
    const src = issue.sections.flatMap((s: any) => s.items).find((i: any) => i.image).image.src;
    expect(fs.existsSync(path.join(world.dataDir, 'assets', 'ml-news', 'upload-1', src))).toBe(true);
  });

  test('a zip with a top folder imports; malformed JSON names its line; a wrong list is a problem at /list', async () => {
    const { issue } = files();
    issue.slug = 'upload-zip';
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from(JSON.stringify(issue, null, 2)), 'my-issue/issue.json');
    for (const src of new Set<string>(issue.sections.flatMap((s: any) => s.items.map((i: any) => i.image?.src)).filter(Boolean))) {
      zip.addBuffer(fs.readFileSync(path.join(GOLDEN_DIR, src)), `my-issue/${src}`);
    }
    zip.end();
    const data = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      zip.outputStream.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
    });
    expect(await uploadIssue(world.db, { list: world.list, upload: { kind: 'zip', data }, dataDir: world.dataDir })).toMatchObject({ ok: true });

    const broken = await uploadIssue(world.db, {
      list: world.list,
      upload: { kind: 'json', text: '{\n  "format": 1,\n  "slug": "x",\n}\n' },
      dataDir: world.dataDir,
    });
    expect(broken).toMatchObject({ ok: false, problems: [expect.objectContaining({ pointer: '', line: 4 })] });

    const other = {
      ...issue,
      list: 'another-list',
      slug: 'x1',
      sections: issue.sections.map((s: any) => ({ ...s, items: s.items.map(({ image: _, ...i }: any) => i) })),
    };
    const wrong = await uploadIssue(world.db, { list: world.list, upload: { kind: 'json', text: JSON.stringify(other, null, 2) }, dataDir: world.dataDir });
    expect(wrong).toMatchObject({ ok: false, problems: [expect.objectContaining({ pointer: '/list', line: 4 })] });
  });

  test('a zip that reaches outside its folder, or is no zip, is refused with a clear message', async () => {
    // yazl refuses to write "../" names; patch the bytes of a same-length name instead.
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from('{}'), 'aa/evil.json');
    zip.end();
    const data = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      zip.outputStream.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
    });
    const evil = Buffer.from(data.toString('latin1').split('aa/evil.json').join('../evil.json'), 'latin1');
    await expect(uploadIssue(world.db, { list: world.list, upload: { kind: 'zip', data: evil }, dataDir: world.dataDir })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/zip/),
    });
    await expect(
      uploadIssue(world.db, { list: world.list, upload: { kind: 'zip', data: Buffer.from('hello') }, dataDir: world.dataDir }),
    ).rejects.toMatchObject({
      code: 'invalid_input',
    });
    expect(fs.existsSync(path.join(world.dataDir, '..', 'evil.json'))).toBe(false);
  });
});

test('preview as a reader: their cadence and the sections they left out', async () => {
  const issue = golden();
  const templates = loadTemplates();
  const base = {
    issue: issue as any,
    list: world.list,
    publicUrl: 'http://news.example.org',
    assetBaseUrl: 'http://news.example.org/assets/ml-news/2021-02',
    templates,
  };
  const all = await previewAsReader({ ...base, reader: { cadence: 'weekly', excludedSections: [] } });
  const papers = issue.sections.find((s: any) => s.id === 'papers').items[0].title as string;
  expect(all.html).toContain(papers);
  const without = await previewAsReader({ ...base, reader: { cadence: 'monthly', excludedSections: ['papers', 'not-in-this-issue'] } });
  expect(without.omitted).toEqual(['papers']);
  expect(without.html).not.toContain(papers);
  expect(without.text).not.toContain(papers);
  expect(without.html).not.toBe(all.html);
}, 30_000);

test('SMTP answers group without their queue ids and addresses', () => {
  expect(normalizeSmtpAnswer('250 2.0.0 Ok: queued as 4Fq1Zx2abcD9')).toBe(normalizeSmtpAnswer('250 2.0.0 Ok: queued as 9Zz81Qq7YYY1'));
  expect(normalizeSmtpAnswer('550 5.1.1 <a@b.org> no such user')).toBe('550 5.1.1 <…> no such user');
});
