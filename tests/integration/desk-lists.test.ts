import { importIssue } from '../../src/issues/repository';
import { scheduleIssue } from '../../src/schedules/service';
import { createSend } from '../../src/sending/control';
import { GOLDEN_DIR, GOLDEN_FILE, loadIssueFixture } from '../fixtures/golden';
import { signedInEditor, type DeskClient } from '../helpers/desk';
import { addSubscribers, address, startWorld, type World } from '../helpers/world';

/**
 * The desk's home and lists: what an editor sees of each list, and list settings changed
 * through the same service as the CLI and the API, with problems next to their fields and
 * each change on the list's log under the editor's name. Per-editor API tokens.
 */

const ADMIN_TOKEN = 'admin-token-for-desk-tests';
let app: World;
let owner: DeskClient;

beforeAll(async () => {
  // No workers: the home test's running send must stay at 1 of 3, not be carried on by a repair pass.
  app = await startWorld({ app: true, list: false, workers: false, env: { ADMIN_TOKEN } });
  owner = await signedInEditor(app, address('owner'), 'owner');
}, 60_000);
afterAll(() => app.close());

const text = async (res: Response) => (await res.text()).replace(/\s+/g, ' ');

describe('lists', () => {
  test('a new list with mistakes comes back with each problem next to its field, and what was typed kept', async () => {
    const res = await owner.post('/lists', {
      slug: 'Bad Slug',
      name: 'Desk News',
      from: 'not an address',
      weekly: 'someday',
      contact: '',
      language: 'en',
      timezone: 'Mars/Olympus',
      sections: 'papers:Papers\nno-colon',
    });
    expect(res.status).toBe(200); // the form again, with its errors (not a console error in a browser)
    const page = await text(res);
    for (const field of ['slug', 'from', 'weekly', 'contact', 'timezone', 'sections']) {
      expect([
        field,
        page.includes(`id="${field}" name="${field}"`) || page.includes(`<textarea id="${field}"`),
        new RegExp(`id="${field}-error"`).test(page),
      ]).toEqual([field, true, true]);
    }
    expect(page).toMatch(/id="weekly"[^>]*aria-invalid="true"[^>]*aria-describedby="weekly-error/);
    expect(page).toMatch(/id="sections-error".*Line 2: .*no-colon/);
    expect(page).toContain('value="Desk News"');
    expect(page).not.toMatch(/id="name-error"/);
    expect(await app.test.db.selectFrom('lists').select('slug').where('name', '=', 'Desk News').execute()).toEqual([]);
  });

  test('creating and changing a list goes through the list service, and the list log names the editor', async () => {
    const created = await owner.post('/lists', {
      slug: 'desk-news',
      name: 'Desk <News>',
      from: 'Desk News <news@example.org>',
      contact: 'Desk Press · 1 Main Street',
      language: 'zh-CN',
      timezone: 'Asia/Shanghai',
      weekly: 'mon 09:00',
      monthly: '1 10:00',
      sections: 'papers:Papers\ntools:Tools',
      welcomeEmail: 'on',
      digestTitle: '{list} in {month}',
    });
    expect([created.status, created.headers.get('location')]).toEqual([303, '/admin/lists/desk-news']);
    const list = await app.test.db.selectFrom('lists').selectAll().where('slug', '=', 'desk-news').executeTakeFirstOrThrow();
    expect(list).toMatchObject({
      name: 'Desk <News>',
      language: 'zh-CN',
      weekly_slot: 'mon 09:00',
      monthly_slot: '1 10:00',
      welcome_email: true,
      digest_title: '{list} in {month}',
      sections: [
        { id: 'papers', title: 'Papers' },
        { id: 'tools', title: 'Tools' },
      ],
    });

    const form = await text(await owner.get('/lists/desk-news/settings'));
    expect(form).toContain('value="Desk &lt;News&gt;"');
    expect(form).toContain('papers:Papers\ntools:Tools'.replace(/\s+/g, ' '));
    expect(form).not.toContain('name="slug"'); // set once

    const saved = await owner.post('/lists/desk-news/settings', {
      name: 'Desk News',
      from: 'Desk News <news@example.org>',
      contact: 'Desk Press · 2 Side Street',
      language: 'zh-CN',
      timezone: 'Europe/Berlin',
      weekly: 'tue 08:30',
      monthly: '',
      sections: 'papers:Papers',
      digestTitle: '',
      description: 'The **desk** news.',
    });
    expect(saved.status).toBe(200);
    expect(await text(saved)).toContain('Saved.');
    const after = await app.test.db.selectFrom('lists').selectAll().where('slug', '=', 'desk-news').executeTakeFirstOrThrow();
    expect(after).toMatchObject({
      name: 'Desk News',
      timezone: 'Europe/Berlin',
      weekly_slot: 'tue 08:30',
      monthly_slot: null,
      welcome_email: false,
      digest_title: null,
      description: 'The **desk** news.',
      sections: [{ id: 'papers', title: 'Papers' }],
    });

    const bad = await owner.post('/lists/desk-news/settings', { name: '', from: 'Desk News <news@example.org>', contact: 'x', weekly: 'tue 25:00' });
    expect(bad.status).toBe(200);
    const badPage = await text(bad);
    expect(badPage).toMatch(/id="name-error".*Name is required/);
    expect(badPage).toMatch(/id="weekly-error"/);
    expect((await app.test.db.selectFrom('lists').select('weekly_slot').where('slug', '=', 'desk-news').executeTakeFirstOrThrow()).weekly_slot).toBe(
      'tue 08:30',
    );

    const log = await app.test.db.selectFrom('list_events').select(['type', 'data']).where('list_id', '=', list.id).orderBy('id').execute();
    expect(log).toEqual([
      { type: 'created', data: { actor: owner.email, changed: [] } },
      {
        type: 'settings_changed',
        data: {
          actor: owner.email,
          changed: expect.arrayContaining(['name', 'timezone', 'weekly', 'monthly', 'contact', 'sections', 'welcomeEmail', 'digestTitle', 'description']),
        },
      },
    ]);
  });

  test('an editor reads the settings but cannot change them or create a list', async () => {
    const editor = await signedInEditor(app, address('editor'), 'editor');
    const page = await text(await editor.get('/lists/desk-news/settings'));
    expect(page).toContain('Only an owner can change them.');
    expect(page).not.toContain('Save the settings');
    expect((await editor.post('/lists/desk-news/settings', { name: 'Hijacked' })).status).toBe(403);
    expect((await editor.post('/lists', { slug: 'mine', name: 'Mine' })).status).toBe(403);
    expect((await editor.get('/lists/new')).status).toBe(403);
  });
});

test('home: each list with subscribers per cadence, pending, the last send and its result, the next weekly slot and its issue, the coming digest, running sends', async () => {
  const list = await app.createList('home-news', { name: 'Home News' });
  await app.test.db
    .updateTable('lists')
    .set({ weekly_slot: 'mon 09:00', monthly_slot: '1 10:00', timezone: 'Europe/Paris' })
    .where('id', '=', list.id)
    .execute();
  const withSlots = await app.test.db.selectFrom('lists').selectAll().where('id', '=', list.id).executeTakeFirstOrThrow();
  await addSubscribers(app.test.db, list.id, 3, 'home-weekly');
  await addSubscribers(app.test.db, list.id, 2, 'home-monthly', { cadence: 'monthly' });
  await addSubscribers(app.test.db, list.id, 4, 'home-pending', { status: 'pending' });
  await addSubscribers(app.test.db, list.id, 1, 'home-gone', { status: 'unsubscribed' });

  const golden = loadIssueFixture(GOLDEN_FILE);
  const put = async (slug: string, title: string) =>
    (
      await importIssue(app.test.db, {
        list: withSlots,
        issue: { ...golden, list: list.slug, slug, title, date: '2026-11-02' },
        baseDir: GOLDEN_DIR,
        dataDir: app.config.dataDir,
      })
    ).issue;
  // A finished send: 3 delivered, 1 bounced.
  const old = await put('w-old', 'The old issue');
  const done = await createSend(app.test.db, { issue: old, list: withSlots, scheduledAt: new Date('2026-11-02T08:00:00Z'), batchSize: 100 });
  await app.test.db
    .updateTable('sends')
    .set({ status: 'done', started_at: new Date('2026-11-02T08:00:00Z'), finished_at: new Date('2026-11-02T08:05:00Z') })
    .where('id', '=', done.id)
    .execute();
  const subs = await app.test.db.selectFrom('subscriptions').select('id').where('list_id', '=', list.id).where('status', '=', 'active').execute();
  await app.test.db
    .insertInto('deliveries')
    .values(subs.slice(0, 4).map((s, i) => ({ send_id: done.id, subscription_id: s.id, status: i < 3 ? ('sent' as const) : ('bounced' as const) })))
    .execute();
  // A running send: 1 of 3 sent.
  const live = await put('w-live', 'The issue going out');
  const running = await createSend(app.test.db, { issue: live, list: withSlots, scheduledAt: new Date(), batchSize: 100 });
  await app.test.db.updateTable('sends').set({ status: 'sending', started_at: new Date() }).where('id', '=', running.id).execute();
  await app.test.db
    .insertInto('deliveries')
    .values(subs.slice(0, 3).map((s, i) => ({ send_id: running.id, subscription_id: s.id, status: i < 1 ? ('sent' as const) : ('pending' as const) })))
    .execute();
  // The next weekly slot, held by an issue.
  await put('w-next', 'The next <issue>');
  await scheduleIssue(app.test.db, { list: list.slug, issue: 'w-next', when: { next: true }, now: new Date(), batchSize: 100 });

  const page = await text(await owner.get('/'));
  const card = page.slice(page.indexOf('<h2 id="list-home-news">'), page.indexOf('</section>', page.indexOf('<h2 id="list-home-news">')));
  expect(card).toContain('3 weekly · 2 monthly · 4 pending');
  expect(card).toMatch(
    new RegExp(
      `<a href="/admin/sends/${done.id}">The old issue</a>, Mon 2 Nov 2026, 09:05 \\(Europe/Paris\\): <span class="badge ok">done</span> 3 of 4 delivered, 1 not`,
    ),
  );
  expect(card).toMatch(
    /Next weekly<\/dt><dd>Mon \d+ \w+ \d{4}, 09:00 \(Europe\/Paris\): <a href="\/admin\/lists\/home-news\/issues\/w-next">The next &lt;issue&gt;<\/a>/,
  );
  expect(card).toMatch(
    /Next digest<\/dt><dd>\w+ \d{4}, goes \w+ 1 \w+ \d{4}, 10:00 \(Europe\/Paris\): (generated from \d+ weekly issues?|<strong>nothing to send<\/strong>[^·]*) · <a href="\/admin\/lists\/home-news\/digest\?month=\d{4}-\d\d">preview<\/a>/,
  );
  expect(page).toMatch(new RegExp(`Going out now.*<a href="/admin/sends/${running.id}">The issue going out</a>.*<progress max="3" value="1"`));
});

describe('API tokens', () => {
  test('made on the desk, shown once, stored hashed; they open /api/v1 as the editor beside ADMIN_TOKEN, until revoked', async () => {
    const created = await text(await owner.post('/account/tokens', { name: 'laptop <1>' }));
    const token = /<p class="secret">(bse_[A-Za-z0-9_-]+)<\/p>/.exec(created)![1]!;
    expect(created).toContain('laptop &lt;1&gt;');
    const stored = await app.test.db.selectFrom('editor_api_tokens').select(['token_hash', 'name']).execute();
    expect(stored).toEqual([{ name: 'laptop <1>', token_hash: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(await text(await owner.get('/account'))).not.toContain(token);

    const api = (bearer: string, path = '/lists', init: RequestInit = {}) =>
      fetch(`${app.baseUrl}/api/v1${path}`, {
        ...init,
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
      });
    expect((await api(token)).status).toBe(200);
    expect((await api(ADMIN_TOKEN)).status).toBe(200);
    expect((await api('bse_' + 'x'.repeat(43))).status).toBe(401);
    // A change made with the token is on the list's log under the editor's address; with ADMIN_TOKEN, 'api'.
    expect((await api(token, '/lists/desk-news', { method: 'PATCH', body: JSON.stringify({ contact: 'By token' }) })).status).toBe(200);
    expect((await api(ADMIN_TOKEN, '/lists/desk-news', { method: 'PATCH', body: JSON.stringify({ contact: 'By admin' }) })).status).toBe(200);
    const log = await app.test.db.selectFrom('list_events').select('data').where('type', '=', 'settings_changed').orderBy('id', 'desc').limit(2).execute();
    expect(log.map((e) => e.data.actor)).toEqual(['api', owner.email]);

    const id = (await app.test.db.selectFrom('editor_api_tokens').select('id').executeTakeFirstOrThrow()).id;
    expect((await owner.post(`/account/tokens/${id}/revoke`)).status).toBe(200);
    expect((await api(token)).status).toBe(401);
    expect((await api(ADMIN_TOKEN)).status).toBe(200);
  });

  test('a token needs a name', async () => {
    const res = await owner.post('/account/tokens', { name: '  ' });
    expect(res.status).toBe(200);
    expect(await text(res)).toMatch(/id="name-error".*give the token a name/);
  });
});

test("a send's log names who scheduled, moved and unscheduled it: an editor's token, ADMIN_TOKEN", async () => {
  const list = await app.test.db.selectFrom('lists').selectAll().where('slug', '=', 'home-news').executeTakeFirstOrThrow();
  const golden = loadIssueFixture(GOLDEN_FILE);
  const { issue } = await importIssue(app.test.db, {
    list,
    issue: { ...golden, list: list.slug, slug: 'w-logged', title: 'Logged', date: '2026-11-09' },
    baseDir: GOLDEN_DIR,
    dataDir: app.config.dataDir,
  });
  const token = /<p class="secret">(bse_[A-Za-z0-9_-]+)<\/p>/.exec(await text(await owner.post('/account/tokens', { name: 'scheduler' })))![1]!;
  const schedule = (bearer: string, method: string, body?: unknown) =>
    fetch(`${app.baseUrl}/api/v1/lists/home-news/issues/w-logged/schedule`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  expect((await schedule(token, 'PUT', { at: '2099-01-05T09:00' })).status).toBe(201);
  expect((await schedule(ADMIN_TOKEN, 'PUT', { at: '2099-01-12T09:00' })).status).toBe(200);
  expect((await schedule(token, 'DELETE')).status).toBe(204);
  const log = await app.test.db.selectFrom('send_events').select(['type', 'actor', 'data']).where('issue_id', '=', issue.id).orderBy('id').execute();
  expect(log).toEqual([
    { type: 'scheduled', actor: owner.email, data: { at: '2099-01-05T08:00:00.000Z' } },
    { type: 'rescheduled', actor: 'api', data: { at: '2099-01-12T08:00:00.000Z' } },
    { type: 'unscheduled', actor: owner.email, data: {} },
  ]);
});
