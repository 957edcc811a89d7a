import { createHash } from 'node:crypto';
import mjml2html from 'mjml';
import { AppError } from '../errors';
import type { Issue, Item, LinkCard, RichText } from './types';
import { markdown, SAFE_LINK } from './markdown';
import { escapeHtml } from '../escape-html';
import { compilePersonalization, markers, type TokenName } from './personalize';
import { formatDate, stringsFor, textDirection, type Strings } from './strings';
import { fillTemplate, type TemplateName, type Templates } from './templates';
import { plainText, renderText } from './text';

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
  /** Titles of the weekly issues a digest covers, by slug; a cover without one shows its slug. */
  coverTitles?: Readonly<Record<string, string>>;
}

export interface RenderedIssue {
  subject: string;
  preheader: string;
  mjml: string;
  /** With personalization markers: fill with compilePersonalization(html).fill(values, 'html'). */
  html: string;
  /** With personalization markers: fill with compilePersonalization(text).fill(values, 'text'). */
  text: string;
  /** Token names used in html and text. */
  tokens: string[];
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

/**
 * Issue → MJML → HTML, plus the plain-text part. Pure: the same issue, context and templates
 * give the same bytes (no clock, no randomness, no IO; templates are loaded by the caller).
 */
export async function renderIssue(issue: Issue, ctx: RenderContext, templates: Templates): Promise<RenderedIssue> {
  const view = issueView(issue, ctx);
  const mjml = issueMjml(view, templates);
  const html = await compileMjml(mjml);
  const text = renderText(view);
  const tokens = new Set<TokenName>([...compilePersonalization(html).tokens, ...compilePersonalization(text).tokens]);
  return { subject: view.subject, preheader: view.preheader, mjml, html, text, tokens: [...tokens].sort() };
}

// ---------------------------------------------------------------------------------------------
// The view

export function issueView(issue: Issue, ctx: RenderContext): IssueView {
  const language = issue.language ?? ctx.list.language;
  const excluded = new Set(ctx.excludeSections ?? []);
  // The nonce makes markers unforgeable by content: text in the issue cannot contain the
  // hash of the issue it is part of.
  const nonce = createHash('sha256').update(JSON.stringify([issue, ctx])).digest('hex').slice(0, 12);
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
    marks: {
      name: mark.token('name'),
      ifName: mark.ifFilled('name'),
      endName: mark.endIf('name'),
      preferencesUrl: mark.token('preferences_url'),
      unsubscribeUrl: mark.token('unsubscribe_url'),
    },
    covers: (issue.kind === 'digest' ? (issue.covers ?? []) : []).map((slug): LinkView => {
      const url = archiveUrl(ctx, slug);
      return { title: ctx.coverTitles?.[slug] ?? slug, url, host: hostOf(url) };
    }),
    sections,
    callToAction: issue.callToAction && {
      ...linkView(issue.callToAction, '/callToAction/url'),
      heading: issue.callToAction.heading,
    },
    linksHeading: issue.linksTitle ?? strings.furtherReading,
    links: (issue.links ?? []).map((link, i) => linkView(link, `/links/${i}/url`)),
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

function linkView(link: LinkCard, pointer: string): LinkView {
  const url = httpUrl(link.url, pointer);
  return { title: link.title, url, description: link.description, host: hostOf(url) };
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

// ---------------------------------------------------------------------------------------------
// MJML

// Invisible characters after the preheader so the inbox preview does not run on into the
// masthead ("&#847;&zwnj;&nbsp;", written as the characters themselves: fewer bytes).
const PREHEADER_PAD = '\u034F\u200C\u00A0'.repeat(90);

export function issueMjml(view: IssueView, templates: Templates): string {
  const t = (name: TemplateName, values: Record<string, string>) => fillTemplate(templates, name, values);
  const { strings, issue } = view;
  const start = view.dir === 'rtl' ? 'right' : 'left';
  const end = view.dir === 'rtl' ? 'left' : 'right';
  const rich = (source: RichText | undefined) => (source === undefined ? '' : richHtml(source, start));
  // Every block is an mj-text in the one column of the white card: one MJML section costs
  // ~1.5 KB of tables and Outlook conditionals, and Gmail clips mail over 102 KB (hiding the
  // footer, and with it the unsubscribe link).
  const blocks: string[] = [];
  const add = (mjml: string) => blocks.push(mjml);

  add(
    t('title', {
      title: escapeHtml(issue.title),
      isoDate: escapeHtml(issue.date),
      date: escapeHtml(view.date),
      greeting: escapeHtml(strings.greeting(view.marks.name, view.marks.ifName, view.marks.endName)),
      intro: rich(issue.intro),
    }),
  );

  if (view.covers.length > 0) {
    const entries = view.covers.map((c) => `<li style="margin:0 0 4px;"><a href="${escapeHtml(c.url)}">${escapeHtml(c.title)}</a></li>`);
    add(t('covers', { heading: escapeHtml(strings.covers), start, entries: entries.join('') }));
  }

  if (issue.highlights && issue.highlights.length > 0) {
    const highlightBlocks = issue.highlights.map((h) =>
      t('highlight', {
        title: escapeHtml(h.title),
        start,
        points: h.points.map((p) => `<li style="margin:0 0 6px;">${richInlineHtml(p)}</li>`).join(''),
      }),
    );
    add(t('highlights', { heading: escapeHtml(strings.highlights), blocks: highlightBlocks.join('\n') }));
  }

  if (view.sections.length > 3) {
    const entries = view.sections.map((s) => `<li><a href="#${escapeHtml(anchor(s.id))}">${escapeHtml(sectionHeading(s))}</a></li>`);
    add(t('toc', { heading: escapeHtml(strings.contents), entries: entries.join('') }));
  }

  for (const section of view.sections) {
    add(
      t('section', {
        anchor: escapeHtml(anchor(section.id)),
        number:
          section.number === undefined
            ? ''
            : `<span class="bs-accent" style="color:#b3261e;">${String(section.number).padStart(2, '0')}</span>&nbsp; `,
        title: escapeHtml(section.title),
        intro: rich(section.intro),
      }),
    );
    for (const item of section.items) {
      const body = t('item-body', {
        url: escapeHtml(item.url),
        title: escapeHtml(item.title),
        source: escapeHtml(item.source),
        paper: item.paper
          ? t('paper', {
              citation: item.paper.url
                ? `<a href="${escapeHtml(item.paper.url)}">${escapeHtml(item.paper.citation)}</a>`
                : escapeHtml(item.paper.citation),
            })
          : '',
        summary: rich(item.summary),
      });
      if (item.image) {
        add(
          t('item-media', {
            gap: `padding-${end}`,
            src: escapeHtml(item.image.src),
            alt: escapeHtml(item.image.alt),
            ...imageSizing(item.image),
            credit: item.image.credit === undefined ? '' : t('credit', { credit: richInlineHtml(item.image.credit) }),
            body,
          }),
        );
      } else {
        add(t('item', { body }));
      }
    }
  }

  if (issue.outro !== undefined) add(t('prose', { html: rich(issue.outro) }));
  const card = (link: LinkView, style: 'plain' | 'cta') =>
    t('link-card', {
      url: escapeHtml(link.url),
      title: escapeHtml(link.title),
      description: link.description ? `<span style="display:block;margin:2px 0 0;font-size:14px;line-height:1.6;">${escapeHtml(link.description)}</span>` : '',
      host: escapeHtml(link.host),
      ...(style === 'cta' ? CTA_CARD : PLAIN_CARD),
    });
  if (view.callToAction) {
    const { heading } = view.callToAction;
    add(t('links', { heading: heading === undefined ? '' : headingHtml(heading), cards: card(view.callToAction, 'cta') }));
  }
  if (view.links.length > 0) {
    add(t('links', { heading: headingHtml(view.linksHeading), cards: view.links.map((link) => card(link, 'plain')).join('\n') }));
  }

  const logo = view.logoUrl
    ? `<img src="${escapeHtml(view.logoUrl)}" alt="" width="28" height="28" class="bs-logo" style="display:inline-block;vertical-align:middle;width:28px;height:28px;object-fit:contain;border:0;border-radius:4px;margin-${end}:8px;" />`
    : '';
  const body = [
    t('header', {
      preheader: escapeHtml(view.preheader),
      preheaderPad: PREHEADER_PAD,
      logo,
      listName: escapeHtml(view.listName),
      webUrl: escapeHtml(view.webUrl),
      viewInBrowser: escapeHtml(strings.viewInBrowser),
      end,
    }),
    t('card', { blocks: blocks.join('\n') }),
    t('footer', {
      why: escapeHtml(strings.why(view.cadence, view.listName)),
      // An empty paragraph would still take a line (and look like a missing sender).
      contact: view.contact === '' ? '' : `<p class="bs-muted" style="margin:0 0 10px;">${escapeHtml(view.contact)}</p>`,
      webUrl: escapeHtml(view.webUrl),
      webVersion: escapeHtml(strings.webVersion),
      preferencesUrl: view.marks.preferencesUrl,
      preferences: escapeHtml(strings.preferences),
      unsubscribeUrl: view.marks.unsubscribeUrl,
      unsubscribe: escapeHtml(strings.unsubscribe),
    }),
  ];
  return t('layout', {
    lang: escapeHtml(view.language),
    fonts: fontStack(view.language),
    dir: view.dir,
    start,
    title: escapeHtml(issue.title),
    body: body.join('\n'),
  });
}

// Han characters take the first listed face that has them, and Chinese (simplified and
// traditional) and Japanese draw many of them differently: the issue's own script goes first.
const LATIN_FACES = `-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial`;
const CJK_FACES = {
  sc: `'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC'`,
  tc: `'PingFang TC','Microsoft JhengHei','Noto Sans CJK TC'`,
  jp: `'Hiragino Sans','Hiragino Kaku Gothic ProN','Yu Gothic',Meiryo,'Noto Sans CJK JP'`,
};

export function fontStack(language: string): string {
  const tag = language.toLowerCase();
  const first = tag.startsWith('ja') ? 'jp' : /^zh-(hant|tw|hk|mo)/.test(tag) ? 'tc' : 'sc';
  const order = [first, ...(['sc', 'tc', 'jp'] as const).filter((script) => script !== first)] as (keyof typeof CJK_FACES)[];
  return [LATIN_FACES, ...order.map((script) => CJK_FACES[script]), 'sans-serif'].join(',');
}

function anchor(sectionId: string): string {
  return `s-${sectionId}`;
}

/** The heading as the contents and the text part show it: "2. Papers", or the editor's own "2. Papers". */
export function sectionHeading(section: Pick<SectionView, 'number' | 'title'>): string {
  return section.number === undefined ? section.title : `${section.number}. ${section.title}`;
}

function headingHtml(text: string): string {
  return `<h2 class="bs-accent" style="margin:0 0 12px;font-size:13px;line-height:1.6;letter-spacing:0.08em;text-transform:uppercase;font-weight:700;color:#b3261e;">${escapeHtml(text)}</h2>`;
}

// A call to action is the same card as a link card, tinted and with a stronger border.
const PLAIN_CARD = { boxClass: 'bs-box', boxStyle: 'border:1px solid #e3ddd1;' };
const CTA_CARD = { boxClass: 'bs-box bs-tint', boxStyle: 'border:2px solid #b3261e;background:#f6f1e7;' };

// The image column is 216 px wide on a wide screen, 16 of them the gap to the text.
const IMAGE_COLUMN = 200;

/**
 * The img's size attributes and CSS. With a known natural size: width/height attributes at the
 * size the wide layout shows (what Outlook, which ignores CSS max-width, uses; browsers take
 * the aspect ratio from them before the image loads), and CSS that fills the column on a phone
 * up to the natural width, never beyond. Without one: Outlook keeps the column width, other
 * clients show the image at its own size, at most the column's.
 */
function imageSizing(image: { width?: number; height?: number }): { size: string; fit: string } {
  if (image.width === undefined || image.height === undefined) {
    return { size: `width="${IMAGE_COLUMN}"`, fit: 'width:auto;max-width:100%;height:auto;' };
  }
  const width = Math.min(image.width, IMAGE_COLUMN);
  const height = Math.max(1, Math.round((image.height * width) / image.width));
  return { size: `width="${width}" height="${height}"`, fit: `width:100%;max-width:${image.width}px;height:auto;` };
}

// ---------------------------------------------------------------------------------------------
// Rich text

type Token = ReturnType<typeof markdown.parse>[number];

/** Rich text as block HTML (paragraphs, lists) with inline spacing that survives any client. */
export function richHtml(source: RichText, start: 'left' | 'right' = 'left'): string {
  const env = {};
  const tokens = markdown.parse(source, env);
  for (const token of tokens) {
    if (token.type === 'paragraph_open') token.attrSet('style', 'margin:0 0 12px;');
    else if (token.type === 'bullet_list_open' || token.type === 'ordered_list_open') token.attrSet('style', `margin:0 0 12px;padding-${start}:22px;`);
    else if (token.type === 'list_item_open') token.attrSet('style', 'margin:0 0 4px;');
    else if (token.type === 'inline') dropUnsafeLinks(token.children);
  }
  return markdown.renderer.render(tokens, markdown.options, env).trim();
}

/** Rich text where only inline HTML may go (list items, credits): paragraphs become line breaks. */
export function richInlineHtml(source: RichText): string {
  const env = {};
  const tokens = markdown.parseInline(source.trim(), env);
  for (const token of tokens) dropUnsafeLinks(token.children);
  return markdown.renderer.render(tokens, markdown.options, env).trim();
}

/** A link to anything but http(s) or mailto keeps its text and loses its link. */
function dropUnsafeLinks(children: Token[] | null): void {
  if (!children) return;
  const kept: Token[] = [];
  let dropping = false; // links do not nest, so the next link_close is the unsafe link's
  for (const token of children) {
    if (token.type === 'link_open' && !SAFE_LINK.test(String(token.attrGet('href') ?? ''))) dropping = true;
    else if (token.type === 'link_close' && dropping) dropping = false;
    else kept.push(token);
  }
  children.splice(0, children.length, ...kept);
}

// ---------------------------------------------------------------------------------------------
// MJML → HTML

async function compileMjml(mjml: string): Promise<string> {
  let result: Awaited<ReturnType<typeof mjml2html>>;
  try {
    // fonts: {} keeps MJML from linking Google Fonts; keepComments: false drops comments.
    result = await mjml2html(mjml, { validationLevel: 'strict', keepComments: false, fonts: {} });
  } catch (err) {
    const errors = (err as { errors?: unknown }).errors;
    throw new AppError('internal', `MJML did not compile: ${(err as Error).message}`, errors);
  }
  if (result.errors.length > 0) {
    throw new AppError('internal', `MJML reported ${result.errors.length} errors`, result.errors);
  }
  // MJML indents its output deeply; the indentation alone is ~20 % of the bytes. Dropping
  // whitespace after a newline changes nothing rendered (no <pre>, no pre-wrap in an email);
  // no-break spaces (the preheader padding) are not [ \t] and stay.
  return result.html.replace(/[ \t]*\n[ \t\n]*/g, '\n');
}
