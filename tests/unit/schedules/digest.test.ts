import { validateIssue } from '../../../src/issues/validate';
import type { Issue, Item } from '../../../src/issues/types';
import { buildDigest, storyKey, type DigestOptions, type DigestWeekly } from '../../../src/schedules/digest';

// Small builders: a weekly is a date, sections of (id, item titles/urls), optional highlights.
function item(title: string, url: string, extra: Partial<Item> = {}): Item {
  return { title, url, ...extra };
}

function weekly(slug: string, date: string, sections: Issue['sections'], extra: Partial<Issue> = {}): DigestWeekly {
  return { slug, date, content: { format: 1, list: 'ml-news', kind: 'weekly', slug, title: `Week ${slug}`, date, sections, ...extra } };
}

const options = (over: Partial<DigestOptions['list']> = {}): DigestOptions => ({
  list: { slug: 'ml-news', name: 'ML News', language: 'en', digest_title: null, digest_preheader: null, ...over },
  year: 2021,
  month: 2,
  imageSrc: (weeklySlug, src) => `${weeklySlug}/${src}`,
});

const MONTH = [
  weekly(
    'w1',
    '2021-02-01',
    [
      { id: 'papers', title: 'Papers', items: [item('DALL·E', 'https://openai.com/dall-e/'), item('NFNet v1', 'https://arxiv.org/abs/2102.06171')] },
      { id: 'news', title: 'News', items: [item('Funding', 'https://example.com/funding')] },
    ],
    { highlights: [{ title: 'Top', points: ['DALL·E is out'] }] },
  ),
  weekly(
    'w2',
    '2021-02-08',
    [
      { id: 'news', title: 'News of the week', items: [item('Chips', 'https://example.com/chips')] },
      { id: 'tools', title: 'Tools', items: [item('A library', 'https://example.com/lib', { image: { src: 'images/lib.png', alt: 'logo' } })] },
    ],
    {
      highlights: [
        { title: 'Top', points: ['DALL·E is out', 'Chips are scarce'] },
        { title: 'Quote', points: ['“Scale”'] },
      ],
    },
  ),
  // Ran again, updated, and with a trailing slash and a fragment: the same story.
  weekly('w3', '2021-02-15', [{ id: 'papers', title: 'Papers', items: [item('NFNet, updated', 'https://arxiv.org/abs/2102.06171/#v2')] }]),
  // Another month: never in February's digest.
  weekly('m1', '2021-03-01', [{ id: 'papers', title: 'Papers', items: [item('March', 'https://example.com/march')] }]),
];

describe('buildDigest', () => {
  const digest = buildDigest(MONTH, options())!;

  it("covers the month's weeklies, oldest first (the email links each to its archive page)", () => {
    expect(digest.kind).toBe('digest');
    expect(digest.slug).toBe('digest-2021-02');
    expect(digest.date).toBe('2021-02-28');
    expect(digest.covers).toEqual(['w1', 'w2', 'w3']);
    // The weeklies' own further-reading cards are theirs, not the digest's.
    expect(digest.links).toBeUndefined();
  });

  it('merges sections by id in the order they first appear, with the latest title', () => {
    expect(digest.sections.map((s) => [s.id, s.title])).toEqual([
      ['papers', 'Papers'],
      ['news', 'News of the week'],
      ['tools', 'Tools'],
    ]);
  });

  it('keeps each story once, as the latest weekly had it', () => {
    const all = digest.sections.flatMap((s) => s.items.map((i) => i.title));
    expect(all).toEqual(['DALL·E', 'NFNet, updated', 'Funding', 'Chips', 'A library']);
    expect(new Set(digest.sections.flatMap((s) => s.items.map((i) => storyKey(i.url)))).size).toBe(all.length);
  });

  it('a story that moved section stays where it first ran, with the latest words, and an emptied section goes', () => {
    const moved = buildDigest(
      [
        weekly('a', '2021-02-01', [{ id: 'old', title: 'Old', items: [item('Story', 'https://example.com/s')] }]),
        weekly('b', '2021-02-08', [{ id: 'new', title: 'New', items: [item('Story again', 'https://example.com/s')] }]),
      ],
      options(),
    )!;
    expect(moved.sections).toEqual([{ id: 'old', title: 'Old', items: [item('Story again', 'https://example.com/s')] }]);
  });

  it('a story in two weeklies keeps its first position and its image, even when the later one has none', () => {
    const twice = buildDigest(
      [
        weekly('a', '2021-02-01', [
          {
            id: 'papers',
            title: 'Papers',
            items: [
              item('Shared', 'https://example.com/shared', { image: { src: 'images/shared.png', alt: 'chart' } }),
              item('Other', 'https://example.com/o'),
            ],
          },
        ]),
        weekly('b', '2021-02-08', [
          { id: 'papers', title: 'Papers', items: [item('Third', 'https://example.com/t'), item('Shared, again', 'https://example.com/shared')] },
        ]),
      ],
      options(),
    )!;
    expect(twice.sections[0]!.items.map((i) => [i.title, i.image?.src])).toEqual([
      ['Shared, again', 'a/images/shared.png'],
      ['Other', undefined],
      ['Third', undefined],
    ]);
  });

  it('merges highlights by title, each point once', () => {
    expect(digest.highlights).toEqual([
      { title: 'Top', points: ['DALL·E is out', 'Chips are scarce'] },
      { title: 'Quote', points: ['“Scale”'] },
    ]);
  });

  it('points relative images at the weekly that owns them', () => {
    const lib = digest.sections.find((s) => s.id === 'tools')!.items[0]!;
    expect(lib.image?.src).toBe('w2/images/lib.png');
  });

  it("takes title and preheader from the list's templates, or says it in the list's language", () => {
    expect(digest.title).toBe('ML News: the February 2021 digest');
    expect(digest.preheader).toBe('The 3 weekly issues of February 2021 in one email.');
    const custom = buildDigest(MONTH, options({ digest_title: '{month} at {list}', digest_preheader: '{count} weeks' }))!;
    expect([custom.title, custom.preheader]).toEqual(['February 2021 at ML News', '3 weeks']);
    const zh = buildDigest(MONTH, options({ language: 'zh-CN', name: '机器学习月报' }))!;
    expect(zh.title).toBe('机器学习月报：2021年2月月度精选');
  });

  it('is a valid issue of format 1', () => {
    expect(validateIssue(digest, { assetExists: () => true })).toEqual({ ok: true, issue: digest });
  });

  it('is nothing for a month without weeklies', () => {
    expect(buildDigest(MONTH, { ...options(), month: 4 })).toBeUndefined();
    expect(buildDigest([], options())).toBeUndefined();
  });
});
