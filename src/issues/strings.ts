import { pickLanguage, t } from '../i18n';

/**
 * The few words the email itself says (not the issue's content), per language.
 * Values are plain text; callers escape them. `zh*` gets Chinese, everything else English.
 */
export interface Strings {
  viewInBrowser: string;
  highlights: string;
  contents: string;
  furtherReading: string;
  /** Heading of a digest's list of the weekly issues it gathers. */
  covers: string;
  /** Greeting around a name; `open`/`close` delimit the part dropped when the name is empty. */
  greeting(name: string, open: string, close: string): string;
  /** Why the reader gets this email. */
  why(cadence: 'weekly' | 'monthly', listName: string): string;
  preferences: string;
  unsubscribe: string;
  webVersion: string;
  /** The visitor's footer: "You're reading the web version of {list}", and its two links. */
  webNote(listName: string): string;
  allIssues: string;
  subscribe: string;
}

/** The issue's words come from the one message catalogue that pages and system emails use. */
export function stringsFor(language: string): Strings {
  const lang = pickLanguage(language);
  return {
    viewInBrowser: t(lang, 'issue.view_in_browser'),
    highlights: t(lang, 'issue.highlights'),
    contents: t(lang, 'issue.contents'),
    furtherReading: t(lang, 'issue.further_reading'),
    covers: t(lang, 'issue.covers'),
    greeting: (name, open, close) => t(lang, 'issue.greeting', { name, open, close }),
    why: (cadence, listName) => t(lang, cadence === 'weekly' ? 'issue.why.weekly' : 'issue.why.monthly', { list: listName }),
    preferences: t(lang, 'email.footer.preferences'),
    unsubscribe: t(lang, 'email.footer.unsubscribe'),
    webVersion: t(lang, 'issue.web_version'),
    webNote: (listName) => t(lang, 'web.note', { list: listName }),
    allIssues: t(lang, 'web.archive'),
    subscribe: t(lang, 'web.subscribe'),
  };
}

// Languages written right to left (primary subtag), and scripts that are, for tags like `ku-Arab`.
const RTL_LANGUAGES = new Set(['ar', 'arc', 'ckb', 'dv', 'fa', 'he', 'iw', 'ks', 'ps', 'sd', 'ug', 'ur', 'yi']);
const RTL_SCRIPTS = new Set(['arab', 'hebr', 'thaa', 'syrc', 'nkoo', 'adlm', 'rohg']);

export function textDirection(language: string): 'ltr' | 'rtl' {
  const subtags = language.toLowerCase().split(/[-_]/);
  const primary = subtags[0] ?? '';
  const script = subtags.find((s, i) => i > 0 && s.length === 4);
  if (script !== undefined) return RTL_SCRIPTS.has(script) ? 'rtl' : 'ltr';
  return RTL_LANGUAGES.has(primary) ? 'rtl' : 'ltr';
}

/** The issue date (YYYY-MM-DD) as readers of that language write it; English if the tag is unknown. */
export function formatDate(isoDate: string, language: string): string {
  const date = new Date(`${isoDate}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return isoDate;
  try {
    return new Intl.DateTimeFormat(language, { dateStyle: 'long', timeZone: 'UTC' }).format(date);
  } catch {
    return new Intl.DateTimeFormat('en', { dateStyle: 'long', timeZone: 'UTC' }).format(date);
  }
}
