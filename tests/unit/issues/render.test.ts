import fs from 'node:fs';
import path from 'node:path';
import mjml2html from 'mjml';
import { HtmlValidate } from 'html-validate';
import { AppError } from '../../../src/errors';
import { richTextLinks } from '../../../src/issues/markdown';
import { compilePersonalization, type TokenName } from '../../../src/mail/personalize';
import { arxivUrl, renderIssue, type RenderContext, type RenderedIssue } from '../../../src/issues/render';
import { fillTemplate, loadTemplates, type Templates } from '../../../src/issues/templates';
import { displayWidth } from '../../../src/issues/text';
import type { Issue } from '../../../src/issues/types';
import { goldenContext, loadGolden } from '../../fixtures/golden';

const FIXTURE = path.join(__dirname, 'fixtures/every-block.json');

const templates = loadTemplates();

function fixture(): Issue {
  return JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Issue;
}

function context(overrides: Partial<RenderContext> = {}, slug = '2021-w09'): RenderContext {
  return goldenContext({ slug }, overrides);
}

const VALUES: Record<TokenName, string> = {
  name: 'Anna',
  preferences_url: 'http://localhost:3000/preferences/tok?a=1&b=2',
  unsubscribe_url: 'http://localhost:3000/unsubscribe/tok',
  web_url: 'http://localhost:3000/lists/ml-news/archive/2021-w09',
};

function filled(rendered: RenderedIssue, values = VALUES): { html: string; text: string } {
  return {
    html: compilePersonalization(rendered.html).fill(values, 'html'),
    text: compilePersonalization(rendered.text).fill(values, 'text'),
  };
}

function hrefs(html: string): string[] {
  return [...html.matchAll(/\shref="([^"]*)"/g)].map((m) => decodeEntities(m[1] as string));
}

function decodeEntities(value: string): string {
  return value
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

const imgTags = (html: string) => html.match(/<img\b[^>]*>/g) ?? [];

describe('renderIssue', () => {
  let rendered: RenderedIssue;
  beforeAll(async () => {
    rendered = await renderIssue(fixture(), context(), templates);
  });

  it('compiles at MJML strict level with no errors, to a valid HTML document', async () => {
    const again = await mjml2html(rendered.mjml, { validationLevel: 'soft', keepComments: false, fonts: {} });
    expect(again.errors).toEqual([]);
    const report = await new HtmlValidate({ extends: ['html-validate:document'] }).validateString(rendered.html);
    expect(report.results.flatMap((r) => r.messages.map((m) => `${m.ruleId}: ${m.message}`))).toEqual([]);
  });

  it('reports MJML errors as an internal AppError', async () => {
    const broken: Templates = { ...templates, item: '<mj-text bogus-attribute="1">{{body}}</mj-text>' };
    await expect(renderIssue(fixture(), context(), broken)).rejects.toMatchObject({ code: 'internal' });
  });

  it('has subject, preheader and the tokens it uses', () => {
    expect(rendered.subject).toBe('ML week 9: DALL-E paper, NFNets and a seven-task Transformer');
    expect(rendered.preheader).toBe('The DALL-E paper is out, NFNets drop batch norm, and one Transformer learns seven tasks.');
    expect(rendered.tokens).toEqual(['name', 'preferences_url', 'unsubscribe_url']);
    expect(rendered.html).toContain('The DALL-E paper is out, NFNets drop batch norm');
  });

  it('falls back to the title and the intro for subject and preheader', async () => {
    const issue = fixture();
    delete issue.subject;
    delete issue.preheader;
    const r = await renderIssue(issue, context(), templates);
    expect(r.subject).toBe(issue.title);
    expect(r.preheader).toBe(
      'What caught our eye this week. The original post has more. Four sections follow: - features - use cases - papers - odds and ends',
    );
  });

  it('is deterministic', async () => {
    const again = await renderIssue(fixture(), context(), templates);
    expect(again).toEqual(rendered);
  });

  it('has the title as the only h1, numbered h2 sections and h3 item links', () => {
    expect(rendered.html.match(/<h1\b/g)).toHaveLength(1);
    expect(rendered.html).toMatch(/<h1[^>]*>Machine learning, week 9<\/h1>/);
    expect(rendered.html).toMatch(/<h2 id="s-papers"[^>]*><span[^>]*>03<\/span>&nbsp; Papers<\/h2>/);
    expect(rendered.html).toMatch(
      /<h3[^>]*><a href="https:\/\/arxiv\.org\/abs\/2102\.12092\?utm_campaign=news&amp;utm_medium=email"[^>]*>The DALL-E paper is out<\/a><\/h3>/,
    );
  });

  it('sets lang and dir from the issue language, else the list language', async () => {
    expect(rendered.html).toMatch(/<html lang="en" dir="ltr"/);
    const arabic = await renderIssue({ ...fixture(), language: 'ar' }, context(), templates);
    expect(arabic.html).toMatch(/<html lang="ar" dir="rtl"/);
    const { language: _omitted, ...withoutLanguage } = fixture();
    const hebrew = await renderIssue(withoutLanguage, context({ list: { ...context().list, language: 'he-IL' } }), templates);
    expect(hebrew.html).toMatch(/<html lang="he-IL" dir="rtl"/);
  });

  it('writes the footer in the issue language, for the subscriber cadence', async () => {
    const { html } = filled(rendered);
    expect(html).toContain('You receive the weekly edition of 机器学习月报 because you subscribed to it.');
    expect(html).toContain('Broadsheet · 1 Example Street · Berlin');
    expect(html).toContain('href="http://localhost:3000/preferences/tok?a=1&amp;b=2"');
    expect(html).toContain('href="http://localhost:3000/unsubscribe/tok"');
    expect(html).toContain('href="http://localhost:3000/lists/ml-news/archive/2021-w09"');

    const zh = await renderIssue({ ...fixture(), language: 'zh-CN' }, context({ cadence: 'monthly' }), templates);
    const zhFilled = filled(zh);
    expect(zhFilled.html).toContain('你订阅了「机器学习月报」的月度精选，因此收到这封邮件。');
    expect(zhFilled.html).toContain('>退订</a>');
    expect(zhFilled.text).toContain('退订:\nhttp://localhost:3000/unsubscribe/tok');
  });

  it('greets by name, or without one', () => {
    expect(filled(rendered).html).toContain('Hi Anna,');
    const anonymous = filled(rendered, { ...VALUES, name: '' });
    expect(anonymous.html).toContain('Hi,');
    expect(anonymous.text).toContain('\nHi,\n');
  });

  it('gives every image alt, a width (and a height when its size is known), and absolute http(s) sources', () => {
    const images = imgTags(rendered.html);
    expect(images).toHaveLength(2);
    for (const img of images) {
      expect(img).toMatch(/\salt="[^"]+"/);
      expect(img).toMatch(/\swidth="\d+"/);
      expect(img).toMatch(/\ssrc="https?:\/\//);
    }
    // 1200x600 given in the file: shown at 200x100 in the wide layout, never above 1200 px.
    expect(images[1]).toMatch(/ width="200" height="100" style="display:block;width:100%;max-width:1200px;height:auto;/);
    // A size nobody knows is not invented: the image shows at its own size, at most the column's.
    expect(images[0]).toMatch(/ width="200" style="display:block;width:auto;max-width:100%;height:auto;/);
    expect(rendered.html).toContain('src="http://localhost:3000/assets/ml-news/2021-w09/images/dalle.png"');
    expect(rendered.html).toContain('src="https://example.org/images/resnet.png"');
    expect(rendered.html).not.toMatch(/data:image/);
  });

  it('shows the list logo, when there is one, as a decorative image beside the list name', async () => {
    const r = await renderIssue(fixture(), context({ list: { ...context().list, logoUrl: 'https://cdn.example/logo.png' } }), templates);
    expect(r.html).toMatch(/<img src="https:\/\/cdn\.example\/logo\.png" alt="" width="28" height="28"[^>]*\/>机器学习月报/);
    await expect(renderIssue(fixture(), context({ list: { ...context().list, logoUrl: 'data:image/png;base64,xx' } }), templates)).rejects.toMatchObject({
      code: 'invalid_input',
    });
  });

  it('cites papers as [id] title, linking arXiv ids to their abstract', () => {
    expect(rendered.html).toContain('<a href="https://arxiv.org/abs/2102.12092">[2102.12092] Zero-Shot Text-to-Image Generation</a>');
    expect(rendered.html).toContain('<a href="https://arxiv.org/abs/2102.07074">[arXiv:2102.07074] TransGAN: Two Transformers Can Make One Strong GAN</a>');
    expect(rendered.html).toContain('>[ICLR-2021-17] Some Conference Paper</p>');
    expect(arxivUrl('2102.12092v2')).toBe('https://arxiv.org/abs/2102.12092v2');
    expect(arxivUrl('hep-th/9901001')).toBe('https://arxiv.org/abs/hep-th/9901001');
    expect(arxivUrl('ICLR-2021-17')).toBeUndefined();
  });

  it('shows the source: given, else the host name without www', () => {
    expect(rendered.html).toContain('>arxiv.org</p>');
    expect(rendered.html).toContain('>Microsoft Research</p>');
    expect(rendered.html).toContain('>techhq.com</p>');
  });

  it('renders highlights in a tinted block, link cards and the outro', () => {
    expect(rendered.html).toMatch(/class="bs-tint"/);
    expect(rendered.html).toContain('>Highlights</h2>');
    expect(rendered.html).toContain('<a href="https://arxiv.org/abs/2102.06171">NFNets beat EfficientNet without batch normalisation</a>');
    expect(rendered.html).toContain('>ML news, week 7</span>');
    expect(rendered.html).toContain('>Papers and articles from the week of 7 February.</span>');
    expect(rendered.html).toContain('>getrevue.co</span>');
    expect(rendered.html).toContain('<strong>Subscribe!</strong>');
  });

  it('shows a table of contents only with more than three sections', async () => {
    expect(rendered.html).toContain('>In this issue</h2>');
    expect(rendered.html).toContain('<a href="#s-use-cases">2. Use cases</a>');
    const three = await renderIssue(fixture(), context({ excludeSections: ['other'] }), templates);
    expect(three.html).not.toContain('In this issue');
  });

  it('leaves out the sections a subscriber opted out of, and renumbers the rest', async () => {
    const r = await renderIssue(fixture(), context({ excludeSections: ['use-cases'] }), templates);
    expect(r.html).not.toContain('Use cases');
    expect(r.html).not.toContain('Five ways IoT and AI work together');
    expect(r.text).not.toContain('Use cases');
    expect(r.text).toContain('2. Papers\n---------');
    expect(r.html).toMatch(/<span[^>]*>02<\/span>&nbsp; Papers/);
  });

  it('builds the text part from the issue: headings underlined to display width, every URL', () => {
    const { text } = filled(rendered);
    expect(text).toContain('Machine learning, week 9\n========================\n');
    for (const [n, title] of [
      [1, 'Features'],
      [2, 'Use cases'],
      [3, 'Papers'],
      [4, 'Odds and ends'],
    ] as const) {
      expect(text).toContain(`${n}. ${title}\n${'-'.repeat(displayWidth(`${n}. ${title}`))}\n`);
    }
    const issue = fixture();
    const urls = [
      ...issue.sections.flatMap((s) => s.items.map((i) => i.url)),
      ...(issue.links ?? []).map((l) => l.url),
      'https://arxiv.org/abs/2102.12092',
      'https://arxiv.org/abs/2102.07074',
      ...[issue.intro, issue.outro, ...issue.sections.flatMap((s) => [s.intro, ...s.items.map((i) => i.summary)])]
        .concat((issue.highlights ?? []).flatMap((h) => h.points))
        .flatMap((rich) => (rich === undefined ? [] : richTextLinks(rich))),
    ];
    expect(urls.length).toBeGreaterThan(12);
    for (const url of urls) expect(text).toContain(url);
    // An item's URL stands on its own line, as a numbered reference of its title.
    expect(text).toMatch(/\nFive ways IoT and AI work together \[(\d+)\]\n[^]*\n\[\1\] https:\/\/techhq\.com\/2021\/02\/ai-and-iot-5-use-cases\/\n/);
    expect(text).toContain('- Examples:'.slice(2));
    expect(text).toMatch(/- predictive maintenance, see TechHQ \[(\d+)\][^]*\n\[\1\] https:\/\/techhq\.com\/\n/);
    expect(text).toContain('Preferences:\nhttp://localhost:3000/preferences/tok?a=1&b=2');
    expect(text).toContain('Unsubscribe:\nhttp://localhost:3000/unsubscribe/tok');
  });

  it('underlines CJK headings to their display width', async () => {
    const issue = { ...fixture(), title: '机器学习总结；2021 年 2 月' };
    const r = await renderIssue(issue, context(), templates);
    expect(displayWidth('机器学习总结；2021 年 2 月')).toBe(26);
    expect(r.text).toContain(`机器学习总结；2021 年 2 月\n${'='.repeat(26)}\n`);
  });

  describe('escaping', () => {
    const EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)> & "q" \'s';
    const evilRich = `${EVIL} [click](javascript:alert(3)) [two](JavaScript:alert(4)) [three](data:text/html,x) [ok](https://ok.example/)`;

    function evilIssue(): Issue {
      const issue = fixture();
      issue.title = EVIL;
      issue.subject = EVIL;
      issue.preheader = EVIL;
      issue.intro = evilRich;
      issue.outro = evilRich;
      issue.highlights = [{ title: EVIL, points: [evilRich] }];
      for (const section of issue.sections) {
        section.title = EVIL;
        section.intro = evilRich;
        for (const item of section.items) {
          item.title = EVIL;
          item.source = EVIL;
          item.summary = evilRich;
          if (item.image) item.image = { ...item.image, alt: EVIL, credit: evilRich };
          if (item.paper) item.paper = { id: EVIL, title: EVIL };
        }
      }
      issue.links = [{ title: EVIL, url: 'https://links.example/', description: EVIL }];
      return issue;
    }
    const evilContext = context({ list: { slug: 'ml-news', name: EVIL, language: 'en', contact: EVIL } });

    it('shows raw HTML in any field as text, and never links to javascript:', async () => {
      const r = await renderIssue(evilIssue(), evilContext, templates);
      const { html, text } = filled(r);
      expect(html).not.toMatch(/<script/i);
      // Markup written in a field only ever lands in text or inside a quoted attribute value.
      for (const img of imgTags(html)) {
        const names = [...img.matchAll(/\s([a-z-]+)="[^"]*"/g)].map((m) => m[1]);
        expect(img.replace(/\s[a-z-]+="[^"]*"/g, '')).toBe('<img />');
        expect(names.filter((n) => n !== 'height').sort()).toEqual(['alt', 'src', 'style', 'width']);
      }
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;');
      expect(imgTags(html)).toHaveLength(2); // only the two item images
      for (const href of hrefs(html)) expect(href).toMatch(/^(https?:\/\/|mailto:|#s-)/);
      expect(html).toContain('<a href="https://ok.example/">ok</a>');
      expect(html).toMatch(/ click two three /);
      // The text part is text/plain: the markup is shown as written, unsafe targets are dropped.
      expect(text).toContain('<script>alert(1)</script>');
      expect(text).not.toMatch(/javascript:|data:text/i);
      expect(text).toMatch(/ ok \[1\]\n/);
      expect(text).toContain('\n[1] https://ok.example/\n');
      const report = await new HtmlValidate({ extends: ['html-validate:document'] }).validateString(html);
      expect(report.valid).toBe(true);
    });

    it('refuses an issue whose URLs are not http(s)', async () => {
      const badItem = fixture();
      (badItem.sections[0]?.items[0] as { url: string }).url = 'javascript:alert(1)';
      await expect(renderIssue(badItem, context(), templates)).rejects.toThrow(AppError);
      await expect(renderIssue(badItem, context(), templates)).rejects.toMatchObject({ code: 'invalid_issue' });

      const badImage = fixture();
      (badImage.sections[0]?.items[0]?.image as { src: string }).src = 'data:image/png;base64,iVBORw0KGgo=';
      await expect(renderIssue(badImage, context(), templates)).rejects.toMatchObject({ code: 'invalid_issue' });

      const badLink = fixture();
      badLink.links = [{ title: 'x', url: 'javascript:alert(1)' }];
      await expect(renderIssue(badLink, context(), templates)).rejects.toMatchObject({ code: 'invalid_issue' });
    });
  });

  describe('personalization markers', () => {
    const markerIn = (s: string, name: string) => s.match(new RegExp(`%%bs-[0-9a-f]{12}:${name}%%`, 'g'))?.at(-1);

    it('cannot be forged by content that spells one', async () => {
      const first = await renderIssue(fixture(), context(), templates);
      const unsubscribe = markerIn(first.html, 'unsubscribe_url') as string;
      const name = markerIn(first.html, 'name') as string;
      expect(unsubscribe).toBeDefined();

      // An issue that quotes the markers of the render above: its own render has another nonce.
      const quoting = fixture();
      quoting.title = `Forged ${unsubscribe}`;
      (quoting.sections[1]?.items[0] as { summary: string }).summary = `Dear ${name}, go to ${unsubscribe}`;
      quoting.outro = `Last words ${unsubscribe}`;
      quoting.links = [{ title: `Card ${unsubscribe}`, url: 'https://links.example/', description: name }];
      const r = await renderIssue(quoting, context(), templates);
      expect(markerIn(r.html, 'unsubscribe_url')).not.toBe(unsubscribe);

      const { html, text } = filled(r);
      for (const part of [html, text]) {
        expect(part).toContain(`Forged ${unsubscribe}`);
        expect(part).toContain(`Dear ${name}, go to ${unsubscribe}`);
        expect(part).toContain(`Last words ${unsubscribe}`);
        expect(part).toContain(`Card ${unsubscribe}`);
        expect(part).toContain('http://localhost:3000/unsubscribe/tok');
      }
    });

    it('ends both parts with the unsubscribe marker, after all content (the nonce is read from it)', () => {
      for (const part of [rendered.html, rendered.text]) {
        const all = [...part.matchAll(/%%bs-[0-9a-f]{12}:[a-z_:]+%%/g)];
        expect(all.at(-1)?.[0]).toMatch(/:unsubscribe_url%%$/);
        const after = part.slice((all.at(-1)?.index ?? 0) + 1);
        expect(after).not.toContain('Lightning Flash');
        expect(after).not.toContain('Machine learning 2020');
      }
    });
  });

  describe('the golden issue', () => {
    it('renders under Gmail’s 102 KB clipping limit, as a valid document', async () => {
      const issue = loadGolden();
      const r = await renderIssue(issue, context({}, issue.slug), templates);
      const { html } = filled(r);
      expect(Buffer.byteLength(html)).toBeLessThan(102_000);
      expect(html.match(/<h1\b/g)).toHaveLength(1);
      for (const img of imgTags(html)) expect(img).toMatch(/\salt="[^"]+".*\swidth="\d+" height="\d+"/);
      const report = await new HtmlValidate({ extends: ['html-validate:document'] }).validateString(html);
      expect(report.valid).toBe(true);
    });
  });
});

describe('templates', () => {
  it('loads every template and refuses a hole without a value', () => {
    expect(templates.layout).toContain('<mjml lang="{{lang}}"');
    expect(templates.layout).not.toContain('<!--'); // comments are for readers of the files only
    expect(() => fillTemplate(templates, 'prose', {})).toThrow(/no value for \{\{html\}\}/);
    expect(fillTemplate(templates, 'prose', { html: '{{html}}' })).toContain('{{html}}'); // one pass
  });

  it('fails at load when a template is missing', () => {
    expect(() => loadTemplates(path.join(__dirname, 'fixtures'))).toThrow(/email template missing/);
  });
});
