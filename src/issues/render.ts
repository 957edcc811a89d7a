import { escapeHtml } from '../escape-html';
import { compileMjmlHere, type CompileMjml } from './mjml';
import { compilePersonalization, type TokenName } from '../mail/personalize';
import { richHtml, richInlineHtml } from './rich-text';
import { fillTemplate, type TemplateName, type Templates } from './templates';
import { renderText } from './text';
import type { Issue, RichText } from './types';
import { issueView, sectionHeading, type IssueView, type LinkView, type RenderContext } from './view';

// The view model is its own module (view.ts); what callers of renderIssue use is here too.
export { arxivUrl, issueView, numberedByEditor, type IssueView, type RenderContext } from './view';

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
 * Issue → MJML → HTML, plus the plain-text part. Pure: the same issue, context and templates
 * give the same bytes (no clock, no randomness, no IO; templates are loaded by the caller).
 */
export async function renderIssue(issue: Issue, ctx: RenderContext, templates: Templates, compile: CompileMjml = compileMjmlHere): Promise<RenderedIssue> {
  const view = issueView(issue, ctx);
  const mjml = issueMjml(view, templates);
  const html = withoutIndentation(await compile(mjml));
  const text = renderText(view);
  const tokens = new Set<TokenName>([...compilePersonalization(html).tokens, ...compilePersonalization(text).tokens]);
  return { subject: view.subject, preheader: view.preheader, mjml, html, text, tokens: [...tokens].sort() };
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
      // A visitor is greeted by nobody's name: the web version and the feed have no greeting.
      greeting: view.visitor ? '' : `<p style="margin:0 0 12px;">${escapeHtml(strings.greeting(view.marks.name, view.marks.ifName, view.marks.endName))}</p>`,
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
        number: section.number === undefined ? '' : `<span class="bs-accent" style="color:#b3261e;">${String(section.number).padStart(2, '0')}</span>&nbsp; `,
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
              citation: item.paper.url ? `<a href="${escapeHtml(item.paper.url)}">${escapeHtml(item.paper.citation)}</a>` : escapeHtml(item.paper.citation),
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
      // A visitor is in the browser already: the masthead's link is the call to subscribe,
      // to the form the web version puts at its foot (archive/web-version.ts, id "subscribe").
      webUrl: escapeHtml(view.visitor ? '#subscribe' : view.webUrl),
      viewInBrowser: escapeHtml(view.visitor ? strings.subscribe : strings.viewInBrowser),
      end,
    }),
    t('card', { blocks: blocks.join('\n') }),
    view.visitor
      ? visitorFooter(view, t)
      : t('footer', {
          why: escapeHtml(strings.why(view.cadence, view.listName)),
          contact: contactLine(view),
          webUrl: escapeHtml(view.webUrl),
          webVersion: escapeHtml(strings.webVersion),
          preferencesUrl: view.marks.preferencesUrl,
          preferences: escapeHtml(strings.preferences),
          unsubscribeUrl: view.marks.unsubscribeUrl,
          unsubscribe: escapeHtml(strings.unsubscribe),
        }),
  ];
  const fonts = fontStacks(view.language);
  return t('layout', {
    lang: escapeHtml(view.language),
    fonts: fonts.inline,
    allFonts: fonts.full,
    dir: view.dir,
    start,
    title: escapeHtml(issue.title),
    body: body.join('\n'),
  });
}

/** An empty paragraph would still take a line (and look like a missing sender). */
function contactLine(view: IssueView): string {
  return view.contact === '' ? '' : `<p class="bs-muted" style="margin:0 0 10px;">${escapeHtml(view.contact)}</p>`;
}

/** Nothing of the subscriber's footer: no reason "because you subscribed", no personal links. */
function visitorFooter(view: IssueView, t: (name: TemplateName, values: Record<string, string>) => string): string {
  return t('footer-visitor', {
    note: escapeHtml(view.strings.webNote(view.listName)),
    contact: contactLine(view),
    archiveUrl: escapeHtml(view.archiveUrl),
    archive: escapeHtml(view.strings.allIssues),
    listUrl: escapeHtml(view.listUrl),
    subscribe: escapeHtml(view.strings.subscribe),
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

/**
 * The font stacks for an issue's language. `inline` (the issue's own CJK faces) goes on every
 * block, for clients that drop the head's styles; `full` (all three scripts) is set once in
 * the head. Inlining the full stack costs ~7 KB, and took the golden HTML past 64 K
 * characters, where V8 allocates each personalized copy as a large object (100× slower).
 */
export function fontStacks(language: string): { inline: string; full: string } {
  const tag = language.toLowerCase();
  const first: keyof typeof CJK_FACES = tag.startsWith('ja') ? 'jp' : /^zh-(hant|tw|hk|mo)/.test(tag) ? 'tc' : 'sc';
  const order = [first, ...(['sc', 'tc', 'jp'] as const).filter((script) => script !== first)];
  return {
    inline: [LATIN_FACES, CJK_FACES[first], 'sans-serif'].join(','),
    full: [LATIN_FACES, ...order.map((script) => CJK_FACES[script]), 'sans-serif'].join(','),
  };
}

function anchor(sectionId: string): string {
  return `s-${sectionId}`;
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
// MJML → HTML

/**
 * MJML indents its output deeply; the indentation alone is ~20 % of the bytes. Dropping
 * whitespace after a newline changes nothing rendered (no <pre>, no pre-wrap in an email);
 * no-break spaces (the preheader padding) are not [ \t] and stay.
 */
function withoutIndentation(html: string): string {
  return html.replace(/[ \t]*\n[ \t\n]*/g, '\n');
}
