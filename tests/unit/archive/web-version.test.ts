import { cardTags, renderWebVersion } from '../../../src/archive/web-version';
import { t } from '../../../src/i18n';
import { issueView, renderIssue } from '../../../src/issues/render';
import { loadTemplates } from '../../../src/issues/templates';
import type { Issue } from '../../../src/issues/types';
import { compilePersonalization } from '../../../src/mail/personalize';
import { goldenContext, loadGolden } from '../../fixtures/golden';

// What makes an email personal, and what a visitor of the web version must therefore never see:
// the greeting with the reader's name, why they get it ("because you subscribed"), and their own
// preferences and unsubscribe links. The email keeps all of them.

const templates = loadTemplates();
const golden = loadGolden();
const PUBLIC = 'http://localhost:3000';
const PREFS = `${PUBLIC}/preferences/pref-token-of-anna-0123456789`;
const UNSUB = `${PUBLIC}/unsubscribe/unsub-token-of-anna-0123456789`;
const list = {
  slug: 'ml-news',
  name: '机器学习月报',
  language: 'zh-CN',
  contact: 'Broadsheet · 1 Example Street · Berlin',
  description: '每月一封：**机器学习**领域值得读的论文。',
};

/** The personal lines and links of the email, in the issue's language. */
function personalBits(lang: 'zh-CN' | 'en', listName: string) {
  return {
    greeting: t(lang, 'issue.greeting', { name: 'Anna', open: '', close: '' }),
    why: t(lang, 'issue.why.weekly', { list: listName }),
    preferences: `>${t(lang, 'email.footer.preferences')}</a>`,
    unsubscribe: `>${t(lang, 'email.footer.unsubscribe')}</a>`,
  };
}

async function emailFor(issue: Issue, ctx = goldenContext(issue)): Promise<string> {
  const rendered = await renderIssue(issue, ctx, templates);
  return compilePersonalization(rendered.html).fill({ name: 'Anna', preferences_url: PREFS, unsubscribe_url: UNSUB, web_url: 'unused' }, 'html');
}

/** The text of every link, tags stripped and spaces collapsed. */
function linkTexts(html: string): string[] {
  return [...html.matchAll(/<a\b[^>]*>([\s\S]*?)<\/a>/g)].map((m) =>
    m[1]!
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
  );
}

describe('the email keeps what is personal', () => {
  it('greets the reader, says why they get it, and carries their own preferences and unsubscribe links', async () => {
    const email = await emailFor(golden);
    const bits = personalBits('zh-CN', '机器学习月报');
    expect(email).toContain('Anna，你好！');
    expect(email).toContain(bits.why);
    expect(email).toContain(bits.preferences);
    expect(email).toContain(bits.unsubscribe);
    expect(email).toContain(`href="${PREFS}"`);
    expect(email).toContain(`href="${UNSUB}"`);
  });
});

describe('the web version, for a visitor', () => {
  let page: string;
  beforeAll(async () => {
    page = await renderWebVersion({ issue: golden, list, publicUrl: PUBLIC }, templates);
  });

  it('has none of the personal lines or links of the email', () => {
    const bits = personalBits('zh-CN', '机器学习月报');
    expect(page).not.toContain('你好！');
    expect(page).not.toContain(bits.why);
    expect(page).not.toContain('因此收到这封邮件');
    expect(page).not.toContain(bits.preferences);
    expect(page).not.toContain(bits.unsubscribe);
    expect(page).not.toMatch(/\/(preferences|unsubscribe)\b/);
    expect(page).not.toMatch(/%%bs-/);
  });

  it('shows the whole issue, then a clear subscribe call with the form, and a forward link named by the title', () => {
    for (const section of golden.sections) expect(page).toContain(section.title);
    expect(page).toContain(t('zh-CN', 'web.subscribe.title', { list: '机器学习月报' }));
    expect(page).toMatch(
      /<section id="subscribe"[\s\S]*<form method="post" action="\/lists\/ml-news\/subscribe">[\s\S]*name="email"[\s\S]*name="cadence" value="monthly"/,
    );
    // The list's description, rendered from its Markdown.
    expect(page).toContain('<strong>机器学习</strong>');
    const forward = /<aside aria-labelledby="forward-title"[\s\S]*?<\/aside>/.exec(page)![0];
    expect(linkTexts(forward)).toEqual([golden.title]);
    expect(forward).toContain(`href="${PUBLIC}/lists/ml-news/archive/2021-02"`);
  });

  it('names no link by a bare host name', () => {
    const bare = linkTexts(page).filter((text) => /^(localhost|\d+\.\d+\.\d+\.\d+|[a-z0-9-]+(\.[a-z0-9-]+)+)(:\d+)?$/i.test(text));
    expect(bare).toEqual([]);
  });

  it('carries Open Graph and Twitter card tags with an absolute first image, and the feed link', () => {
    const meta = (key: string) => new RegExp(`<meta (?:property|name)="${key}" content="([^"]*)">`).exec(page)?.[1];
    expect(meta('og:title')).toBe(golden.title);
    expect(meta('og:description')).toBe(golden.preheader);
    expect(meta('og:type')).toBe('article');
    expect(meta('og:url')).toBe(`${PUBLIC}/lists/ml-news/archive/2021-02`);
    expect(meta('og:image')).toBe(`${PUBLIC}/assets/ml-news/2021-02/images/dalle.png`);
    expect(meta('og:locale')).toBe('zh_CN');
    expect(meta('twitter:card')).toBe('summary_large_image');
    expect(meta('twitter:image')).toBe(meta('og:image'));
    expect(page).toMatch(
      /<head>[\s\S]*<link rel="alternate" type="application\/atom\+xml" title="机器学习月报" href="http:\/\/localhost:3000\/lists\/ml-news\/feed.xml">[\s\S]*<\/head>/,
    );
  });
});

describe('card tags', () => {
  it('without an image: a summary card, and no image tag', () => {
    const issue: Issue = { ...golden, sections: [{ id: 'a', title: 'A', items: [{ title: 'No picture', url: 'https://example.com/x' }] }] };
    const tags = cardTags(issueView(issue, goldenContext(issue, { audience: 'visitor' })), 'About "this" & that');
    expect(tags).toContain('<meta name="twitter:card" content="summary">');
    expect(tags).not.toContain('og:image');
    // Values are attributes: escaped.
    expect(tags).toContain('<meta property="og:description" content="About &quot;this&quot; &amp; that">');
  });

  it('an English list: the web version has no English personal line either', async () => {
    const issue: Issue = { ...golden, language: 'en' };
    const en = { ...list, name: 'ML News', language: 'en' };
    const html = await renderWebVersion({ issue, list: en, publicUrl: PUBLIC }, templates);
    const email = await emailFor(issue, goldenContext(issue, { list: en }));
    const bits = personalBits('en', 'ML News');
    expect(email).toContain('Hi Anna,');
    for (const bit of [bits.why, bits.preferences, bits.unsubscribe]) {
      expect(email).toContain(bit);
      expect(html).not.toContain(bit);
    }
    // Not even a nameless "Hi,".
    expect(html).not.toMatch(/>\s*Hi[ ,]/);
  });
});
