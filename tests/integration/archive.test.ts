import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { loadGolden } from '../fixtures/golden';
import { smallIssue, startWorld, type World } from '../helpers/world';

describe('the web archive and its feed', () => {
  let app: World;

  beforeAll(async () => {
    app = await startWorld({ app: true, workers: false });
    await app.addIssue(smallIssue('w1', '2021-02-01'), 'done', new Date('2021-02-01T01:00:00Z'));
    await app.addIssue(smallIssue('w2', '2021-02-08'), 'sending', new Date('2021-02-08T01:00:00Z'));
    await app.addIssue(smallIssue('w3', '2021-02-15'), 'paused', new Date('2021-02-15T01:00:00Z'));
    await app.addIssue({ ...loadGolden(), slug: 'golden' }, 'done', new Date('2021-02-28T01:00:00Z'));
    await app.addIssue(
      { ...smallIssue('digest-2021-02', '2021-02-28', { kind: 'digest', title: 'February digest' }), covers: ['w1', 'w2', 'draft-1'] },
      'done',
      new Date('2021-03-01T01:00:00Z'),
    );
    // Never public: a draft, a scheduled issue, one cancelled before it started, one being planned.
    await app.addIssue(smallIssue('draft-1', '2021-02-20', { title: 'Secret draft' }), 'draft');
    await app.addIssue(smallIssue('later', '2021-03-08', { title: 'Secret scheduled' }), 'scheduled');
    await app.addIssue(smallIssue('dropped', '2021-02-22', { title: 'Secret cancelled' }), 'cancelled');
    await app.addIssue(smallIssue('planning', '2021-03-09', { title: 'Secret planning' }), 'planning');
  });

  afterAll(() => app?.close());

  it('lists sent issues newest first, and nothing unsent', async () => {
    const res = await fetch(`${app.baseUrl}/lists/ml-news/archive`);
    expect(res.status).toBe(200);
    const page = await res.text();
    const slugs = [...page.matchAll(/href="\/lists\/ml-news\/archive\/([a-z0-9-]+)"/g)].map((m) => m[1]);
    expect(slugs).toEqual(['digest-2021-02', 'golden', 'w3', 'w2', 'w1']);
    expect(page).not.toMatch(/Secret/);
    // Titles are text, never markup.
    expect(page).toContain('Issue w1 &lt;b&gt;&amp; co&lt;/b&gt;');
  });

  it('serves the web version: the compiled email with neutral links and a subscribe form', async () => {
    const res = await fetch(`${app.baseUrl}/lists/ml-news/archive/golden`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const page = await res.text();
    expect(page).toContain('机器学习总结；2021 年 2 月');
    expect(page).toContain(`${app.baseUrl}/assets/ml-news/golden/images/dalle.png`);
    expect(page).toMatch(/<form method="post" action="\/lists\/ml-news\/subscribe">/);
    // A browser asks for /favicon.ico unless told otherwise: a 404 in every reader's console.
    expect(page).toMatch(/<head>[\s\S]*<link rel="icon" href="data:,">[\s\S]*<\/head>/);
    // No personalization marker left, and no personal link at all (tests/integration/
    // web-version-visitor.test.ts holds the whole list of what a visitor must not see).
    expect(page).not.toMatch(/%%bs-/);
    expect(page).not.toMatch(/\/(unsubscribe|preferences)/);
  });

  it("shows a digest's weeklies with their titles and links, only the public ones", async () => {
    const page = await (await fetch(`${app.baseUrl}/lists/ml-news/archive/digest-2021-02`)).text();
    const linked = [...page.matchAll(/href="[^"]*\/lists\/ml-news\/archive\/([a-z0-9-]+)"[^>]*>([^<]*)</g)].map((m) => [m[1], m[2]]);
    expect(linked).toEqual(
      expect.arrayContaining([
        ['w1', 'Issue w1 &lt;b&gt;&amp; co&lt;/b&gt;'],
        ['w2', 'Issue w2 &lt;b&gt;&amp; co&lt;/b&gt;'],
      ]),
    );
    // The draft it names is neither linked nor titled on a public page.
    expect(page).not.toContain('draft-1');
    expect(page).not.toMatch(/Secret/);
  });

  it('answers 404 for a draft, a scheduled, a cancelled or an unknown issue, and an unknown list', async () => {
    for (const path of ['archive/draft-1', 'archive/later', 'archive/dropped', 'archive/planning', 'archive/nope']) {
      const res = await fetch(`${app.baseUrl}/lists/ml-news/${path}`);
      expect([path, res.status]).toEqual([path, 404]);
      expect(await res.text()).not.toMatch(/Secret/);
    }
    expect((await fetch(`${app.baseUrl}/lists/nope/archive`)).status).toBe(404);
    expect((await fetch(`${app.baseUrl}/lists/nope/feed.xml`)).status).toBe(404);
  });

  it('publishes an Atom feed of the sent issues that parses', async () => {
    const res = await fetch(`${app.baseUrl}/lists/ml-news/feed.xml`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/atom\+xml/);
    const xml = await res.text();
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' }).parse(xml);
    expect(doc.feed['@xmlns']).toBe('http://www.w3.org/2005/Atom');
    expect(doc.feed.title).toBe('机器学习月报');
    const entries = doc.feed.entry as Array<{ title: { '#text': string; '@type': string }; id: string; link: { '@href': string }; updated: string }>;
    expect(entries.map((e) => e.link['@href'])).toEqual(['digest-2021-02', 'golden', 'w3', 'w2', 'w1'].map((s) => `${app.baseUrl}/lists/ml-news/archive/${s}`));
    // Titles are HTML-typed in Atom: the text arrives escaped, so a reader shows it as written.
    expect(entries.find((e) => e.id.endsWith('/w1'))!.title).toEqual({ '@type': 'html', '#text': 'Issue w1 &lt;b&gt;&amp; co&lt;/b&gt;' });
    expect(entries.find((e) => e.id.endsWith('/w1'))!.updated).toBe('2021-02-01T01:00:00.000Z');
    expect(xml).not.toMatch(/Secret/);
  });

  it('the home page lists the lists with their subscribe and archive links', async () => {
    const res = await fetch(`${app.baseUrl}/`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('机器学习月报');
    expect(page).toContain('href="/lists/ml-news"');
    expect(page).toContain('href="/lists/ml-news/archive"');
  });
});
