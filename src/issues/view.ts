import { createHash } from 'node:crypto';
import { AppError } from '../errors';
import { markers } from '../mail/personalize';
import { plainText } from './rich-text';
import { formatDate, stringsFor, textDirection, type Strings } from './strings';
import type { Issue, Item, LinkCard, RichText } from './types';

export interface RenderContext {
  list: {
    slug: string;
    name: string;
    /** Used when the issue has no `language`. */
    language: string;
    /** The postal / contact line, plain text. */
    contact: string;
    logoUrl?: string;
  };
  /** e.g. http://localhost:3000, without trailing slash. */
  publicUrl: string;
  /** Relative image paths resolve against this, e.g. `${publicUrl}/assets/ml-news/2021-02`. */
  assetBaseUrl: string;
  /** The subscriber's cadence, named in the footer (a digest always names the monthly edition). */
  cadence: 'weekly' | 'monthly';
  /** Section ids the subscriber opted out of: render once per distinct choice. */
  excludeSections?: string[];
  /**
   * Titles of the sent weekly issues a digest covers, by slug: when given, a cover without one
   * is left out (not public); without them (the editor's preview) every cover shows its slug.
   */
  coverTitles?: Readonly<Record<string, string>>;
  /**
   * Who reads it: a subscriber (the email: a greeting, why they get it, their preferences and
   * unsubscribe links) or a visitor (the web version and the feed: none of those, and nothing
   * to personalize). Default: subscriber.
   */
  audience?: 'subscriber' | 'visitor';
}

/**
 * Everything both parts need, resolved once from the issue and the context: the sections the
 * subscriber gets, absolute URLs, citations, the words of the issue's language and the
 * personalization markers. Plain data; rich text is still Markdown here.
 */
export interface IssueView {
  issue: Issue;
  language: string;
  dir: 'ltr' | 'rtl';
  strings: Strings;
  subject: string;
  preheader: string;
  /** The date as readers of the language write it. */
  date: string;
  listName: string;
  /** The list's contact / postal line; '' when the list has none (then no line is shown). */
  contact: string;
  /** The edition the footer names: 'monthly' for a digest, whatever the context says. */
  cadence: RenderContext['cadence'];
  logoUrl?: string;
  /** The public archive page of the issue: the same for everyone, so not a token. */
  webUrl: string;
  /** The web version or the feed: no greeting, no personal links, no markers at all. */
  visitor: boolean;
  /** The list's subscribe page and archive, for a visitor's footer. */
  listUrl: string;
  archiveUrl: string;
  marks: { name: string; ifName: string; endName: string; preferencesUrl: string; unsubscribeUrl: string };
  /** A digest's weekly issues, with their archive pages; empty for a weekly issue. */
  covers: LinkView[];
  sections: SectionView[];
  callToAction?: LinkView & { heading?: string };
  linksHeading: string;
  links: LinkView[];
}

export interface SectionView {
  id: string;
  /**
   * 1-based position among the sections this subscriber gets, shown before the title;
   * undefined when the editor numbers the sections in their titles ("1. Featured").
   */
  number?: number;
  title: string;
  intro?: RichText;
  items: ItemView[];
}

export interface ItemView {
  title: string;
  url: string;
  source: string;
  /** width and height: the natural size, when known. */
  image?: { src: string; alt: string; credit?: RichText; width?: number; height?: number };
  paper?: { citation: string; url?: string };
  summary?: RichText;
}

export interface LinkView {
  title: string;
  url: string;
  description?: string;
  host: string;
}

export function issueView(issue: Issue, ctx: RenderContext): IssueView {
  const language = issue.language ?? ctx.list.language;
  const excluded = new Set(ctx.excludeSections ?? []);
  // The nonce makes markers unforgeable by content: text in the issue cannot contain the
  // hash of the issue it is part of.
  const nonce = createHash('sha256')
    .update(JSON.stringify([issue, ctx]))
    .digest('hex')
    .slice(0, 12);
  const mark = markers(nonce);
  const autoNumber = !issue.sections.some((section) => numberedByEditor(section.title));
  const sections = issue.sections
    .map((section, index) => ({ section, index }))
    .filter(({ section }) => !excluded.has(section.id))
    .map(({ section, index }, position): SectionView => ({
      id: section.id,
      number: autoNumber ? position + 1 : undefined,
      title: section.title,
      intro: section.intro,
      items: section.items.map((item, i) => itemView(item, ctx, `/sections/${index}/items/${i}`)),
    }));
  const strings = stringsFor(language);
  return {
    issue,
    language,
    dir: textDirection(language),
    strings,
    subject: issue.subject ?? issue.title,
    preheader: issue.preheader ?? derivePreheader(issue),
    date: formatDate(issue.date, language),
    listName: ctx.list.name,
    contact: ctx.list.contact.trim(),
    cadence: issue.kind === 'digest' ? 'monthly' : ctx.cadence,
    logoUrl: ctx.list.logoUrl === undefined ? undefined : httpUrl(ctx.list.logoUrl, 'list logo URL', 'invalid_input'),
    webUrl: archiveUrl(ctx, issue.slug),
    visitor: ctx.audience === 'visitor',
    listUrl: `${ctx.publicUrl}/lists/${encodeURIComponent(ctx.list.slug)}`,
    archiveUrl: `${ctx.publicUrl}/lists/${encodeURIComponent(ctx.list.slug)}/archive`,
    marks: {
      name: mark.token('name'),
      ifName: mark.ifFilled('name'),
      endName: mark.endIf('name'),
      preferencesUrl: mark.token('preferences_url'),
      unsubscribeUrl: mark.token('unsubscribe_url'),
    },
    // With the titles of the sent weeklies given (a send, the web version), a cover without
    // one is not a sent issue: its title is not public, and its link would be a 404.
    covers: (issue.kind === 'digest' ? (issue.covers ?? []) : [])
      .filter((slug) => !ctx.coverTitles || Object.hasOwn(ctx.coverTitles, slug))
      .map((slug): LinkView => {
        const url = archiveUrl(ctx, slug);
        return { title: ctx.coverTitles?.[slug] ?? slug, url, host: hostOf(url) };
      }),
    sections,
    callToAction: issue.callToAction && {
      ...linkView(issue.callToAction, '/callToAction/url', ctx),
      heading: issue.callToAction.heading,
    },
    linksHeading: issue.linksTitle ?? strings.furtherReading,
    links: (issue.links ?? []).map((link, i) => linkView(link, `/links/${i}/url`, ctx)),
  };
}

/**
 * "1. Featured", "01 — Papers", "III. Tools", "第一章", "（一）": the editor numbers the
 * sections, and the email must not number them again. One numbered title is enough to turn
 * automatic numbers off for the whole issue: half-numbered headings read worse than none.
 */
export function numberedByEditor(title: string): boolean {
  return (
    /^\s*\d{1,3}(?:\s*[.)．、:：](?!\d)|\s+[-–—]\s)/u.test(title) || // 1. 2) 3、 04 — (not "1.5 billion")
    /^\s*[IVXLC]{1,7}[.)]\s/u.test(title) || // II. (upper case: "Civil: …" is not a number)
    /^\s*[(（][\d一二三四五六七八九十]{1,3}[)）]|^\s*第[\d一二三四五六七八九十百]{1,4}[章节部篇期]/u.test(title) // （一） 第三章
  );
}

function archiveUrl(ctx: RenderContext, issueSlug: string): string {
  return `${ctx.publicUrl}/lists/${encodeURIComponent(ctx.list.slug)}/archive/${encodeURIComponent(issueSlug)}`;
}

function linkView(link: LinkCard, pointer: string, ctx: RenderContext): LinkView {
  const url = httpUrl(link.url, pointer);
  return { title: link.title, url, description: link.description, host: cardHost(url, ctx) };
}

/**
 * The line under a card's title says where the link goes. A link to this Broadsheet itself
 * (a "forward it to a friend" card pointing at the subscribe page) would say "localhost" or a
 * bare host name, which tells a reader nothing: it names the list instead.
 */
function cardHost(url: string, ctx: RenderContext): string {
  const own = new URL(ctx.publicUrl);
  const target = new URL(url);
  return target.host === own.host ? ctx.list.name : hostOf(url);
}

function itemView(item: Item, ctx: RenderContext, pointer: string): ItemView {
  const url = httpUrl(item.url, `${pointer}/url`);
  return {
    title: item.title,
    url,
    source: item.source ?? hostOf(url),
    image: item.image && {
      src: imageUrl(item.image.src, ctx.assetBaseUrl, `${pointer}/image/src`),
      alt: item.image.alt,
      credit: item.image.credit,
      width: item.image.width,
      height: item.image.height,
    },
    paper: item.paper && { citation: `[${item.paper.id}] ${item.paper.title}`, url: arxivUrl(item.paper.id) },
    summary: item.summary,
  };
}

/** `2102.12092`, `arXiv:2102.12092v2`, `hep-th/9901001` → its abstract page. */
export function arxivUrl(id: string): string | undefined {
  const m = /^(?:arxiv:)?(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[a-z]{2})?\/\d{7}(?:v\d+)?)$/i.exec(id.trim());
  return m ? `https://arxiv.org/abs/${m[1]}` : undefined;
}

function hostOf(url: string): string {
  return new URL(url).hostname.replace(/^www\./, '');
}

/**
 * Validation guarantees http(s) URLs; rendering checks again because an email must never carry
 * a `javascript:` or `data:` link, whatever reached it.
 */
function httpUrl(value: string, pointer: string, code: 'invalid_issue' | 'invalid_input' = 'invalid_issue'): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') {
    const message = 'must be an absolute http(s) URL';
    throw new AppError(code, `${pointer}: ${message}`, code === 'invalid_issue' ? [{ pointer, message }] : undefined);
  }
  return value;
}

/** Relative image paths are assets of the issue, served under assetBaseUrl. No data: URLs. */
function imageUrl(src: string, assetBaseUrl: string, pointer: string): string {
  let resolved: string;
  try {
    resolved = new URL(src, `${assetBaseUrl}/`).href;
  } catch {
    resolved = src;
  }
  return httpUrl(resolved, pointer);
}

function derivePreheader(issue: Issue): string {
  const source = issue.intro ?? issue.highlights?.[0]?.points[0] ?? '';
  const text = plainText(source).replace(/\s+/g, ' ').trim();
  return text.length <= 150 ? text : `${text.slice(0, 149)}…`;
}

/** The heading as the contents and the text part show it: "2. Papers", or the editor's own "2. Papers". */
export function sectionHeading(section: Pick<SectionView, 'number' | 'title'>): string {
  return section.number === undefined ? section.title : `${section.number}. ${section.title}`;
}
