import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { loadGolden } from '../fixtures/golden';
import { insertIssue, smallIssue, postForm, startWorld, waitForMail, address, type World } from '../helpers/world';

// The pages that should win readers, on the whole app (real PostgreSQL, Redis and SMTP): a
// list's description and cadence lines from the admin API, the home page, the subscribe page,
// the feed with each issue's content, the web version's card tags.

const ADMIN = 'admin-token-for-front-door-tests';
const DESCRIPTION = '每月一封：**机器学习**领域值得读的论文和文章。\n\n由 [Example Press](https://example.org) 编辑。';

let app: World;
const api = (path: string, init: RequestInit = {}) =>
  fetch(`${app.baseUrl}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...init.headers } });

beforeAll(async () => {
  app = await startWorld({ app: true, list: false, env: { ADMIN_TOKEN: ADMIN } });
  const list = await app.createList('ml-news', { language: 'zh-CN', name: '机器学习月报' });
  await app.createList('plain', { name: 'Plain Letter' });
  const golden = { ...loadGolden(), slug: 'golden' };
  await insertIssue(app.test.db, list.id, smallIssue('w1', '2021-01-04', { language: 'zh-CN' }), 'done', new Date('2021-01-04T01:00:00Z'));
  await insertIssue(app.test.db, list.id, smallIssue('w2', '2021-01-11', { language: 'zh-CN' }), 'done', new Date('2021-01-11T01:00:00Z'));
  await insertIssue(app.test.db, list.id, smallIssue('w3', '2021-01-18', { language: 'zh-CN' }), 'sending', new Date('2021-01-18T01:00:00Z'));
  await insertIssue(app.test.db, list.id, golden, 'done', new Date('2021-02-28T01:00:00Z'));
  await insertIssue(app.test.db, list.id, smallIssue('secret', '2021-03-08', { title: 'Secret draft' }), 'draft');
});
afterAll(() => app.close());

describe('a list describes itself', () => {
  it('through the admin API: description, what each cadence gets, checked and cleared like every setting', async () => {
    const res = await api('/lists/ml-news', {
      method: 'PATCH',
      body: JSON.stringify({
        description: DESCRIPTION,
        weeklyDescription: '每周一早上：五篇论文，一段点评',
        monthlyDescription: '每月初：一封精选，只挑最好的',
        timezone: 'Asia/Shanghai',
        weekly: 'mon 09:00',
        monthly: '1 09:00',
      }),
    });
    expect(res.status).toBe(200);
    const { list } = (await res.json()) as { list: Record<string, unknown> };
    expect(list).toEqual(
      expect.objectContaining({
        description: DESCRIPTION,
        weeklyDescription: '每周一早上：五篇论文，一段点评',
        monthlyDescription: '每月初：一封精选，只挑最好的',
      }),
    );

    const bad = await api('/lists/plain', { method: 'PATCH', body: JSON.stringify({ description: 'x'.repeat(1001), weeklyDescription: 'two\nlines' }) });
    expect(bad.status).toBe(400);
    const { error } = (await bad.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('invalid_input');
    expect(error.message).toMatch(/description: must be at most 1,000 characters/);
    expect(error.message).toMatch(/weeklyDescription: must be one line of at most 200 characters/);

    await api('/lists/plain', { method: 'PATCH', body: JSON.stringify({ description: 'Short-lived.' }) });
    const cleared = await api('/lists/plain', { method: 'PATCH', body: JSON.stringify({ description: null }) });
    expect(((await cleared.json()) as { list: { description: unknown } }).list.description).toBeNull();
  });
});

describe('the home page', () => {
  let page: string;
  beforeAll(async () => {
    page = await (await fetch(`${app.baseUrl}/`, { headers: { 'accept-language': 'en' } })).text();
  });
  const section = (slug: string) => new RegExp(`<section [^>]*aria-labelledby="${slug}-title">[\\s\\S]*?</section>`).exec(page)![0];

  it('shows each list in its own language: description, how often it comes, latest issue', () => {
    const ml = section('ml-news');
    expect(ml).toMatch(/^<section class="card" role="listitem" lang="zh-CN"/);
    expect(ml).toContain('<strong>机器学习</strong>');
    expect(ml).toContain('<a href="https://example.org">Example Press</a>');
    expect(ml).toContain('每星期一 09:00（中国标准时间）');
    expect(ml).toContain('每月 1 日 09:00（中国标准时间）');
    expect(ml).toContain('每周一早上：五篇论文，一段点评');
    expect(ml).toContain('每月初：一封精选，只挑最好的');
    // The latest sent issue, newest by date; never the draft.
    expect(ml).toContain('<a href="/lists/ml-news/archive/golden">机器学习总结；2021 年 2 月</a>');
    expect(ml).toContain('<time class="muted" datetime="2021-02-28">2021年2月28日</time>');
    expect(page).not.toContain('Secret');

    const plain = section('plain');
    expect(plain).toContain('lang="en"');
    expect(plain).toContain('Whenever an issue is ready');
    expect(plain).toContain('The first issue is on its way.');
  });

  it('has a subscribe form per list, each posting where the subscribe page does, with its own ids', () => {
    const ml = section('ml-news');
    expect(ml).toContain('<form method="post" action="/lists/ml-news/subscribe" novalidate>');
    expect(ml).toContain('id="ml-news-email" name="email" type="email"');
    expect(ml).toContain('id="ml-news-cadence-monthly" name="cadence" value="monthly"');
    expect(section('plain')).toContain('id="plain-email" name="email"');
    // Every list's feed is announced in the head.
    expect(page).toMatch(
      /<head>[\s\S]*<link rel="alternate" type="application\/atom\+xml" title="机器学习月报" href="\/lists\/ml-news\/feed.xml">[\s\S]*<\/head>/,
    );
    expect(page).toContain('href="/lists/plain/feed.xml"');
    expect(page).not.toContain('noindex');
  });

  it('subscribes from its form with the same rules: a pending subscription and a confirmation email', async () => {
    const email = address('home');
    const res = await postForm(`${app.baseUrl}/lists/ml-news/subscribe`, { email, cadence: 'monthly', website: '' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('请查收邮件');
    await waitForMail(app.smtp, email, /确认/);
    const row = await app.test.db
      .selectFrom('subscriptions as s')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .select(['s.status', 's.cadence'])
      .where('p.email', '=', email)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'pending', cadence: 'monthly' });
    // A bad address is the subscribe page again, with the error and the list's description.
    const bad = await postForm(`${app.baseUrl}/lists/ml-news/subscribe`, { email: 'not-an-address', cadence: 'weekly' });
    expect(bad.status).toBe(400);
    const again = await bad.text();
    expect(again).toContain('aria-invalid="true"');
    expect(again).toContain('<strong>机器学习</strong>');
  });
});

describe('the subscribe page', () => {
  it('describes the list, explains both cadences, links the three latest issues, the archive and the feed', async () => {
    const res = await fetch(`${app.baseUrl}/lists/ml-news`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('<strong>机器学习</strong>');
    expect(page).toMatch(/id="cadence-weekly-hint">每周一早上：五篇论文，一段点评<br>每星期一 09:00（中国标准时间）</);
    expect(page).toMatch(/id="cadence-monthly-hint">每月初：一封精选，只挑最好的<br>每月 1 日 09:00（中国标准时间）</);
    const latest = [...page.matchAll(/<li><a href="\/lists\/ml-news\/archive\/([a-z0-9-]+)">/g)].map((m) => m[1]);
    expect(latest).toEqual(['golden', 'w3', 'w2']);
    expect(page).toContain('href="/lists/ml-news/archive"');
    expect(page).toContain('href="/lists/ml-news/feed.xml" type="application/atom+xml"');
    expect(page).toMatch(/<head>[\s\S]*<link rel="alternate" type="application\/atom\+xml"[^>]*href="\/lists\/ml-news\/feed.xml">[\s\S]*<\/head>/);
    expect(page).not.toContain('Secret');
  });

  it('the archive page announces the feed too', async () => {
    const page = await (await fetch(`${app.baseUrl}/lists/ml-news/archive`)).text();
    expect(page).toMatch(/<head>[\s\S]*<link rel="alternate" type="application\/atom\+xml"[^>]*href="\/lists\/ml-news\/feed.xml">[\s\S]*<\/head>/);
  });
});

describe('the feed', () => {
  type Entry = { id: string; content: { '@type': string; '#text': string }; summary?: unknown };
  let doc: { feed: { subtitle: string; entry: Entry[] } };
  beforeAll(async () => {
    const xml = await (await fetch(`${app.baseUrl}/lists/ml-news/feed.xml`)).text();
    expect(XMLValidator.validate(xml)).toBe(true);
    doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' }).parse(xml);
  });

  it("has the list's description as its subtitle, in plain text", () => {
    expect(doc.feed.subtitle).toBe('每月一封：机器学习领域值得读的论文和文章。 由 Example Press 编辑。');
  });

  it('carries every issue whole, as HTML: every section and story, images with absolute URLs, no personal link', () => {
    const golden = loadGolden();
    const entries = doc.feed.entry;
    expect(entries.map((e) => e.id.replace(/.*\//, ''))).toEqual(['golden', 'w3', 'w2', 'w1']);
    for (const entry of entries) {
      expect(entry.content['@type']).toBe('html');
      expect(entry.content['#text']).not.toMatch(/\/(preferences|unsubscribe)\/|%%bs-|你好|因此收到这封邮件/);
    }
    const content = entries[0]!.content['#text'];
    for (const section of golden.sections) {
      expect(content).toContain(section.title);
      for (const item of section.items) expect(content).toContain(`>${item.title.replace(/&/g, '&amp;')}</a></h3>`);
    }
    expect(content).toContain(golden.callToAction!.title);
    const images = [...content.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThan(0);
    for (const src of images) expect(src).toMatch(/^https?:\/\//);
    expect(images).toContain(`${app.baseUrl}/assets/ml-news/golden/images/dalle.png`);
    expect(entries[3]!.content['#text']).toContain('Story of w1');
  });
});

describe('the feed, built once and again on change', () => {
  it('shows a newly sent issue and a new description at once, though the built feed is kept', async () => {
    const before = await (await fetch(`${app.baseUrl}/lists/ml-news/feed.xml`)).text();
    expect(await (await fetch(`${app.baseUrl}/lists/ml-news/feed.xml`)).text()).toBe(before);
    const list = await app.test.db.selectFrom('lists').select('id').where('slug', '=', 'ml-news').executeTakeFirstOrThrow();
    await insertIssue(app.test.db, list.id, smallIssue('w9', '2021-03-01', { title: 'Fresh issue' }), 'sending', new Date('2021-03-01T01:00:00Z'));
    await api('/lists/ml-news', { method: 'PATCH', body: JSON.stringify({ description: 'A new *about* line.' }) });
    const after = await (await fetch(`${app.baseUrl}/lists/ml-news/feed.xml`)).text();
    expect(after).toContain('Fresh issue');
    expect(after).toContain('<subtitle>A new about line.</subtitle>');
    await api('/lists/ml-news', { method: 'PATCH', body: JSON.stringify({ description: DESCRIPTION }) });
  });
});

describe('the web version', () => {
  it('carries the Open Graph and Twitter card tags and the feed link', async () => {
    const page = await (await fetch(`${app.baseUrl}/lists/ml-news/archive/golden`)).text();
    const head = /<head>[\s\S]*<\/head>/.exec(page)![0];
    expect(head).toContain('<meta property="og:title" content="机器学习总结；2021 年 2 月">');
    expect(head).toContain(`<meta property="og:image" content="${app.baseUrl}/assets/ml-news/golden/images/dalle.png">`);
    expect(head).toContain(`<meta property="og:url" content="${app.baseUrl}/lists/ml-news/archive/golden">`);
    expect(head).toMatch(/<meta property="og:description" content="DALL-E 论文发表/);
    expect(head).toContain('<meta name="twitter:card" content="summary_large_image">');
    expect(head).toContain(`<link rel="alternate" type="application/atom+xml" title="机器学习月报" href="${app.baseUrl}/lists/ml-news/feed.xml">`);
  });
});
