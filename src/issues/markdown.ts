import MarkdownIt from 'markdown-it';

/**
 * Rich text in an issue is a Markdown subset: paragraphs, *em*, **strong**, `code`,
 * [links](…) and bullet lists. Raw HTML is not interpreted (markdown-it escapes it), and
 * everything outside the subset is switched off, so `# x` or `> y` stays literal text.
 * Shared by validation (which link targets are allowed) and rendering (HTML and text).
 */
export const markdown = new MarkdownIt('zero', { html: false, linkify: false, typographer: false, breaks: false }).enable([
  'paragraph',
  'emphasis',
  'backticks',
  'link',
  'list',
  'newline',
  'escape',
  'entity',
  'text',
]);

/** Allowed link targets in rich text. */
export const SAFE_LINK = /^(https?:|mailto:)/i;

// markdown-it normally drops links it deems unsafe (javascript: …) and leaves the text as is;
// we accept every target at parse time so validation can see and reject it with a message.
markdown.validateLink = () => true;

/** Every link target written in a piece of rich text, in order. */
export function richTextLinks(source: string): string[] {
  const out: string[] = [];
  for (const block of markdown.parse(source, {})) {
    for (const token of block.children ?? []) {
      if (token.type === 'link_open') out.push(String(token.attrGet('href') ?? ''));
    }
  }
  return out;
}
