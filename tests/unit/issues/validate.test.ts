import path from 'node:path';
import { formatProblems, parseIssueText, validateIssue, validateIssueFile } from '../../../src/issues/validate';
import type { IssueProblem } from '../../../src/issues/types';
import { GOLDEN_FILE } from '../../fixtures/golden';

const fixtures = path.join(__dirname, 'fixtures');

/** The smallest valid issue; each test gets its own copy to break. */
function minimalIssue(): Record<string, any> {
  return {
    format: 1,
    list: 'ml-news',
    slug: '2021-02',
    title: 'Machine learning, February 2021',
    date: '2021-02-28',
    sections: [
      {
        id: 'papers',
        title: 'Papers',
        items: [{ title: 'Zero-Shot Text-to-Image Generation', url: 'https://arxiv.org/abs/2102.12092' }],
      },
    ],
  };
}

/** Every field of the format at least once. */
function richIssue(): Record<string, any> {
  return {
    $schema: 'https://broadsheet.dev/schema/issue-1.json',
    format: 1,
    list: 'ml-news',
    kind: 'digest',
    slug: '2021-02-digest',
    title: '机器学习总结；2021 年 2 月',
    subject: '机器学习总结：DALL-E 论文、NFNet 🚀',
    preheader: 'DALL-E 论文发表、无需批量归一化的 NFNet',
    date: '2024-02-29',
    language: 'zh-Hans-CN',
    intro: '2021 年 2 月的论文和文章。[原文](https://medium.com/x?source=a---b)\n\n- 特稿\n- 用例',
    highlights: [{ title: '特稿/新闻', points: ['[NFNet](https://arxiv.org/abs/2102.06171) *已经发布*', '`code` and **strong**'] }],
    sections: [
      {
        id: 'papers',
        title: '报纸',
        intro: 'Questions? [Write to us](mailto:editor@example.org).',
        items: [
          {
            title: 'Zero-Shot Text-to-Image Generation',
            url: 'https://arxiv.org/abs/2102.12092',
            source: 'arXiv',
            image: { src: 'images/dalle.png', alt: 'Images generated from captions', credit: 'From [the paper](https://arxiv.org/abs/2102.12092)' },
            paper: { id: '2102.12092', title: 'Zero-Shot Text-to-Image Generation' },
            summary: 'A text-to-image model.\tTabs are fine.\nSo are newlines.',
            tags: ['generative', 'transformers'],
          },
          {
            title: 'NFNet',
            url: 'http://example.org/nfnet',
            image: { src: 'https://cdn.example.org/nfnet.png', alt: 'Accuracy chart' },
          },
        ],
      },
      { id: 'use-cases', title: '用例', items: [{ title: 'IoT and AI', url: 'https://techhq.com/2021/02/ai-and-iot/' }] },
    ],
    outro: 'See you next month.',
    links: [{ title: 'January 2021', url: 'https://broadsheet.example/lists/ml-news/archive/2021-01', description: 'Last month' }],
    covers: ['2021-02-07', '2021-02-14'],
  };
}

const onlyDallePng = (relativePath: string): boolean => relativePath === 'images/dalle.png';

function problemsOf(value: unknown, assetExists?: (relativePath: string) => boolean): IssueProblem[] {
  const result = validateIssue(value, assetExists ? { assetExists } : {});
  if (result.ok) throw new Error('expected the issue to be invalid');
  return result.problems;
}

describe('validateIssue: valid issues', () => {
  it('accepts a minimal issue', () => {
    const issue = minimalIssue();
    expect(validateIssue(issue)).toEqual({ ok: true, issue });
  });

  it('accepts an issue using every field', () => {
    const result = validateIssue(richIssue(), { assetExists: onlyDallePng });
    expect(result.ok ? [] : result.problems).toEqual([]);
  });
});

describe('validateIssue: schema rules', () => {
  it('reports each missing required field at its own pointer', () => {
    const issue = minimalIssue();
    delete issue.title;
    delete issue.sections[0].items;
    delete issue.sections[0].id;
    expect(problemsOf(issue)).toEqual([
      { pointer: '/title', message: 'is required' },
      { pointer: '/sections/0/id', message: 'is required' },
      { pointer: '/sections/0/items', message: 'is required' },
    ]);
  });

  it('reports every missing top-level field of an empty object', () => {
    expect(problemsOf({}).map((p) => p.pointer)).toEqual(['/format', '/list', '/slug', '/title', '/date', '/sections']);
  });

  it('refuses a document that is not an object', () => {
    expect(problemsOf([])).toEqual([{ pointer: '', message: 'an issue must be a JSON object' }]);
  });

  it.each(['-ml', 'ml-', 'ML', 'ml_news', '', 'a'.repeat(65)])('refuses the slug %j', (slug) => {
    expect(problemsOf({ ...minimalIssue(), slug })).toEqual([
      { pointer: '/slug', message: 'must be a slug: 1 to 64 characters of a-z, 0-9 and -, not starting or ending with -' },
    ]);
  });

  it('accepts a one-character and a 64-character slug', () => {
    expect(validateIssue({ ...minimalIssue(), slug: 'a' }).ok).toBe(true);
    expect(validateIssue({ ...minimalIssue(), slug: `a${'-'.repeat(62)}b` }).ok).toBe(true);
  });

  it.each(['ftp://example.org/x', '/relative', 'https://', 'https://exa mple.org', 'example.org'])('refuses the item url %j', (url) => {
    const issue = minimalIssue();
    issue.sections[0].items[0].url = url;
    expect(problemsOf(issue)).toEqual([{ pointer: '/sections/0/items/0/url', message: 'must be an absolute http(s) URL' }]);
  });

  it('refuses a link card without an absolute URL', () => {
    const issue = { ...minimalIssue(), links: [{ title: 'Archive', url: 'mailto:a@example.org' }] };
    expect(problemsOf(issue)).toEqual([{ pointer: '/links/0/url', message: 'must be an absolute http(s) URL' }]);
  });

  it('refuses an image without alt', () => {
    const issue = minimalIssue();
    issue.sections[0].items[0].image = { src: 'https://cdn.example.org/a.png' };
    expect(problemsOf(issue)).toEqual([{ pointer: '/sections/0/items/0/image/alt', message: 'is required' }]);
  });

  it('refuses an empty alt', () => {
    const issue = minimalIssue();
    issue.sections[0].items[0].image = { src: 'https://cdn.example.org/a.png', alt: '' };
    expect(problemsOf(issue)).toEqual([{ pointer: '/sections/0/items/0/image/alt', message: 'must not be empty' }]);
  });

  it('refuses a subject with a newline', () => {
    expect(problemsOf({ ...minimalIssue(), subject: 'Machine learning\nFebruary' })).toEqual([
      { pointer: '/subject', message: 'must be one line (no line breaks)' },
    ]);
  });

  it('refuses a preheader with a newline', () => {
    expect(problemsOf({ ...minimalIssue(), preheader: 'one\ntwo' })).toEqual([{ pointer: '/preheader', message: 'must be one line (no line breaks)' }]);
  });

  it('counts the subject in characters, not UTF-16 units: 200 emoji pass, 201 do not', () => {
    expect(validateIssue({ ...minimalIssue(), subject: '🚀'.repeat(200) }).ok).toBe(true);
    expect(problemsOf({ ...minimalIssue(), subject: '🚀'.repeat(201) })).toEqual([
      { pointer: '/subject', message: 'must be at most 200 characters (it has 201)' },
    ]);
  });

  it('refuses a preheader over 150 characters', () => {
    expect(validateIssue({ ...minimalIssue(), preheader: '字'.repeat(150) }).ok).toBe(true);
    expect(problemsOf({ ...minimalIssue(), preheader: '字'.repeat(151) })).toEqual([
      { pointer: '/preheader', message: 'must be at most 150 characters (it has 151)' },
    ]);
  });

  it.each(['2021-02-30', '2023-02-29', '2021-13-01', '2021-2-3', '28.02.2021'])('refuses the date %j', (date) => {
    expect(problemsOf({ ...minimalIssue(), date })).toEqual([{ pointer: '/date', message: 'must be a real calendar date, YYYY-MM-DD' }]);
  });

  it('accepts 29 February in a leap year', () => {
    expect(validateIssue({ ...minimalIssue(), date: '2024-02-29' }).ok).toBe(true);
  });

  it('refuses covers on a weekly issue, also when kind is left to its default', () => {
    const expected = [{ pointer: '/covers', message: 'only allowed when kind is "digest"' }];
    expect(problemsOf({ ...minimalIssue(), kind: 'weekly', covers: ['2021-02-07'] })).toEqual(expected);
    expect(problemsOf({ ...minimalIssue(), covers: ['2021-02-07'] })).toEqual(expected);
    expect(validateIssue({ ...minimalIssue(), kind: 'digest', covers: ['2021-02-07'] }).ok).toBe(true);
  });

  it('refuses an unknown kind', () => {
    expect(problemsOf({ ...minimalIssue(), kind: 'daily' })).toEqual([{ pointer: '/kind', message: 'must be "weekly" or "digest"' }]);
  });

  it('refuses a format other than 1', () => {
    expect(problemsOf({ ...minimalIssue(), format: 2 })).toEqual([{ pointer: '/format', message: 'must be 1' }]);
  });

  it('refuses a malformed language tag', () => {
    expect(validateIssue({ ...minimalIssue(), language: 'ar' }).ok).toBe(true);
    expect(problemsOf({ ...minimalIssue(), language: 'Chinese (simplified)' })).toEqual([
      { pointer: '/language', message: 'must be a BCP 47 language tag such as "en", "en-GB" or "zh-Hans"' },
    ]);
  });

  it('refuses empty sections and empty items', () => {
    expect(problemsOf({ ...minimalIssue(), sections: [] })).toEqual([{ pointer: '/sections', message: 'must have at least one entry' }]);
    const issue = minimalIssue();
    issue.sections[0].items = [];
    expect(problemsOf(issue)).toEqual([{ pointer: '/sections/0/items', message: 'must have at least one entry' }]);
  });

  it('reports an unknown property at its own pointer, escaped per RFC 6901', () => {
    const issue = minimalIssue();
    issue.sections[0].foo = 1;
    issue['a/b~c'] = true;
    // In file order: "a/b~c" was added after "sections".
    expect(problemsOf(issue)).toEqual([
      { pointer: '/sections/0/foo', message: 'unknown property' },
      { pointer: '/a~1b~0c', message: 'unknown property' },
    ]);
  });

  it('reports a wrong type in plain words', () => {
    const issue = minimalIssue();
    issue.sections[0].items[0].tags = 'ml';
    expect(problemsOf(issue)).toEqual([{ pointer: '/sections/0/items/0/tags', message: 'must be an array' }]);
  });
});

describe('validateIssue: rules beyond the schema', () => {
  it('refuses a javascript: link in an item summary', () => {
    const issue = minimalIssue();
    issue.sections[0].items[0].summary = 'Read [the paper](javascript:alert(1)).';
    expect(problemsOf(issue)).toEqual([
      {
        pointer: '/sections/0/items/0/summary',
        message: 'link target "javascript:alert(1)" is not allowed: use http, https or mailto',
      },
    ]);
  });

  it('refuses data: and relative link targets in every rich-text field', () => {
    const { sections, ...head } = minimalIssue();
    sections[0] = { id: 'papers', title: 'Papers', intro: '[c](file:///etc/passwd)', items: sections[0].items };
    sections[0].items[0].image = { src: 'https://cdn.example.org/a.png', alt: 'A', credit: '[d](vbscript:x)' };
    const issue = {
      ...head,
      intro: '[a](data:text/html,hi)',
      highlights: [{ title: 'H', points: ['fine', '[b](/archive)'] }],
      sections,
      outro: '[e](#top)',
    };
    expect(problemsOf(issue).map((p) => p.pointer)).toEqual([
      '/intro',
      '/highlights/0/points/1',
      '/sections/0/intro',
      '/sections/0/items/0/image/credit',
      '/outro',
    ]);
  });

  it('reads raw HTML in rich text as text, not as a link', () => {
    expect(validateIssue({ ...minimalIssue(), intro: '<a href="javascript:x">x</a>' }).ok).toBe(true);
  });

  it('refuses a relative image that does not exist, and names the file', () => {
    const issue = minimalIssue();
    issue.sections[0].items[0].image = { src: './images/../images/nfnet.png', alt: 'Chart' };
    expect(problemsOf(issue, onlyDallePng)).toEqual([
      { pointer: '/sections/0/items/0/image/src', message: 'file not found: images/nfnet.png (relative to the issue file)' },
    ]);
  });

  it('passes the normalised relative path to assetExists', () => {
    const seen: string[] = [];
    const issue = minimalIssue();
    issue.sections[0].items[0].image = { src: 'images\\dalle.png', alt: 'DALL-E' };
    expect(validateIssue(issue, { assetExists: (p) => (seen.push(p), true) }).ok).toBe(true);
    expect(seen).toEqual(['images/dalle.png']);
  });

  it.each([
    ['../secret.png', "must stay inside the issue's folder"],
    ['images/../../secret.png', "must stay inside the issue's folder"],
    ['/etc/passwd', 'must be a path relative to the issue file, not an absolute path'],
    ['C:\\images\\a.png', 'must be a path relative to the issue file, not an absolute path'],
    ['http://cdn.example.org/a.png', 'must use https: mail clients block or flag images served over plain http'],
    ['data:image/png;base64,iVBORw0KGgo=', 'must be an https URL or a path relative to the issue file'],
    ['https://', 'must be a valid https URL'],
  ])('refuses the image src %j', (src, message) => {
    const issue = minimalIssue();
    issue.sections[0].items[0].image = { src, alt: 'A' };
    // Everything exists: the refusal must come from the path itself.
    expect(problemsOf(issue, () => true)).toEqual([{ pointer: '/sections/0/items/0/image/src', message }]);
  });

  it('refuses a duplicate section id at the duplicate', () => {
    const issue = minimalIssue();
    const papers = issue.sections[0];
    issue.sections.push({ ...papers, id: 'news' }, { ...papers });
    expect(problemsOf(issue)).toEqual([{ pointer: '/sections/2/id', message: 'duplicate section id "papers" (first used at /sections/0/id)' }]);
  });

  it('refuses a control character in a title', () => {
    const issue = minimalIssue();
    issue.sections[0].title = 'Papers\u0007';
    expect(problemsOf(issue)).toEqual([
      { pointer: '/sections/0/title', message: 'contains a control character (U+0007); only line breaks and tabs are allowed' },
    ]);
  });

  it('refuses C1 controls, carriage returns and unpaired surrogates anywhere', () => {
    const issue = minimalIssue();
    issue.outro = 'bye\u0085';
    issue.sections[0].items[0].source = 'a\r\nb';
    issue.title = 'broken \uD83D';
    expect(problemsOf(issue)).toEqual([
      { pointer: '/title', message: 'contains an unpaired surrogate (U+D83D), which is not valid Unicode' },
      { pointer: '/sections/0/items/0/source', message: 'contains a carriage return (U+000D); use \\n for line breaks' },
      { pointer: '/outro', message: 'contains a control character (U+0085); only line breaks and tabs are allowed' },
    ]);
  });

  it('reports many problems at once, in document order, each once', () => {
    const issue = {
      format: 1,
      list: 'ml-news',
      slug: 'Feb 2021',
      subject: 'x'.repeat(201),
      date: '2021-02-30',
      covers: ['2021-02-07'],
      sections: [
        { id: 'papers', title: 'Papers', items: [{ title: 'A', url: 'ftp://x', summary: '[x](javascript:y)' }] },
        { id: 'papers', title: 'Again\u0000', items: [{ title: 'B', url: 'https://example.org', image: { src: 'a.png' } }] },
      ],
      extra: true,
    };
    // A missing property sorts right after its parent: /title first, as the root is first.
    expect(problemsOf(issue, () => false)).toEqual([
      { pointer: '/title', message: 'is required' },
      { pointer: '/slug', message: 'must be a slug: 1 to 64 characters of a-z, 0-9 and -, not starting or ending with -' },
      { pointer: '/subject', message: 'must be at most 200 characters (it has 201)' },
      { pointer: '/date', message: 'must be a real calendar date, YYYY-MM-DD' },
      { pointer: '/covers', message: 'only allowed when kind is "digest"' },
      { pointer: '/sections/0/items/0/url', message: 'must be an absolute http(s) URL' },
      { pointer: '/sections/0/items/0/summary', message: 'link target "javascript:y" is not allowed: use http, https or mailto' },
      { pointer: '/sections/1/id', message: 'duplicate section id "papers" (first used at /sections/0/id)' },
      { pointer: '/sections/1/title', message: 'contains a control character (U+0000); only line breaks and tabs are allowed' },
      { pointer: '/sections/1/items/0/image/alt', message: 'is required' },
      { pointer: '/sections/1/items/0/image/src', message: 'file not found: a.png (relative to the issue file)' },
      { pointer: '/extra', message: 'unknown property' },
    ]);
  });
});

describe('parseIssueText', () => {
  it('parses JSON and strips a byte order mark', () => {
    expect(parseIssueText('\uFEFF{"format": 1}')).toEqual({ value: { format: 1 } });
  });

  it('reports a trailing comma in an object with line and column', () => {
    expect(parseIssueText('{\n  "format": 1,\n}')).toEqual({
      problems: [{ pointer: '', message: 'malformed JSON at line 3, column 1: Expected double-quoted property name' }],
    });
  });

  it('reports a trailing comma in an array, where V8 gives no position, with line and column', () => {
    const text = '{\n  "sections": [\n    { "id": "papers" },\n    { "id": "news" },\n  ]\n}';
    expect(parseIssueText(text)).toEqual({
      problems: [{ pointer: '', message: "malformed JSON at line 5, column 3: Unexpected token ']'" }],
    });
  });

  it('locates an unexpected token near the start, the end and in a short text', () => {
    expect(parseIssueText('{"a": x, "bbbbbbbbbbbbbbbbbbbbbbbbbbb": 1}')).toEqual({
      problems: [{ pointer: '', message: "malformed JSON at line 1, column 7: Unexpected token 'x'" }],
    });
    expect(parseIssueText('{"bbbbbbbbbbbbbbbbbbbbbbbbbbb": 1,\r\n "a": x}')).toEqual({
      problems: [{ pointer: '', message: "malformed JSON at line 2, column 7: Unexpected token 'x'" }],
    });
    expect(parseIssueText('[1, 2,]')).toEqual({
      problems: [{ pointer: '', message: "malformed JSON at line 1, column 7: Unexpected token ']'" }],
    });
  });

  it('reports an unexpected end at the end of the text', () => {
    expect(parseIssueText('{\n  "format": 1,\n  "sections": [\n')).toEqual({
      problems: [{ pointer: '', message: 'malformed JSON at line 4, column 1: Unexpected end of JSON input' }],
    });
  });

  it('says so when the file is empty', () => {
    expect(parseIssueText(' \n')).toEqual({ problems: [{ pointer: '', message: 'malformed JSON: the file is empty' }] });
  });
});

describe('validateIssueFile', () => {
  it("checks relative images against the file's folder", async () => {
    const result = await validateIssueFile(path.join(fixtures, 'with-image/issue.json'));
    expect(result).toEqual({
      ok: false,
      problems: [{ pointer: '/sections/0/items/1/image/src', message: 'file not found: images/missing.png (relative to the issue file)' }],
    });
  });

  it('reports malformed JSON with line and column', async () => {
    expect(await validateIssueFile(path.join(fixtures, 'malformed.json'))).toEqual({
      ok: false,
      problems: [{ pointer: '', message: "malformed JSON at line 6, column 3: Unexpected token ']'" }],
    });
  });

  it('reports a missing file as one problem', async () => {
    const file = path.join(fixtures, 'nope.json');
    expect(await validateIssueFile(file)).toEqual({
      ok: false,
      problems: [{ pointer: '', message: `cannot read ${file}: no such file` }],
    });
  });

  it('refuses a file that is not UTF-8 instead of guessing', async () => {
    const file = path.join(fixtures, 'latin1.json');
    expect(await validateIssueFile(file)).toEqual({
      ok: false,
      problems: [{ pointer: '', message: `cannot read ${file}: not valid UTF-8 text` }],
    });
  });

  it('golden fixture validates', async () => {
    const result = await validateIssueFile(GOLDEN_FILE);
    expect(result.ok ? [] : formatProblems(result.problems)).toEqual([]);
    expect(result).toMatchObject({ ok: true, baseDir: path.dirname(GOLDEN_FILE), issue: { format: 1 } });
  });
});

describe('formatProblems', () => {
  it('prints one line per problem, without a pointer for the whole file', () => {
    expect(
      formatProblems([
        { pointer: '', message: 'malformed JSON at line 1, column 2: Unexpected token' },
        { pointer: '/sections/2/items/0/url', message: 'must be an absolute http(s) URL' },
      ]),
    ).toBe('malformed JSON at line 1, column 2: Unexpected token\n/sections/2/items/0/url: must be an absolute http(s) URL');
  });
});
