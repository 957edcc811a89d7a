import { deskRoutes } from '../../src/desk/routes';
import { PUBLIC_DESK_ROUTES } from '../../src/desk/sign-in';
import { addEditor } from '../../src/editors/service';
import { importIssue } from '../../src/issues/repository';
import { GOLDEN_DIR, GOLDEN_FILE, loadIssueFixture } from '../fixtures/golden';
import { cookiesFrom, csrfIn, deskClient, signedInEditor, signInWithLink, type DeskClient } from '../helpers/desk';
import { fillPath, routesOf } from '../helpers/routes';
import { address, startWorld, waitForMail, type World } from '../helpers/world';
import { parseMail } from '../../src/mail/capture';

/**
 * The desk's doors: every route refuses a visitor without a session, every POST refuses a
 * request without the session's CSRF token, and list names and issue titles are escaped on
 * every page. The routes are read off the desk's router, so a page added later is checked too.
 */

const EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>';
let app: World;
let owner: DeskClient;
let routes: Array<[string, string]>;
let params: Record<string, string>;

beforeAll(async () => {
  app = await startWorld({ app: true, list: false });
  const list = await app.createList('evil-list', { name: `News ${EVIL}`, sections: [{ id: 'ai', title: `AI ${EVIL}` }] });
  const golden = loadIssueFixture(GOLDEN_FILE);
  const { issue } = await importIssue(app.test.db, {
    list,
    issue: { ...golden, list: list.slug, slug: 'evil-issue', title: `Issue ${EVIL}` },
    baseDir: GOLDEN_DIR,
    dataDir: app.config.dataDir,
  });
  owner = await signedInEditor(app, address('owner'), 'owner');
  const editor = await app.test.db.selectFrom('editors').select('id').executeTakeFirstOrThrow();
  // Example values for every route parameter of the desk. A new parameter name fails the test
  // (fillPath) until it gets one here.
  params = {
    slug: list.slug,
    list: list.slug,
    issue: issue.slug,
    id: editor.id,
    sendId: issue.id,
    subscription: editor.id,
    month: '2026-11',
    token: 'x',
    splat: 'x',
  };
  routes = routesOf(deskRoutes({ config: app.config, db: app.test.db, redis: app.redis, queues: app.queues }));
}, 60_000);
afterAll(() => app.close());

const isPublic = ([method, path]: [string, string]) => PUBLIC_DESK_ROUTES.some(([m, p]) => m === method && p === path);

test('the route list is read off the router (it holds the pages this file knows)', () => {
  expect(routes).toEqual(
    expect.arrayContaining([
      ['get', '/'],
      ['get', '/editors'],
      ['post', '/editors'],
      ['get', '/account'],
      ['post', '/sign-out'],
      ['get', '/sign-in/:token'],
    ]),
  );
  expect(routes.filter(isPublic)).toHaveLength(PUBLIC_DESK_ROUTES.length);
});

test('every desk route refuses a visitor without a session: a page sends them to sign in, anything else is 401', async () => {
  const protectedRoutes = routes.filter((r) => !isPublic(r));
  expect(protectedRoutes.length).toBeGreaterThan(5);
  for (const [method, path] of protectedRoutes) {
    const url = `${app.baseUrl}/admin${fillPath(path, params)}`;
    const res = await fetch(url, {
      method: method.toUpperCase(),
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      body: method === 'get' ? undefined : '',
      redirect: 'manual',
    });
    const body = await res.text();
    if (method === 'get') {
      expect([`${method} ${path}`, res.status, res.headers.get('location')]).toEqual([`${method} ${path}`, 303, '/admin/sign-in']);
    } else {
      expect([`${method} ${path}`, res.status]).toEqual([`${method} ${path}`, 401]);
    }
    expect(body).not.toContain('News <script>');
  }
  // A forged or stale cookie is no session either; nor is the static folder open.
  const forged = await fetch(`${app.baseUrl}/admin`, { headers: { accept: 'text/html', cookie: 'broadsheet_desk=AAAA' }, redirect: 'manual' });
  expect(forged.status).toBe(303);
  expect((await fetch(`${app.baseUrl}/admin/static/anything.js`, { redirect: 'manual' })).status).toBe(303);
  expect((await fetch(`${app.baseUrl}/admin/editors`, { headers: { accept: 'application/json' } })).status).toBe(401);
});

test("every desk POST refuses a request without the CSRF token, or with another session's", async () => {
  const other = await signedInEditor(app, address('other'), 'owner');
  for (const [method, path] of routes.filter(([m]) => m !== 'get')) {
    const target = fillPath(path, params);
    // Public sign-in forms carry a token too (tied to a cookie of the browser, not a session).
    const without = await owner.post(target, { _csrf: '' });
    expect([`${method} ${path}`, without.status]).toEqual([`${method} ${path}`, 403]);
    const foreign = await owner.post(target, { _csrf: other.csrf });
    expect([`${method} ${path}`, foreign.status]).toEqual([`${method} ${path}`, 403]);
  }
  // The page says why, in the desk's frame, without a stack trace.
  const page = await (await owner.post('/account/tokens', { _csrf: '', name: 'x' })).text();
  expect(page).toMatch(/out of date or came from another site/);
  expect(page).not.toMatch(/\n\s+at /);
});

test('list names and issue titles are escaped on every desk page', async () => {
  const pages = routes.filter(([method, path]) => method === 'get' && !isPublic([method, path]));
  for (const [, path] of pages) {
    const res = await owner.get(fillPath(path, params));
    const body = await res.text();
    expect([path, body.includes('<script>alert'), body.includes('<img src=x')]).toEqual([path, false, false]);
    expect([path, res.status < 500]).toEqual([path, true]);
    if (res.headers.get('content-type')?.startsWith('text/html')) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect([path, /script-src[^;]*'unsafe-inline'/.test(csp), /default-src 'none'/.test(csp)]).toEqual([path, false, true]);
    }
  }
  // The home page does name the list, escaped.
  const home = await (await owner.get('/')).text();
  expect(home).toContain('News &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
});

describe('sign-in by link', () => {
  test('the GET shows a button and uses nothing; the POST signs in once; the cookie is HttpOnly, SameSite=Lax, scoped to /admin', async () => {
    const email = address('ed');
    const { link } = await addEditor({ db: app.test.db, config: app.config }, { email, role: 'editor' });
    expect(link).toMatch(new RegExp(`^${app.baseUrl}/admin/sign-in/sign-in\\.`));
    // Mail scanners follow links: two GETs leave the link usable.
    for (let i = 0; i < 2; i++) {
      const page = await fetch(link);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(`Sign in as <strong>${email}</strong>`);
    }
    const { cookie, response } = await signInWithLink(link);
    expect([response.status, response.headers.get('location')]).toEqual([303, '/admin']);
    const session = response.headers.getSetCookie().find((c) => c.startsWith('broadsheet_desk='))!;
    expect(session).toMatch(/; Path=\/admin; HttpOnly; SameSite=Lax$/); // http here: no Secure
    const home = await fetch(`${app.baseUrl}/admin`, { headers: { cookie } });
    expect(home.status).toBe(200);
    expect(await home.text()).toContain(email);
    // Only the hash of the cookie is stored.
    const stored = await app.test.db.selectFrom('editor_sessions').select('token_hash').execute();
    const value = /broadsheet_desk=([^;]+)/.exec(cookie)![1]!;
    expect(stored.map((s) => s.token_hash)).not.toContain(value);

    // One use: the same link again is refused, and its page says so.
    const again = await signInWithLink(link);
    expect(again.response.status).toBe(410);
    expect(again.cookie).not.toMatch(/broadsheet_desk=/);
    const reused = await fetch(link);
    expect([reused.status, /used already/.test(await reused.text())]).toEqual([410, true]);

    // An editor (not an owner) cannot manage editors.
    const client = deskClient(app.baseUrl, email, cookie, csrfIn(await (await fetch(`${app.baseUrl}/admin`, { headers: { cookie } })).text()));
    expect((await client.get('/editors')).status).toBe(403);
    expect((await client.post('/editors', { email: address('x') })).status).toBe(403);

    // Sign-out ends the session on the server, not only in this browser.
    const out = await client.post('/sign-out');
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie().join()).toMatch(/broadsheet_desk=; .*Max-Age=0/);
    expect((await client.get('/')).status).toBe(303);
  });

  test('an expired link or session lets nobody in', async () => {
    const email = address('late');
    const { link } = await addEditor({ db: app.test.db, config: app.config }, { email });
    await app.test.db
      .updateTable('editor_sign_in_links')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .execute();
    const page = await fetch(link);
    expect([page.status, /out of date/.test(await page.text())]).toEqual([410, true]);

    const client = await signedInEditor(app, address('session'), 'editor');
    expect((await client.get('/')).status).toBe(200);
    await app.test.db
      .updateTable('editor_sessions')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .execute();
    expect((await client.get('/')).status).toBe(303);
  });

  test('"email me a link" mails one to an editor, and answers the same for an unknown address', async () => {
    const email = address('mailed');
    await addEditor({ db: app.test.db, config: app.config, queues: app.queues }, { email });
    const first = await waitForMail(app.smtp, email, /sign-in link/);
    const printed = (await parseMail(first)).text!;
    expect(printed).toMatch(/\/admin\/sign-in\/sign-in\./);

    const page = await fetch(`${app.baseUrl}/admin/sign-in`);
    const cookie = cookiesFrom(page);
    const csrf = csrfIn(await page.text());
    const ask = (who: string) =>
      fetch(`${app.baseUrl}/admin/sign-in`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ _csrf: csrf, email: who }),
      });
    const known = await ask(email);
    const unknown = await ask(address('nobody'));
    const knownText = (await known.text()).replace(email, 'ADDRESS');
    const unknownText = (await unknown.text()).replace(/[^\s>]+@example\.org/, 'ADDRESS');
    expect([known.status, unknown.status]).toEqual([200, 200]);
    expect(knownText).toBe(unknownText);
    const second = await waitForMail(app.smtp, email, /sign-in link/, 2);
    const link = /https?:\/\/\S+\/admin\/sign-in\/\S+/.exec((await parseMail(second)).text!)![0];
    expect((await signInWithLink(link)).response.status).toBe(303);
  });

  test('sign-in attempts are rate-limited per client', async () => {
    const page = await fetch(`${app.baseUrl}/admin/sign-in`);
    const cookie = cookiesFrom(page);
    const csrf = csrfIn(await page.text());
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const res = await fetch(`${app.baseUrl}/admin/sign-in`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ _csrf: csrf, email: address('flood') }),
      });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        break;
      }
    }
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(20);
  });
});
