import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors';
import { fill } from '../placeholders';

/**
 * The MJML layout and partials in `emails/`. Each file is MJML (or, for the partials that go
 * inside an `mj-text`, the HTML it holds) with `{{name}}` holes that render.ts fills with
 * values it has already escaped. The set of files is fixed: a missing one fails at load, not
 * in the middle of a send.
 */
export const TEMPLATE_NAMES = [
  'layout', // <mjml>: head (type, colours, dark mode, phone rules) and the body frame
  'header', // hidden preheader, masthead (list name, logo, "view in browser")
  'title', // h1, date, greeting, intro
  'covers', // a digest's weekly issues, linked to their archive pages
  'card', // the white card section holding every block of the issue
  'highlights', // the tinted block
  'highlight', // one titled list inside it
  'toc', // table of contents (more than three sections)
  'section', // numbered h2 and the section's intro
  'item', // an item without image, as a text block
  'item-media', // an item with image: image beside the text on wide screens, above it on phones
  'item-body', // title link, source, citation, summary (inside item and item-media)
  'paper', // the [id] title citation
  'credit', // the credit line under an image
  'prose', // outro
  'links', // link cards block (also the call to action)
  'link-card', // one card, clickable as a whole
  'footer', // why you get this, contact, web version, preferences, unsubscribe
  'footer-visitor', // the web version's and the feed's footer: contact, all issues, subscribe
] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];
export type Templates = Readonly<Record<TemplateName, string>>;

/** `emails/` beside `src/` (run from source) or beside `dist/` (run compiled). */
export function emailsDir(): string {
  const candidates = [path.resolve(__dirname, '../../emails'), path.resolve(__dirname, '../../../emails')];
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'layout.mjml'))) ?? (candidates[0] as string);
}

// Comments document the templates for their readers; they are dropped at load so that they
// cost nothing in each email. Conditional comments (`<!--[if mso]>`) are markup and stay.
const COMMENT = /<!--(?!\[)[\s\S]*?-->\n?/g;

/** Reads every template once. The IO edge of rendering: renderIssue itself reads nothing. */
export function loadTemplates(dir: string = emailsDir()): Templates {
  const out = {} as Record<TemplateName, string>;
  for (const name of TEMPLATE_NAMES) {
    const file = path.join(dir, `${name}.mjml`);
    let source: string;
    try {
      source = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new AppError('internal', `email template missing: ${file}`, { cause: (err as Error).message });
    }
    out[name] = source.replace(COMMENT, '').trim();
  }
  return Object.freeze(out);
}

/**
 * Fills `{{name}}` holes in one pass, so a value that happens to contain `{{x}}` is never
 * expanded again. Values must already be escaped for where the hole is. A hole without a
 * value is a bug in render.ts and throws.
 */
export function fillTemplate(templates: Templates, name: TemplateName, values: Readonly<Record<string, string>>): string {
  return fill(templates[name], values, { syntax: 'hole', missing: 'throw', source: `template ${name}.mjml` });
}
