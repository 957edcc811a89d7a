import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HtmlValidate } from 'html-validate';
import stringWidth from 'string-width';
import { compileIssueFile } from '../../../src/issues/compile-file';
import { compilePersonalization, type TokenName } from '../../../src/mail/personalize';
import { numberedByEditor, renderIssue, type RenderContext, type RenderedIssue } from '../../../src/issues/render';
import { loadTemplates } from '../../../src/issues/templates';
import type { Issue } from '../../../src/issues/types';
import { validateIssue, validateIssueFile } from '../../../src/issues/validate';
import { DIGEST_FILE, GOLDEN_FILE, goldenContext, loadDigest, loadGolden } from '../../fixtures/golden';

/**
 * Issue 9, "the email as a reader sees it", and the digest points of issue 7: each describe
 * holds the tests of one defect, and each failed on the code before the fix.
 */

const templates = loadTemplates();

const VALUES: Record<TokenName, string> = {
  name: 'Anna',
  preferences_url: 'http://localhost:3000/preferences/tok',
  unsubscribe_url: 'http://localhost:3000/unsubscribe/tok',
  web_url: 'http://localhost:3000/lists/ml-news/archive/x',
};

async function render(issue: Issue, overrides: Partial<RenderContext> = {}): Promise<{ rendered: RenderedIssue; html: string; text: string }> {
  const rendered = await renderIssue(issue, goldenContext(issue, overrides), templates);
  return {
    rendered,
    html: compilePersonalization(rendered.html).fill(VALUES, 'html'),
    text: compilePersonalization(rendered.text).fill(VALUES, 'text'),
  };
}

const imgTags = (html: string) => html.match(/<img\b[^>]*>/g) ?? [];
const h2s = (html: string) =>
  [...html.matchAll(/<h2 id="s-[^"]*"[^>]*>(.*?)<\/h2>/g)].map((m) => (m[1] as string).replace(/<[^>]+>/g, '').replace(/&nbsp;/g, ' '));

describe('1. sections the editor numbered are not numbered again', () => {
  it('knows a numbered title when it sees one', () => {
    for (const title of ['1. Featured', '1.本月特稿/新闻', '02) Papers', '3、用例', '04 — Tools', 'IV. Odds', '（一）概述', '第三章 论文']) {
      expect([title, numberedByEditor(title)]).toEqual([title, true]);
    }
    for (const title of ['Features', '1.5 billion parameters', '2021: the year', '3D printing', 'Civil: rights', 'I am here', '10 things']) {
      expect([title, numberedByEditor(title)]).toEqual([title, false]);
    }
  });

  it('shows "1. Featured" once in the heading, the contents and the text part', async () => {
    const { html, text } = await render(loadDigest());
    expect(h2s(html)).toEqual(['1. Featured', '2. Papers', '3. Tools', '4. Odds and ends']);
    expect(html).toContain('<a href="#s-featured">1. Featured</a>');
    expect(html).not.toMatch(/1\.\s*1\. Featured|01\s*1\. Featured/);
    expect(text).toContain('\n1. Featured\n-----------\n');
    expect(text).not.toContain('1. 1. Featured');
  });

  it('still numbers sections whose titles carry no number, and the contents with them', async () => {
    const { html, text } = await render(loadGolden());
    expect(h2s(html)[0]).toBe('01  本月特稿/新闻');
    expect(html).toContain('<a href="#s-features">1. 本月特稿/新闻</a>');
    expect(text).toContain('\n1. 本月特稿/新闻\n');
  });
});

describe("2. the list's name, never its slug", () => {
  it('shows the name and contact line of ctx.list in the header and the footer', async () => {
    const list = { slug: 'ml-news', name: 'Machine Learning Monthly', language: 'en', contact: 'Example Press · 1 Main Street · Berlin' };
    const { html, text } = await render(loadDigest(), { list });
    expect(html).toMatch(/<td style="font-weight:700;color:#1f1f1f;">Machine Learning Monthly<\/td>/);
    expect(html).toContain('You receive the monthly digest of Machine Learning Monthly because you subscribed to it.');
    expect(text.startsWith('Machine Learning Monthly\n')).toBe(true);
    expect(html).not.toMatch(/>ml-news</);
    expect(html).not.toMatch(/「ml-news」| of ml-news /);
  });

  it('compileIssueFile takes name and contact from the list source, else shows placeholders and says why', async () => {
    const list = { slug: 'ml-news', name: '机器学习月报', language: 'zh-CN', contact: 'Example Press · Berlin' };
    const found = await compileIssueFile(GOLDEN_FILE, { publicUrl: 'http://localhost:3000', listSource: async () => ({ list }) });
    if (!found.ok) throw new Error('golden issue did not compile');
    expect(found.listFallback).toBeUndefined();
    expect(found.html).toContain('你订阅了「机器学习月报」的每周版');
    expect(found.html).toContain('Example Press · Berlin');

    const offline = await compileIssueFile(GOLDEN_FILE, {
      publicUrl: 'http://localhost:3000',
      listSource: async () => ({ missing: 'the database could not be read (connect ECONNREFUSED)' }),
    });
    if (!offline.ok) throw new Error('golden issue did not compile');
    expect(offline.listFallback).toMatch(/ECONNREFUSED/);
    expect(offline.html).not.toMatch(/>ml-news<|「ml-news」/);
    expect(offline.html).toContain('[list name]');
    expect(offline.text).not.toMatch(/^ml-news$/m);
  });
});

describe('3. no empty footer line', () => {
  it('leaves the contact paragraph out when the list has no contact line', async () => {
    const issue = loadDigest();
    const none = await render(issue, { list: { slug: 'ml-news', name: 'ML', language: 'en', contact: '' } });
    const blank = await render(issue, { list: { slug: 'ml-news', name: 'ML', language: 'en', contact: '   ' } });
    for (const { html, text } of [none, blank]) {
      expect(html).not.toMatch(/<p[^>]*>\s*<\/p>/);
      expect(text).not.toMatch(/\n\n\n/);
    }
    const withContact = await render(issue);
    expect(withContact.html).toMatch(/<p class="bs-muted" style="margin:0 0 10px;">Broadsheet · 1 Example Street · Berlin<\/p>/);
  });
});

describe('4. images keep their own size and aspect ratio', () => {
  it("reads a relative image's natural size from the file", async () => {
    const checked = await validateIssueFile(DIGEST_FILE);
    if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
    const images = checked.issue.sections.flatMap((s) => s.items.flatMap((i) => (i.image ? [i.image] : [])));
    expect(images.map((i) => [i.src, i.width, i.height])).toEqual([
      ['images/chart.png', 400, 200],
      ['images/badge.png', 40, 20],
      ['images/portrait.png', 120, 240],
      ['https://example.org/figures/wide.png', 800, 400],
    ]);
  });

  it('refuses a relative image file that is not an image', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bs-image-'));
    try {
      const issue = { ...JSON.parse(await fs.readFile(DIGEST_FILE, 'utf8')), $schema: undefined };
      await fs.mkdir(path.join(dir, 'images'));
      for (const name of ['chart.png', 'portrait.png']) await fs.copyFile(path.join(path.dirname(DIGEST_FILE), 'images', name), path.join(dir, 'images', name));
      await fs.writeFile(path.join(dir, 'images/badge.png'), 'not a PNG at all');
      await fs.writeFile(path.join(dir, 'issue.json'), JSON.stringify(issue));
      const checked = await validateIssueFile(path.join(dir, 'issue.json'));
      expect(checked).toEqual({
        ok: false,
        problems: [
          {
            pointer: '/sections/0/items/1/image/src',
            message: 'images/badge.png is not an image file that can be read (PNG, JPEG, GIF, WebP or SVG with a size)',
          },
        ],
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('takes width and height of an absolute image only together, as whole pixels', () => {
    const issue = JSON.parse(JSON.stringify(loadDigest())) as Issue;
    const image = issue.sections[1]!.items[1]!.image!;
    delete image.height;
    const result = validateIssue(issue);
    expect(result.ok ? [] : result.problems.map((p) => p.pointer)).toEqual(['/sections/1/items/1/image']);
    image.height = 2.5;
    expect(validateIssue(issue).ok).toBe(false);
  });

  it('gives Outlook true width and height, never scales above the natural width, never crops', async () => {
    const { html } = await render(loadDigest());
    const [chart, badge, portrait, remote] = imgTags(html);
    expect(chart).toMatch(/ width="200" height="100" style="display:block;width:100%;max-width:400px;height:auto;/);
    expect(badge).toMatch(/ width="40" height="20" style="display:block;width:100%;max-width:40px;height:auto;/);
    expect(portrait).toMatch(/ width="120" height="240" style="display:block;width:100%;max-width:120px;height:auto;/);
    expect(remote).toMatch(/ width="200" height="100" style="display:block;width:100%;max-width:800px;height:auto;/);
    expect(html).not.toMatch(/object-fit:\s*cover|aspect-ratio:\s*16\s*\/\s*9/);
    expect(html).not.toMatch(/\.bs-media-img img\s*\{[^}]*max-width:\s*100%\s*!important/);
  });

  it('documents width and height in the schema and the editor\u2019s guide', async () => {
    const schema = JSON.parse(await fs.readFile(path.join(__dirname, '../../../emails/issue.schema.json'), 'utf8'));
    expect(Object.keys(schema.$defs.image.properties)).toEqual(expect.arrayContaining(['width', 'height']));
    const guide = await fs.readFile(path.join(__dirname, '../../../docs/issue-format.md'), 'utf8');
    expect(guide).toMatch(/`width`.*`height`/);
  });
});

describe('5. the plain-text part', () => {
  // A line may only pass 78 columns when it is one URL (a numbered reference or a footer link).
  const URL_LINE = /^(\[\d+\] )?(https?|mailto):\S+$/;

  for (const [name, load] of [
    ['golden', loadGolden],
    ['digest', loadDigest],
  ] as const) {
    it(`wraps the ${name} issue's prose at 78 columns, counting wide characters as two`, async () => {
      const { text } = await render(load());
      const lines = text.split('\n');
      const long = lines.filter((line) => stringWidth(line) > 78 && !URL_LINE.test(line));
      expect(long).toEqual([]);
      // Wrapped, not merely short: paragraphs fill lines to 72 columns and more.
      expect(lines.filter((line) => stringWidth(line) >= 72 && stringWidth(line) <= 78).length).toBeGreaterThan(5);
    });

    it(`prints each URL of the ${name} issue once, on a line of its own`, async () => {
      const { text } = await render(load());
      const urls = [...text.matchAll(/(?:https?|mailto):[^\s)\]]+/g)].map((m) => m[0]);
      const counts = new Map<string, number>();
      for (const url of urls) counts.set(url, (counts.get(url) ?? 0) + 1);
      expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
      for (const line of text.split('\n')) if (/(https?|mailto):/.test(line)) expect(line).toMatch(URL_LINE);
    });
  }

  it('turns a link whose label is a URL into one reference, not the URL twice', async () => {
    const { text } = await render(loadGolden());
    expect(text).not.toContain('https://arxiv.org/abs/2101.08692 (');
    expect(text).toMatch(/先前的工作\(\[(\d+)\]\)[^]*\n\[\1\] https:\/\/arxiv\.org\/abs\/2101\.08692\?utm_campaign=/);
  });

  it('leaves image credits out, since the text part shows no images', async () => {
    const { text } = await render(loadGolden());
    expect(text).not.toContain('图片引自');
    const digest = await render(loadDigest());
    expect(digest.text).not.toContain('Chart from the');
  });

  it('separates a list from what follows with a blank line', async () => {
    const { text } = await render(loadDigest());
    expect(text).toMatch(
      /\n- image classification\n- text classification\n- tabular data\n\n\[\d+\] https:\/\/github\.com\/PyTorchLightning\/lightning-flash\n/,
    );
  });

  it('breaks CJK text between characters, never before closing punctuation', async () => {
    const { text } = await render(loadGolden());
    const lines = text.split('\n');
    expect(lines.some((line) => /^[，。、；：！？）」』]/.test(line))).toBe(false);
    // A long Chinese paragraph spans several full lines (not one line of 300 columns).
    const summary = lines.filter((line) => line.startsWith('他们提出了 DALL-E') || line.startsWith('用编码器'));
    expect(summary).toHaveLength(2);
    for (const line of summary) expect(stringWidth(line)).toBeGreaterThanOrEqual(72);
    for (const line of summary) expect(stringWidth(line)).toBeLessThanOrEqual(78);
  });
});

describe('6. smaller points', () => {
  it('makes the citation quieter than the item title', async () => {
    const { html } = await render(loadGolden());
    const citation = /<p class="bs-muted" style="([^"]*)"><a href="https:\/\/arxiv\.org\/abs\/2102\.12092"/.exec(html)?.[1] ?? '';
    expect(citation).toMatch(/font-size:14px/);
    expect(citation).toMatch(/font-weight:400/);
    expect(html).toMatch(/<h3 style="[^"]*font-size:18px[^"]*"><a href="https:\/\/arxiv\.org\/abs\/2102\.12092\?utm/);
  });

  it('shows the call to action as a card and the links under the editor\u2019s heading', async () => {
    const { html, text } = await render(loadDigest());
    expect(html).toMatch(/>Get it every week<\/h2>\s*<table[^>]*class="bs-box bs-tint"[^>]*style="border:2px solid #b3261e;/);
    expect(html).toContain('>Past newsletters</h2>');
    expect(html).not.toContain('Further reading');
    expect(text).toContain('Past newsletters\n----------------\n');
  });

  it('makes the whole link card the link: title, description and host inside one a', async () => {
    const { html } = await render(loadDigest());
    expect(html).toMatch(
      /<a href="https:\/\/example\.org\/ml-news\/2021-02" style="display:block;[^"]*">\s*<span[^>]*>ML news, February 2021<\/span><span[^>]*>The month before\.<\/span>\s*<span class="bs-muted"[^>]*>example\.org<\/span>\s*<\/a>/,
    );
  });

  it('names the CJK faces of the design spec, the issue\u2019s own script first', async () => {
    const zh = (await render(loadGolden())).html;
    for (const face of ['Helvetica Neue', 'Hiragino Sans GB', 'PingFang SC', 'PingFang TC', 'Microsoft JhengHei', 'Hiragino Sans', 'Yu Gothic'])
      expect(zh).toContain(face);
    expect(zh.indexOf('PingFang SC')).toBeLessThan(zh.indexOf('PingFang TC'));
    const ja = (await render({ ...loadGolden(), language: 'ja' })).html;
    expect(ja.indexOf('Hiragino Sans')).toBeLessThan(ja.indexOf('PingFang SC'));
    const tw = (await render({ ...loadGolden(), language: 'zh-TW' })).html;
    expect(tw.indexOf('PingFang TC')).toBeLessThan(tw.indexOf('PingFang SC'));
  });

  it('no paragraph of the golden issue refers to "the content above" before that content', () => {
    const golden = loadGolden();
    expect(golden.intro ?? '').not.toMatch(/上述|上面|above/);
  });
});

describe('issue 7: a digest reads as a digest', () => {
  it('lists the weeklies it covers, linked to their archive pages, in HTML and text; only the sent ones when titles are given', async () => {
    const { html, text } = await render(loadDigest(), { coverTitles: { '2021-w10': 'ML news, week 10' } });
    expect(html).toContain('>This digest gathers these weekly issues</h2>');
    expect(html).toContain('<a href="http://localhost:3000/lists/ml-news/archive/2021-w10">ML news, week 10</a>');
    // Without a title the cover is not a sent issue (issue 13): neither its slug nor a link.
    for (const slug of ['2021-w11', '2021-w12', '2021-w13']) expect(html).not.toContain(`/archive/${slug}`);
    expect(text).toMatch(/\n- ML news, week 10 \[(\d+)\]\n[^]*\n\[\1\] http:\/\/localhost:3000\/lists\/ml-news\/archive\/2021-w10\n/);
    expect(text).not.toContain('2021-w13');
    // The editor's own preview, without titles, shows every cover by its slug.
    expect((await render(loadDigest())).html).toContain('<a href="http://localhost:3000/lists/ml-news/archive/2021-w13">2021-w13</a>');
  });

  it('names the monthly edition in the footer, whatever cadence the context says', async () => {
    const { html, text } = await render(loadDigest(), { cadence: 'weekly' });
    expect(html).toContain('You receive the monthly digest of 机器学习月报');
    expect(text).toContain('You receive the monthly digest of 机器学习月报');
    expect(html).not.toContain('You receive the weekly edition');
  });

  it('a weekly issue shows no covers', async () => {
    const { html } = await render(loadGolden());
    expect(html).not.toContain('本期月度精选汇总');
  });
});

describe('issue 7: every email links to its web version', () => {
  for (const [name, load] of [
    ['golden', loadGolden],
    ['digest', loadDigest],
  ] as const) {
    it(`${name}: in the header and footer of the HTML, and in the text part`, async () => {
      const issue = load();
      const { html, text } = await render(issue);
      const web = `http://localhost:3000/lists/ml-news/archive/${issue.slug}`;
      expect(html.split(`href="${web}"`).length - 1).toBe(2);
      expect(text).toMatch(new RegExp(`\\n(Web version|网页版):\\n${web.replace(/[./]/g, '\\$&')}\\n`));
      const report = await new HtmlValidate({ extends: ['html-validate:document'] }).validateString(html);
      expect(report.results.flatMap((r) => r.messages.map((m) => `${m.ruleId}: ${m.message}`))).toEqual([]);
    });
  }
});
