import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import yazl from 'yazl';
import { createListFromInput } from '../../src/lists/service';
import { GOLDEN_DIR, GOLDEN_FILE } from '../fixtures/golden';
import { signedInEditor, type DeskClient } from '../helpers/desk';
import { startWorld, waitForMail, type World, addSubscribers } from '../helpers/world';
import { eventually } from '../helpers/eventually';

/**
 * The desk's issue, send, digest and subscriber pages over HTTP, against the real app and
 * workers: what the browser test of an editor's month does not go through (a zip, the send-now
 * confirmation, pause/resume/cancel, unschedule, the event stream, preferences, resend,
 * forget, export). Each change is checked in the database, where the CLI would see it.
 */

let app: World;
let desk: DeskClient;
const LIST = 'pages-news';

function golden(slug: string): Record<string, any> {
  const issue = JSON.parse(fs.readFileSync(GOLDEN_FILE, 'utf8'));
  return { ...issue, list: LIST, slug };
}

/** The same issue with no images, for pasting (a pasted issue's relative images must already be stored). */
function textOnly(slug: string): Record<string, any> {
  const issue = golden(slug);
  return { ...issue, sections: issue.sections.map((s: any) => ({ ...s, items: s.items.map(({ image: _, ...item }: any) => item) })) };
}

function zipOf(files: Record<string, Buffer>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(files)) zip.addBuffer(data, name);
  zip.end();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
  });
}

async function upload(files: Array<{ name: string; data: Buffer; type?: string }>): Promise<Response> {
  const form = new FormData();
  for (const f of files) form.append('files', new Blob([new Uint8Array(f.data)], { type: f.type ?? 'application/octet-stream' }), f.name);
  return fetch(`${app.baseUrl}/admin/lists/${LIST}/issues/upload?_csrf=${encodeURIComponent(desk.csrf)}`, {
    method: 'POST',
    headers: { cookie: desk.cookie, accept: 'text/html' },
    body: form,
    redirect: 'manual',
  });
}

const sendOf = (slug: string) =>
  app.test.db.selectFrom('sends').innerJoin('issues', 'issues.id', 'sends.issue_id').selectAll('sends').where('issues.slug', '=', slug).executeTakeFirst();

beforeAll(async () => {
  app = await startWorld({ app: true, list: false, env: { SEND_RATE: '20', SEND_BATCH_SIZE: '5' } });
  const list = await createListFromInput(app.test.db, {
    slug: LIST,
    name: 'Pages <News>',
    from: 'Pages <news@example.org>',
    contact: 'Example Press · 1 Main Street · Berlin',
    timezone: 'Europe/Berlin',
    weekly: 'mon 09:00',
    monthly: '1 09:00',
    sections: ['papers:Papers', 'tools:Tools'],
  });
  await addSubscribers(app.test.db, list.id, 30, 'weekly');
  await addSubscribers(app.test.db, list.id, 4, 'monthly', { cadence: 'monthly' });
  await addSubscribers(app.test.db, list.id, 3, 'paused', { paused: true });
  desk = await signedInEditor(app, 'pages-editor@example.org', 'editor');
}, 60_000);
afterAll(() => app.close());

test('a zip uploads through the page; a pasted issue for another list is shown with its line', async () => {
  const issue = golden('zipped');
  const files: Record<string, Buffer> = { 'zipped/issue.json': Buffer.from(JSON.stringify(issue, null, 2)) };
  for (const src of new Set<string>(issue.sections.flatMap((s: any) => s.items.map((i: any) => i.image?.src)).filter(Boolean))) {
    files[`zipped/${src}`] = fs.readFileSync(path.join(GOLDEN_DIR, src));
  }
  const res = await upload([{ name: 'zipped.zip', data: await zipOf(files), type: 'application/zip' }]);
  expect([res.status, res.headers.get('location')]).toEqual([303, `/admin/lists/${LIST}/issues/zipped?done=imported`]);
  const page = await (await desk.get(`/lists/${LIST}/issues`)).text();
  expect(page).toContain('href="/admin/lists/pages-news/issues/zipped"');

  const wrong = await desk.post(`/lists/${LIST}/issues/paste`, { json: JSON.stringify({ ...textOnly('x'), list: 'elsewhere' }, null, 2) });
  expect(wrong.status).toBe(200); // the problems page is the upload's answer
  const body = await wrong.text();
  expect(body).toMatch(/<td class="num">4<\/td><td><code>\/list<\/code><\/td><td>the issue is for list &quot;elsewhere&quot;/);
  // The text comes back in the form to be fixed, escaped.
  expect(body).toContain('&quot;list&quot;: &quot;elsewhere&quot;');

  const notZip = await upload([{ name: 'x.zip', data: Buffer.from('PK\u0003\u0004 not really') }]);
  expect(notZip.status).toBe(400); // not a check of the issue: the file itself is refused
  expect(await notZip.text()).toContain('not a readable zip file');
});

test('send now asks first, naming the recipients; then pause, resume and the event stream', async () => {
  const ask = await (await desk.get(`/lists/${LIST}/issues/zipped/send`)).text();
  // 30 weekly readers; the monthly and the paused ones are not counted.
  expect(ask).toContain('<strong>30 weekly subscribers</strong>');
  expect(await sendOf('zipped')).toBeUndefined();

  const sent = await desk.post(`/lists/${LIST}/issues/zipped/send`);
  expect(sent.status).toBe(303);
  const send = (await sendOf('zipped'))!;
  expect(sent.headers.get('location')).toBe(`/admin/sends/${send.id}`);

  const paused = await desk.post(`/lists/${LIST}/issues/zipped/pause`);
  expect(paused.headers.get('location')).toBe(`/admin/lists/${LIST}/issues/zipped?done=paused`);
  expect((await sendOf('zipped'))!.status).toBe('paused');
  const page = await (await desk.get(`/sends/${send.id}`)).text();
  expect(page).toContain('<button type="submit">Resume</button>');
  // The send's log names the editor for each change.
  expect(page).toMatch(/<td>started<\/td><td>pages-editor@example\.org<\/td>.*<td>paused<\/td><td>pages-editor@example\.org<\/td>/s);
  expect(page).toContain('<script type="module" src="/admin/static/send-progress.js"></script>');

  await desk.post(`/lists/${LIST}/issues/zipped/resume`);
  // The stream: progress events until the send is done, then it ends by itself.
  const stream = await desk.get(`/sends/${send.id}/events`, { accept: 'text/event-stream' });
  expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const text = await stream.text();
  const events = text
    .split('\n\n')
    .filter((e) => e.startsWith('event: progress'))
    .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
  expect(events.at(-1)).toMatchObject({ status: 'done', sent: 30, pending: 0, finished: true, circuit: 'closed' });

  const report = await (await desk.get(`/sends/${send.id}`)).text();
  expect(report).toContain('Report');
  expect(report).not.toContain('send-progress.js');
  expect(report).toMatch(/Delivered.*?<td class="num">30<\/td>/s);

  // A sent issue cannot be replaced by an upload: said next to the slug.
  const again = await desk.post(`/lists/${LIST}/issues/paste`, { json: JSON.stringify(golden('zipped')) });
  expect(again.status).toBe(200);
  expect(await again.text()).toMatch(/<code>\/slug<\/code><\/td><td>issue &quot;zipped&quot; is sent/);
}, 60_000);

test("schedule at a time in the list's zone, move it, unschedule; cancel a scheduled send", async () => {
  const res = await desk.post(`/lists/${LIST}/issues/paste`, { json: JSON.stringify(textOnly('later'), null, 2) });
  expect(res.status).toBe(303);
  await desk.post(`/lists/${LIST}/issues/later/schedule`, { when: 'at', at: '2030-01-07T09:30' });
  expect((await sendOf('later'))!.scheduled_at!.toISOString()).toBe('2030-01-07T08:30:00.000Z');
  const moved = await desk.post(`/lists/${LIST}/issues/later/schedule`, { when: 'next' });
  expect(moved.headers.get('location')).toMatch(/done=rescheduled$/);
  const slot = (await sendOf('later'))!.scheduled_at!;
  expect(slot.getTime()).toBeGreaterThan(Date.now());
  expect(slot.getUTCDay()).toBe(1);

  const past = await desk.post(`/lists/${LIST}/issues/later/schedule`, { when: 'at', at: '2020-01-01T09:00' });
  expect(past.status).toBe(400);
  expect(await past.text()).toMatch(/in the past/);

  await desk.post(`/lists/${LIST}/issues/later/unschedule`);
  expect(await sendOf('later')).toBeUndefined();
  await desk.post(`/lists/${LIST}/issues/later/schedule`, { when: 'next' });
  await desk.post(`/lists/${LIST}/issues/later/cancel`);
  expect((await sendOf('later'))!.status).toBe('cancelled');
});

test('preview as a subscriber uses their cadence and sections; the email frame has a policy of its own', async () => {
  const person = await app.test.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select(['s.id', 'p.email'])
    .where('p.email', '=', 'weekly-3@example.org')
    .executeTakeFirstOrThrow();
  await app.test.db
    .updateTable('subscriptions')
    .set({ excluded_sections: ['papers'] })
    .where('id', '=', person.id)
    .execute();
  const page = await (await desk.get(`/lists/${LIST}/issues/zipped/preview?as=${encodeURIComponent('WEEKLY-3@example.org')}`)).text();
  expect(page).toContain('Preview as weekly-3@example.org (weekly)');
  expect(page).toContain('<dt>Left out</dt><dd>papers</dd>');
  const frame = await desk.get(`/lists/${LIST}/issues/zipped/preview/email.html?cadence=monthly&skip=papers`);
  expect(frame.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'self'/);
  expect(frame.headers.get('x-frame-options')).toBe('SAMEORIGIN');
  const unknown = await desk.get(`/lists/${LIST}/issues/zipped/preview?as=nobody@example.org`);
  expect(unknown.status).toBe(404);
});

test('a subscription: preferences, unsubscribe, and forget after its confirmation', async () => {
  const sub = await app.test.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select(['s.id', 'p.email'])
    .where('p.email', '=', 'weekly-7@example.org')
    .executeTakeFirstOrThrow();
  const found = await (await desk.get('/subscribers?q=WEEKLY-7')).text();
  expect(found).toContain(`href="/admin/subscriptions/${sub.id}"`);

  await desk.post(`/subscriptions/${sub.id}/preferences`, { cadence: 'monthly', 'keep-tools': 'tools' });
  const after = await app.test.db.selectFrom('subscriptions').selectAll().where('id', '=', sub.id).executeTakeFirstOrThrow();
  expect([after.cadence, after.excluded_sections]).toEqual(['monthly', ['papers']]);

  await desk.post(`/subscriptions/${sub.id}/unsubscribe`);
  const page = await (await desk.get(`/subscriptions/${sub.id}`)).text();
  expect(page).toMatch(/<td>preferences changed<\/td><td>pages-editor@example\.org<\/td>.*<td>unsubscribed<\/td><td>pages-editor@example\.org<\/td>/s);

  const ask = await (await desk.get(`/subscriptions/${sub.id}/forget`)).text();
  expect(ask).toContain('Forget weekly-7@example.org?');
  // A form for another address (a stale page) erases nothing.
  expect((await desk.post(`/subscriptions/${sub.id}/forget`, { email: 'weekly-8@example.org' })).status).toBe(409);
  const forgotten = await desk.post(`/subscriptions/${sub.id}/forget`, { email: 'weekly-7@example.org' });
  expect(forgotten.headers.get('location')).toBe('/admin/subscribers?done=forgotten');
  expect(await app.test.db.selectFrom('subscribers').select('id').where('email', '=', 'weekly-7@example.org').executeTakeFirst()).toBeUndefined();
});

test("CSV import with its progress page and the CLI's report, resend a confirmation; export as a download", async () => {
  const csv = 'email,name,cadence\nnew-1@example.org,New One,weekly\nnot an address,,\nnew-2@example.org,,monthly\n';
  const form = new FormData();
  form.append('file', new Blob([csv], { type: 'text/csv' }), 'people.csv');
  const started = await fetch(`${app.baseUrl}/admin/lists/${LIST}/subscribers/import?_csrf=${encodeURIComponent(desk.csrf)}`, {
    method: 'POST',
    headers: { cookie: desk.cookie, accept: 'text/html' },
    body: form,
    redirect: 'manual',
  });
  expect(started.status).toBe(303);
  const progress = started.headers.get('location')!.replace('/admin', '');
  const done = await eventually(async () => {
    const text = await (await desk.get(progress)).text();
    return text.includes('Finished.') ? text : undefined;
  });
  expect(done).toContain('people.csv → list pages-news: 3 rows: imported 2, updated 0, unchanged 0, skipped 0, bad 1');
  expect(done).toContain('line 3: ');
  // Without --confirmed: pending, with a confirmation email each, as the CLI does.
  const pending = await app.test.db
    .selectFrom('subscribers as p')
    .innerJoin('subscriptions as s', 's.subscriber_id', 'p.id')
    .select('s.status')
    .where('p.email', '=', 'new-1@example.org')
    .executeTakeFirstOrThrow();
  expect(pending.status).toBe('pending');
  // The desk can send the confirmation again (within the reader pages' per-address limit).
  const pendingSub = await app.test.db
    .selectFrom('subscribers as p')
    .innerJoin('subscriptions as s', 's.subscriber_id', 'p.id')
    .select('s.id')
    .where('p.email', '=', 'new-1@example.org')
    .executeTakeFirstOrThrow();
  await waitForMail(app.smtp, 'new-1@example.org', /./, 1);
  const resent = await desk.post(`/subscriptions/${pendingSub.id}/resend`);
  expect(resent.headers.get('location')).toBe(`/admin/subscriptions/${pendingSub.id}?done=resent`);
  await waitForMail(app.smtp, 'new-1@example.org', /./, 2);

  const exported = await desk.get(`/lists/${LIST}/subscribers/export`);
  expect(exported.headers.get('content-disposition')).toBe('attachment; filename="pages-news-subscribers.csv"');
  const rows = parse(await exported.text(), { columns: true }) as Array<{ email: string }>;
  expect(rows.map((r) => r.email)).toEqual(expect.arrayContaining(['new-1@example.org', 'weekly-1@example.org']));
});

test('the digest of a month: none yet, then generated from the sent weekly; curate fills the paste form', async () => {
  const none = await (await desk.get(`/lists/${LIST}/digest?month=2021-03`)).text();
  expect(none).toContain('none: no weekly issue of this month has been sent');
  const feb = await (await desk.get(`/lists/${LIST}/digest?month=2021-02`)).text();
  expect(feb).toContain('generated from 1 sent weekly issue');
  expect(feb).toContain('2021-03-01 09:00 Europe/Berlin');
  const curate = await (await desk.get(`/lists/${LIST}/digest/curate?month=2021-02`)).text();
  expect(curate).toContain('action="/admin/lists/pages-news/issues/paste"');
  expect(curate).toContain('&quot;kind&quot;: &quot;digest&quot;');
  expect(curate).toContain('zipped/images/');
  const bad = await desk.get(`/lists/${LIST}/digest?month=2021-13`);
  expect(bad.status).toBe(400);
});
