import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors';
import { escapeHtml } from '../escape-html';
import { t, type Lang, type MessageKey } from '../i18n';
import type { CompileMjml } from '../issues/mjml';
import { emailsDir } from '../issues/templates';
import { fill } from '../placeholders';
import { SYSTEM_MAILS, type SystemMailKind } from './kinds';

/**
 * The system emails' MJML, read once (like the issue templates, issues/templates.ts) and
 * compiled once per kind and language: the catalogue's words go in at compile time
 * (`{{email.confirm.heading}}`), the per-email values (`{{list}}`, `{{url}}`, …) stay holes,
 * filled and escaped for every email by render.ts.
 */
export interface SystemTemplates {
  /** The compiled HTML of a kind in a language, with the per-email holes left in. */
  html(kind: SystemMailKind, lang: Lang, compile: CompileMjml): Promise<string>;
}

const INCLUDE = /<mj-include path="\.\/([a-z_-]+\.mjml)" \/>/g;
/** A hole named by a catalogue key: words with dots, `{{email.confirm.heading}}`. */
const CATALOGUE_HOLE = /\{\{([a-z_]+(?:\.[a-z_]+)+)\}\}/g;
/** Comments document a template for its readers; conditional ones (`<!--[if mso]>`) are markup. */
const COMMENT = /<!--(?!\[)[\s\S]*?-->\n?/g;

/** Reads every system template, with its includes in place, so compiling reads no file. */
export function loadSystemTemplates(dir: string = path.join(emailsDir(), 'system')): SystemTemplates {
  const read = (file: string) => {
    try {
      return fs.readFileSync(path.join(dir, file), 'utf8');
    } catch (err) {
      throw new AppError('internal', `system email template missing: ${path.join(dir, file)}`, { cause: (err as Error).message });
    }
  };
  const sources = new Map<SystemMailKind, string>();
  for (const [kind, spec] of Object.entries(SYSTEM_MAILS) as Array<[SystemMailKind, (typeof SYSTEM_MAILS)[SystemMailKind]]>) {
    sources.set(
      kind,
      read(spec.template).replace(INCLUDE, (_, file: string) => read(file).replace(COMMENT, '')),
    );
  }

  const compiled = new Map<string, Promise<string>>();
  return {
    html(kind, lang, compile) {
      const key = `${kind}:${lang}`;
      let html = compiled.get(key);
      if (!html) {
        // A catalogue message's own `{list}` becomes the hole `{{list}}`, filled per email.
        const source = sources.get(kind)!;
        const values: Record<string, string> = { lang };
        for (const [, name] of source.matchAll(CATALOGUE_HOLE)) values[name!] = escapeHtml(t(lang, name as MessageKey, { list: '{{list}}' }));
        html = compile(fill(source, values, { syntax: 'hole', missing: 'keep' }));
        // A failed compile is not cached: the next email tries again (and fails loudly again).
        html.catch(() => compiled.delete(key));
        compiled.set(key, html);
      }
      return html;
    },
  };
}

let loaded: SystemTemplates | undefined;

/** This process's system templates, read on first use. */
export function systemTemplates(): SystemTemplates {
  return (loaded ??= loadSystemTemplates());
}
