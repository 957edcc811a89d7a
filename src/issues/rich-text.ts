import { markdown, SAFE_LINK } from './markdown';
import type { RichText } from './types';

/**
 * Rich text (the Markdown subset of issue-format.md) turned into what each part of an email
 * needs: inline-styled HTML for the MJML, paragraphs and list items for the plain-text part
 * and the preheader. One parser (markdown.ts), one rule for unsafe links: they keep their text
 * and lose their link.
 */

type Token = ReturnType<typeof markdown.parse>[number];

// ---------------------------------------------------------------------------------------------
// HTML

/** Rich text as block HTML (paragraphs, lists) with inline spacing that survives any client. */
export function richHtml(source: RichText, start: 'left' | 'right' = 'left'): string {
  return blockHtml(source, (token) => {
    if (token.type === 'paragraph_open') token.attrSet('style', 'margin:0 0 12px;');
    else if (token.type === 'bullet_list_open' || token.type === 'ordered_list_open') token.attrSet('style', `margin:0 0 12px;padding-${start}:22px;`);
    else if (token.type === 'list_item_open') token.attrSet('style', 'margin:0 0 4px;');
  });
}

/**
 * Rich text as block HTML for Broadsheet's own pages (a list's description): no inline styles,
 * since the pages' stylesheet spaces paragraphs and their policy refuses style attributes.
 */
export function richPageHtml(source: RichText): string {
  return blockHtml(source, () => {});
}

function blockHtml(source: RichText, style: (token: Token) => void): string {
  const env = {};
  const tokens = markdown.parse(source, env);
  for (const token of tokens) {
    if (token.type === 'inline') dropUnsafeLinks(token.children);
    else style(token);
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
// Plain text

/** What a link becomes in running text: e.g. ` [3]`, or '' to keep only its label. */
export type LinkMark = (href: string) => string;

export interface Paragraph {
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
export function paragraphs(source: RichText, mark: LinkMark): { paragraph: Paragraph; list?: number }[] {
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
