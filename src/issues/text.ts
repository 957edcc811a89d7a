import stringWidth from 'string-width';
import { paragraphs, type LinkMark, type Paragraph } from './rich-text';
import type { RichText } from './types';
import { sectionHeading, type IssueView, type LinkView } from './view';

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
  if (!view.visitor) doc.block([strings.greeting(marks.name, marks.ifName, marks.endName)]);
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

  // The footer closes the part; its last line carries the unsubscribe marker (see mail/personalize.ts),
  // so no reference may be left to come after it. Labels and URLs on lines of their own: the
  // personal URLs are long, and must not wrap.
  doc.references();
  doc.block(['* * *']);
  if (view.visitor) {
    doc.block(wrap(strings.webNote(view.listName)));
    if (view.contact !== '') doc.block(wrap(view.contact));
    doc.block([`${strings.allIssues}:`, view.archiveUrl, `${strings.subscribe}:`, view.listUrl]);
    return doc.toString();
  }
  doc.block(wrap(strings.why(view.cadence, view.listName)));
  if (view.contact !== '') doc.block(wrap(view.contact));
  doc.block([`${strings.webVersion}:`, view.webUrl, `${strings.preferences}:`, marks.preferencesUrl, `${strings.unsubscribe}:`, marks.unsubscribeUrl]);
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
    return `${this.blocks.map((lines) => lines.join('\n')).join('\n\n')}\n`;
  }
}

function underlined(heading: string, char: '=' | '-'): string[] {
  const lines = wrap(heading.replace(/\s*\n\s*/g, ' '));
  return [...lines, char.repeat(Math.max(3, ...lines.map(displayWidth)))];
}

// ---------------------------------------------------------------------------------------------
// Rich text as wrapped blocks

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

// ---------------------------------------------------------------------------------------------
// Wrapping

/** Where prose wraps: within the 72–78 columns plain-text mail has always used. */
export const TEXT_WIDTH = 76;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const widths = new Map<string, number>();

/**
 * Columns a string takes in a terminal: East Asian wide and fullwidth characters take two.
 * string-width runs its emoji regex on every call (~2 µs), and wrapping asks for every CJK
 * character: printable ASCII is its length, anything else is asked once and remembered.
 */
export function displayWidth(text: string): number {
  if (PRINTABLE_ASCII.test(text)) return text.length;
  let width = widths.get(text);
  if (width === undefined) {
    width = stringWidth(text);
    if (widths.size >= 50_000) widths.clear(); // bounded, whatever a long-running process renders
    widths.set(text, width);
  }
  return width;
}

// No line starts with closing punctuation, and none ends with opening punctuation (kinsoku).
const NO_BREAK_BEFORE = new Set('、。，．：；？！）」』】〕〉》”’％…‥ー～・,.:;?!)]}%');
const NO_BREAK_AFTER = new Set('（「『【〔〈《“‘([{');
// Code points that belong to the character before them: combining marks, joiners, variation
// selectors, skin tones, tag characters (the parts of one user-perceived character). Each is
// matched alone (one code point against the class), so the lint's worry does not apply.
// eslint-disable-next-line no-misleading-character-class
const JOINS_PREVIOUS = /^[\p{M}\u200d\ufe0e\ufe0f\u{1f3fb}-\u{1f3ff}\u{e0020}-\u{e007f}]$/u;

interface Unit {
  text: string;
  /** A space stood before it: kept inside a line, dropped at a break. */
  spaced: boolean;
}

/**
 * Splits text into the pieces a line may break between: words, each wide character (CJK
 * breaks between any two characters), glued to the punctuation that may not start or end a
 * line. A word wider than the line stays whole (a URL or a long identifier is not cut).
 * Walks code points rather than Intl.Segmenter graphemes: five times faster on the golden
 * issue, and JOINS_PREVIOUS keeps what matters here (an emoji sequence, an accent) together.
 */
function units(text: string): Unit[] {
  const out: Unit[] = [];
  let spaced = false;
  let lastWide = false;
  let afterJoiner = false;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    const last = out.at(-1);
    if (last && (afterJoiner || (code >= 0x300 && JOINS_PREVIOUS.test(ch)))) {
      last.text += ch;
      afterJoiner = code === 0x200d;
      continue;
    }
    afterJoiner = false;
    if (code === 32 || (code < 32 ? code === 9 : code >= 0x80 && /^\s$/u.test(ch))) {
      spaced = out.length > 0;
      continue;
    }
    const wide = isWide(ch);
    const glue = last !== undefined && !spaced && (!(wide || lastWide) || NO_BREAK_BEFORE.has(ch) || NO_BREAK_AFTER.has(last.text.at(-1) as string));
    if (last && glue) last.text += ch;
    else out.push({ text: ch, spaced });
    spaced = false;
    lastWide = wide;
  }
  return out;
}

function isWide(ch: string): boolean {
  // Nothing below U+1100 (Hangul Jamo) is wide; the library decides the rest.
  return (ch.codePointAt(0) as number) >= 0x1100 && displayWidth(ch) >= 2;
}

/**
 * Wraps one paragraph at TEXT_WIDTH columns: `first` before its first line, `rest` before
 * the others (a list item's hanging indent). Hard line breaks in the text are kept.
 */
function wrap(text: string, first = '', rest = ''): string[] {
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
