import { signedInEditor, type DeskClient } from '../helpers/desk';
import { startWorld, type World } from '../helpers/world';
import { eventually } from '../helpers/eventually';

/**
 * A CSV import started on the desk keeps its progress and report in PostgreSQL (desk_imports),
 * not in the memory of the web process that runs it: another process shows the same page, and
 * an import whose process went away says so instead of spinning for ever.
 */

let app: World;
let desk: DeskClient;

beforeAll(async () => {
  app = await startWorld({ app: true, list: false });
  await app.createList('imp-news', { name: 'Imp News' });
  desk = await signedInEditor(app, 'importer@example.org');
}, 60_000);
afterAll(() => app?.close());

async function uploadCsv(text: string): Promise<string> {
  const form = new FormData();
  form.append('confirmed', 'on');
  form.append('file', new Blob([text], { type: 'text/csv' }), 'readers.csv');
  const res = await fetch(`${app.baseUrl}/admin/lists/imp-news/subscribers/import?_csrf=${encodeURIComponent(desk.csrf)}`, {
    method: 'POST',
    headers: { cookie: desk.cookie, accept: 'text/html' },
    body: form,
    redirect: 'manual',
  });
  expect(res.status).toBe(303);
  return res.headers.get('location')!;
}

const pageAt = async (base: string, location: string) => (await fetch(`${base}${location}`, { headers: { cookie: desk.cookie, accept: 'text/html' } })).text();

test('the progress and the report are read from the database, by any web process', async () => {
  const csv = ['email,name', ...Array.from({ length: 300 }, (_, i) => `imp-${i}@example.org,Reader ${i}`), 'not an address,x'].join('\n');
  const location = await uploadCsv(csv);
  const id = /imports\/([0-9a-f-]+)$/.exec(location)![1]!;
  const peer = await app.startPeer();
  try {
    // The other process never saw the upload, and shows the finished import with the CLI's report.
    const page = await eventually(async () => {
      const text = await pageAt(peer.baseUrl, location);
      return text.includes('Finished.') ? text : undefined;
    }, 20_000);
    expect(page).toContain('imported 300');
    expect(page).toMatch(/line 302/);
    const row = await app.test.db.selectFrom('desk_imports').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ editor: 'importer@example.org', source: 'readers.csv', rows: 301, error: null });
    expect(row.finished_at).not.toBeNull();
  } finally {
    await peer.close();
  }
}, 60_000);

test('an import whose process went away is said to have stopped, and another list cannot show it', async () => {
  const list = await app.test.db.selectFrom('lists').select('id').where('slug', '=', 'imp-news').executeTakeFirstOrThrow();
  const id = '00000000-0000-4000-8000-0000000000aa';
  await app.test.db
    .insertInto('desk_imports')
    .values({
      id,
      list_id: list.id,
      editor: 'gone@example.org',
      source: 'big.csv',
      total_bytes: 1000,
      bytes: 400,
      rows: 12,
      updated_at: new Date(Date.now() - 120_000),
    })
    .execute();
  const res = await fetch(`${app.baseUrl}/admin/lists/imp-news/subscribers/imports/${id}`, { headers: { cookie: desk.cookie, accept: 'text/html' } });
  expect(res.headers.get('refresh')).toBeNull(); // no point asking again every second
  expect(await res.text()).toContain('The import stopped');
  await app.createList('other-news', { name: 'Other' });
  const elsewhere = await fetch(`${app.baseUrl}/admin/lists/other-news/subscribers/imports/${id}`, { headers: { cookie: desk.cookie, accept: 'text/html' } });
  expect(elsewhere.status).toBe(404);
});
