import { fill } from '../placeholders';
import { en, type MessageKey } from './en';
import { zhCN } from './zh-CN';

/**
 * The one message catalogue for every reader-facing page and system email. Messages are
 * plain text (callers escape them) with `{name}` placeholders. English is the source: the
 * Chinese catalogue is typed against its keys, so a missing translation does not compile.
 */
export type Lang = 'en' | 'zh-CN';
export type { MessageKey };

const catalogues: Record<Lang, Record<MessageKey, string>> = { en, 'zh-CN': zhCN };

export const LANGUAGES: readonly Lang[] = ['en', 'zh-CN'];

/** The catalogue language for a list's `language` column: any Chinese tag gets Simplified Chinese. */
export function pickLanguage(listLanguage: string | null | undefined): Lang {
  return (listLanguage ?? '').trim().toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function t(lang: Lang, key: MessageKey, vars: Record<string, string | number> = {}): string {
  const message = catalogues[lang][key] ?? en[key];
  return fill(message, vars, { syntax: 'sentence', missing: 'keep' });
}
