import { AppError } from './errors';

/**
 * The placeholders of the code base, and the one helper that fills them. Two syntaxes, each
 * for one kind of text:
 *
 *   {name}     a value in a sentence: the message catalogue (src/i18n) and the digest title
 *              and preheader an editor writes as a list setting ("{list}: {month}").
 *   {{name}}   a hole in an MJML template (emails/, emails/system/); a name with dots is a
 *              catalogue message (`{{email.confirm.heading}}`), filled when the template is
 *              compiled for a language.
 *
 * (The per-subscriber markers of a compiled issue, `%%bs-<nonce>:<name>%%`, are a third kind
 * on purpose, with their own filler: mail/personalize.ts explains why.)
 *
 * Filling is one pass over the text, so a value that contains a placeholder is never expanded
 * again (a list named "{{url}}" stays that).
 */
const SYNTAX = {
  sentence: /\{([a-z_]+)\}/g,
  hole: /\{\{([a-zA-Z][a-zA-Z0-9_.]*)\}\}/g,
} as const;

export interface FillOptions {
  /** `{name}` in a sentence or `{{name}}` in a template. */
  syntax: keyof typeof SYNTAX;
  /** What a placeholder without a value becomes: left as written, or an error (a bug in the caller). */
  missing: 'keep' | 'throw';
  /** Applied to every value as it goes in (escapeHtml for HTML). */
  escape?: (value: string) => string;
  /** Names the text in the error for a missing value. */
  source?: string;
}

export function fill(text: string, values: Readonly<Record<string, string | number>>, options: FillOptions): string {
  return text.replace(SYNTAX[options.syntax], (whole, name: string) => {
    const value = values[name];
    if (value === undefined) {
      if (options.missing === 'keep') return whole;
      throw new AppError('internal', `${options.source ?? 'template'}: no value for ${whole}`);
    }
    return options.escape ? options.escape(String(value)) : String(value);
  });
}
