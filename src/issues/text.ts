import stringWidth from 'string-width';
import { markdown, SAFE_LINK } from './markdown';
import { sectionHeading, type IssueView, type LinkView } from './render';
import type { RichText } from './types';

/**
 * The plain-text part, built from the issue (never scraped from the HTML): readable as is in a
 * terminal. Prose is wrapped at 76 columns, East Asian wide characters counted as two; links
 * become numbered references (`[3]`) whose URLs stand alone on their own lines after the block
 * that first uses them, so that no URL is broken by the wrapping, and none is printed twice.
 * Images are not shown in the text part, so neither are their credits.
 */
export function renderText(view: IssueView): string {
  const { issue, strings, marks } = view;
  const doc = new TextDocument();

  doc.block([view.listName]);
  doc.block([...underlined(issue.title, '='), view.date]);
  // Not wrapped: the greeting holds personalization markers, whose width is not the name's.
  doc.block([strings.greeting(marks.name, marks.ifName, marks.endName)]);
  if (issue.intro !== undefined) doc.prose(issue.intro);

  if (view.covers.length > 0) {
    doc.block(underlined(strings.covers, '-'));
    doc.block(view.covers.flatMap((c) => wrap(`${c.title} ${doc.ref(c.url)}`, '- ', '  ')));
    doc.references();
  }

  if (issue.highlights && issue.highlights.length > 0) {
    doc.block(underlined(strings.highlights, '-'));
    for (const h of issue.highlights) {
      doc.block([...wrap(h.title), ...h.points.flatMap((point) => pointLines(point, doc))]);
      doc.references();
    }
  }

  for (const section of view.sections) {
    doc.block(underlined(sectionHeading(section), '-'));
    if (section.intro !== undefined) doc.prose(section.intro);
    for (const item of section.items) {
      const head = [...wrap(`${item.title} ${doc.ref(item.url)}`), ...wrap(item.source)];
      if (item.paper) head.push(...wrap(item.paper.url ? `${item.paper.citation} ${doc.ref(item.paper.url)}` : item.paper.citation));
      doc.block(head);
      if (item.summary !== undefined) doc.rich(item.summary);
      doc.references();
    }
  }

  if (issue.outro !== undefined) doc.prose(issue.outro);
  if (view.callToAction) {
    if (view.callToAction.heading !== undefined) doc.block(underlined(view.callToAction.heading, '-'));
    doc.card(view.callToAction);
  }
  if (view.links.length > 0) {
    doc.block(underlined(view.linksHeading, '-'));
    for (const link of view.links) doc.card(link);
  }

  // The footer closes the part; its last line carries the unsubscribe marker (see personalize.ts).
  // Labels and URLs on lines of their own: the personal URLs are long, and must not wrap.
  doc.block(['* * *']);
  doc.block(wrap(strings.why(view.cadence, view.listName)));
  if (view.contact !== '') doc.block(wrap(view.contact));
  doc.block([
    `${strings.webVersion}:`,
    view.webUrl,
    `${strings.preferences}:`,
    marks.preferencesUrl,
    `${strings.unsubscribe}:`,
    marks.unsubscribeUrl,
  ]);
  return doc.toString();
}

/**
 * Blocks of lines separated by one blank line, and the numbered references: each URL gets a
 * number the first time it is mentioned, and is listed (`[n] URL`) after that block only.
 */
class TextDocument {
  private readonly blocks: string[][] = [];
  private readonly numbers = new Map<string, number>();
  private pending: string[] = [];

  block(lines: string[]): void {
    if (lines.length > 0) this.blocks.push(lines);
  }

  /** Rich text: its paragraphs and lists as blocks. */
  rich(source: RichText): void {
    for (const block of richBlocks(source, (href) => this.ref(href))) this.block(block);
  }

  /** Rich text that stands alone (intro, outro), its references after it. */
  prose(source: RichText): void {
    this.rich(source);
    this.references();
  }

  card(link: LinkView): void {
    this.block([...wrap(`${link.title} ${this.ref(link.url)}`), ...(link.description ? wrap(link.description) : [])]);
    this.references();
  }

  /** `[n]` for a URL; its line is listed by the next references(). */
  ref(url: string): string {
    let n = this.numbers.get(url);
    if (n === undefined) {
      n = this.numbers.size + 1;
      this.numbers.set(url, n);
      this.pending.push(`[${n}] ${url}`);
    }
    return `[${n}]`;
  }

  /** The URLs first mentioned since the last call, as a block. */
  references(): void {
    this.block(this.pending);
    this.pending = [];
  }

  toString(): string {
    this.references();
    return `${this.blocks.map((lines) => lines.join('\n')).join('\n\n')}\n`;
  }
}

function underlined(heading: string, char: '=' | '-'): string[] {
  const lines = wrap(heading.replace(/\s*\n\s*/g, ' '));
  return [...lines, char.repeat(Math.max(3, ...lines.map(displayWidth)))];
}

// ---------------------------------------------------------------------------------------------
// Rich text

type Token = ReturnType<typeof markdown.parse>[number];

/** What a link becomes in running text: e.g. ` [3]`, or '' to keep only its label. */
type LinkMark = (href: string) => string;

interface Paragraph {
  text: string;
  /** `- ` or `2. ` for a list item (with its nesting as leading spaces), '' for a paragraph. */
  marker: string;
}

/**
 * Rich text (Markdown subset) as paragraphs and list items, in order, each tagged with the
 * list it belongs to (undefined for a paragraph), so that callers group a list's items.
 * Links become `label` plus what `mark` says; a label that is the URL itself (or the address of
 * a mailto:) gives just the mark, so that the URL is never printed twice. Links to anything but
 * http(s)/mailto keep only their text.
 */
function paragraphs(source: RichText, mark: LinkMark): { paragraph: Paragraph; list?: number }[] {
  const out: { paragraph: Paragraph; list?: number }[] = [];
  const lists: { ordered: boolean; n: number }[] = [];
  let topList = 0;
  let marker: string | undefined;
  for (const token of markdown.parse(source, {})) {
    switch (token.type) {
      case 'bullet_list_open':
      case 'ordered_list_open':
        if (lists.length === 0) topList += 1;
        lists.push({ ordered: token.type === 'ordered_list_open', n: Number(token.attrGet('start') ?? 1) - 1 });
        break;
      case 'bullet_list_close':
      case 'ordered_list_close':
        lists.pop();
        break;
      case 'list_item_open': {
        const list = lists.at(-1);
        if (list) {
          list.n += 1;
          marker = '  '.repeat(lists.length - 1) + (list.ordered ? `${list.n}. ` : '- ');
        }
        break;
      }
      case 'inline': {
        const text = inlineText(token.children ?? [], mark);
        if (lists.length === 0) out.push({ paragraph: { text, marker: '' } });
        else out.push({ paragraph: { text, marker: marker ?? '  '.repeat(lists.length) }, list: topList });
        marker = undefined;
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/** Rich text as wrapped blocks: one per paragraph, one per top-level list. */
function richBlocks(source: RichText, mark: LinkMark): string[][] {
  const blocks: string[][] = [];
  let lastList: number | undefined;
  for (const { paragraph, list } of paragraphs(source, mark)) {
    const lines = paragraphLines(paragraph);
    const current = blocks.at(-1);
    if (list !== undefined && list === lastList && current) current.push(...lines);
    else blocks.push(lines);
    lastList = list;
  }
  return blocks;
}

/** Rich text as one list item (a highlight point): `- ` before it, its paragraphs indented under it. */
function pointLines(source: RichText, doc: TextDocument): string[] {
  return paragraphs(source, (href) => doc.ref(href)).flatMap(({ paragraph }, i) => paragraphLines(paragraph, i === 0 ? '- ' : '  '));
}

/** A paragraph wrapped under its marker, the next lines indented to the marker's width. */
function paragraphLines({ text, marker }: Paragraph, before = ''): string[] {
  const first = before + marker;
  return wrap(text, first, ' '.repeat(displayWidth(first)));
}

/** Rich text as unwrapped text without its link targets: for the preheader. */
export function plainText(source: RichText): string {
  return paragraphs(source, () => '')
    .map(({ paragraph }) => paragraph.marker + paragraph.text)
    .join('\n')
    .trim();
}

function inlineText(children: Token[], mark: LinkMark): string {
  let text = '';
  let href: string | undefined;
  let labelStart = 0;
  for (const token of children) {
    switch (token.type) {
      case 'text':
      case 'code_inline':
        text += token.content;
        break;
      case 'softbreak':
        text += ' ';
        break;
      case 'hardbreak':
        text += '\n';
        break;
      case 'link_open': {
        const target = String(token.attrGet('href') ?? '');
        href = SAFE_LINK.test(target) ? target : undefined;
        labelStart = text.length;
        break;
      }
      case 'link_close': {
        const label = text.slice(labelStart).trim();
        if (href === undefined || href === `mailto:${label}`) {
          // no link to show, or the address is the label already
        } else if (/^(https?:\/\/|www\.)/i.test(label)) {
          // A URL as the label (often a shorter form of the target): the mark stands for both.
          const marked = mark(href);
          if (marked !== '') text = text.slice(0, labelStart) + marked;
        } else {
          const marked = mark(href);
          if (marked !== '') text += ` ${marked}`;
        }
        href = undefined;
        break;
      }
      default:
        break;
    }
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Wrapping

/** Where prose wraps: within the 72–78 columns plain-text mail has always used. */
export const TEXT_WIDTH = 76;

/** Columns a string takes in a terminal: East Asian wide and fullwidth characters take two. */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

// No line starts with closing punctuation, and none ends with opening punctuation (kinsoku).
const NO_BREAK_BEFORE = /^[、。，．：；？！）」』】〕〉》”’％…‥ー～・,.:;?!)\]}%]/u;
const NO_BREAK_AFTER = /[（「『【〔〈《“‘([{]$/u;
const SPACE = /^\s$/u;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

interface Unit {
  text: string;
  /** A space stood before it: kept inside a line, dropped at a break. */
  spaced: boolean;
}

/**
 * Splits text into the pieces a line may break between: words, each wide character (CJK
 * breaks between any two characters), glued to the punctuation that may not start or end a
 * line. A word wider than the line stays whole (a URL or a long identifier is not cut).
 */
function units(text: string): Unit[] {
  const out: Unit[] = [];
  let spaced = false;
  let lastWide = false;
  for (const { segment } of graphemes.segment(text)) {
    if (SPACE.test(segment)) {
      spaced = out.length > 0;
      continue;
    }
    const wide = isWide(segment);
    const last = out.at(-1);
    const glue = last !== undefined && !spaced && (!(wide || lastWide) || NO_BREAK_BEFORE.test(segment) || NO_BREAK_AFTER.test(last.text));
    if (last && glue) last.text += segment;
    else out.push({ text: segment, spaced });
    spaced = false;
    lastWide = wide;
  }
  return out;
}

function isWide(grapheme: string): boolean {
  // Latin-1 and general punctuation are never wide; the library decides the rest.
  return (grapheme.codePointAt(0) as number) >= 0x1100 && stringWidth(grapheme) >= 2;
}

/**
 * Wraps one paragraph at TEXT_WIDTH columns: `first` before its first line, `rest` before
 * the others (a list item's hanging indent). Hard line breaks in the text are kept.
 */
export function wrap(text: string, first = '', rest = ''): string[] {
  const lines: string[] = [];
  for (const [i, part] of text.split('\n').entries()) {
    let line = i === 0 ? first : rest;
    let width = displayWidth(line);
    let empty = true;
    for (const unit of units(part)) {
      const unitWidth = displayWidth(unit.text);
      const gap = !empty && unit.spaced ? 1 : 0;
      if (!empty && width + gap + unitWidth > TEXT_WIDTH) {
        lines.push(line);
        line = rest + unit.text;
        width = displayWidth(rest) + unitWidth;
      } else {
        line += (gap ? ' ' : '') + unit.text;
        width += gap + unitWidth;
      }
      empty = false;
    }
    lines.push(line.trimEnd());
  }
  return lines;
}
