import { markdown, SAFE_LINK } from './markdown';
import type { IssueView } from './render';
import type { RichText } from './types';

/**
 * The plain-text part, built from the issue (never scraped from the HTML): readable as is in a
 * terminal. Headings are underlined to their display width (a CJK character takes two columns),
 * every link shows its URL, and each item (title, source, citation, summary, image credit)
 * ends with its URL on its own line.
 */
export function renderText(view: IssueView): string {
  const { issue, strings, marks } = view;
  const out: string[] = [];
  const para = (text: string) => {
    if (text !== '') out.push(text, '');
  };

  para(view.listName);
  out.push(...underlined(issue.title, '='), view.date, '');
  para(strings.greeting(marks.name, marks.ifName, marks.endName));
  if (issue.intro !== undefined) para(plainText(issue.intro));

  if (issue.highlights && issue.highlights.length > 0) {
    out.push(...underlined(strings.highlights, '-'), '');
    for (const h of issue.highlights) {
      out.push(h.title);
      for (const point of h.points) out.push(indentItem('- ', plainText(point)));
      out.push('');
    }
  }

  for (const section of view.sections) {
    out.push(...underlined(`${section.number}. ${section.title}`, '-'), '');
    if (section.intro !== undefined) para(plainText(section.intro));
    for (const item of section.items) {
      out.push(item.title, item.source);
      if (item.paper) out.push(item.paper.url ? `${item.paper.citation} (${item.paper.url})` : item.paper.citation);
      if (item.summary !== undefined) out.push(plainText(item.summary));
      if (item.image?.credit !== undefined) out.push(plainText(item.image.credit));
      out.push(item.url, '');
    }
  }

  if (issue.outro !== undefined) para(plainText(issue.outro));

  if (view.links.length > 0) {
    out.push(...underlined(strings.furtherReading, '-'), '');
    for (const link of view.links) {
      out.push(link.title);
      if (link.description) out.push(link.description);
      out.push(link.url, '');
    }
  }

  // The footer closes the part; its last line carries the unsubscribe marker (see personalize.ts).
  out.push('* * *', '', strings.why(view.cadence, view.listName));
  if (view.contact !== '') out.push(view.contact);
  out.push(
    '',
    `${strings.webVersion}: ${view.webUrl}`,
    `${strings.preferences}: ${marks.preferencesUrl}`,
    `${strings.unsubscribe}: ${marks.unsubscribeUrl}`,
  );
  return `${out.join('\n')}\n`;
}

function underlined(heading: string, char: '=' | '-'): string[] {
  const oneLine = heading.replace(/\s*\n\s*/g, ' ');
  return [oneLine, char.repeat(Math.max(3, displayWidth(oneLine)))];
}

/** `- ` before the first line, the same width of spaces before the next ones. */
function indentItem(marker: string, text: string): string {
  return text
    .split('\n')
    .map((line, i) => (i === 0 ? marker : ' '.repeat(marker.length)) + line)
    .join('\n');
}

/**
 * Rich text (Markdown subset) as plain text: paragraphs separated by a blank line, bullet
 * lists as `- ` lines, links as `text (url)` (just the URL when it is the text; no URL with
 * `urls: false`, for the preheader). Links to anything but http(s)/mailto keep only their text.
 */
export function plainText(source: RichText, { urls = true }: { urls?: boolean } = {}): string {
  const lines: string[] = [];
  const lists: { ordered: boolean; n: number }[] = [];
  let marker: string | undefined;
  for (const token of markdown.parse(source, {})) {
    switch (token.type) {
      case 'bullet_list_open':
      case 'ordered_list_open':
        lists.push({ ordered: token.type === 'ordered_list_open', n: Number(token.attrGet('start') ?? 1) - 1 });
        break;
      case 'bullet_list_close':
      case 'ordered_list_close':
        lists.pop();
        if (lists.length === 0) lines.push('');
        break;
      case 'list_item_open': {
        const list = lists.at(-1);
        if (list) {
          list.n += 1;
          marker = list.ordered ? `${list.n}. ` : '- ';
        }
        break;
      }
      case 'inline': {
        const text = inlineText(token.children ?? [], urls);
        if (lists.length === 0) {
          lines.push(text, '');
        } else {
          const indent = '  '.repeat(lists.length - 1);
          lines.push(indent + indentItem(marker ?? '  ', text).replace(/\n/g, `\n${indent}`));
          marker = undefined;
        }
        break;
      }
      default:
        break;
    }
  }
  return lines.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}

type Token = ReturnType<typeof markdown.parse>[number];

function inlineText(children: Token[], urls: boolean): string {
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
        if (urls && href !== undefined && href !== label && href !== `mailto:${label}`) text += ` (${href})`;
        href = undefined;
        break;
      }
      default:
        break;
    }
  }
  return text;
}

/** Columns a string takes in a terminal: East Asian wide and fullwidth characters take two. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (isZeroWidth(cp)) continue;
    width += isWide(cp) ? 2 : 1;
  }
  return width;
}

function isZeroWidth(cp: number): boolean {
  return (
    (cp >= 0x0300 && cp <= 0x036f) || // combining diacritics
    (cp >= 0x200b && cp <= 0x200f) || // zero-width space, joiners, marks
    (cp >= 0x20d0 && cp <= 0x20ff) ||
    (cp >= 0xfe00 && cp <= 0xfe0f) // variation selectors
  );
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) || // Hangul Jamo
    (cp >= 0x2e80 && cp <= 0x303e) || // CJK radicals, punctuation
    (cp >= 0x3041 && cp <= 0x33ff) || // kana, CJK symbols
    (cp >= 0x3400 && cp <= 0x4dbf) || // CJK extension A
    (cp >= 0x4e00 && cp <= 0x9fff) || // CJK unified ideographs
    (cp >= 0xa000 && cp <= 0xa4cf) || // Yi
    (cp >= 0xac00 && cp <= 0xd7a3) || // Hangul syllables
    (cp >= 0xf900 && cp <= 0xfaff) || // CJK compatibility ideographs
    (cp >= 0xfe30 && cp <= 0xfe4f) || // CJK compatibility forms
    (cp >= 0xff00 && cp <= 0xff60) || // fullwidth forms
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) || // emoji
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd) // CJK extensions B–
  );
}
