/**
 * The few words the email itself says (not the content), per language.
 * Values are plain text; callers escape them. `zh*` gets Chinese, everything else English.
 */
export interface Strings {
  viewInBrowser: string;
  highlights: string;
  contents: string;
  furtherReading: string;
  /** Greeting around a name; `open`/`close` delimit the part dropped when the name is empty. */
  greeting(name: string, open: string, close: string): string;
  /** Why the reader gets this email. */
  why(cadence: 'weekly' | 'monthly', listName: string): string;
  preferences: string;
  unsubscribe: string;
  webVersion: string;
}

const en: Strings = {
  viewInBrowser: 'View in browser',
  highlights: 'Highlights',
  contents: 'In this issue',
  furtherReading: 'Further reading',
  greeting: (name, open, close) => `Hi${open} ${name}${close},`,
  why: (cadence, listName) =>
    cadence === 'weekly'
      ? `You receive the weekly edition of ${listName} because you subscribed to it.`
      : `You receive the monthly digest of ${listName} because you subscribed to it.`,
  preferences: 'Preferences',
  unsubscribe: 'Unsubscribe',
  webVersion: 'Web version',
};

const zh: Strings = {
  viewInBrowser: '在浏览器中查看',
  highlights: '本期要点',
  contents: '本期目录',
  furtherReading: '延伸阅读',
  greeting: (name, open, close) => `${open}${name}，${close}你好！`,
  why: (cadence, listName) =>
    cadence === 'weekly' ? `你订阅了「${listName}」的每周版，因此收到这封邮件。` : `你订阅了「${listName}」的月度精选，因此收到这封邮件。`,
  preferences: '订阅设置',
  unsubscribe: '退订',
  webVersion: '网页版',
};

export function stringsFor(language: string): Strings {
  return /^zh\b/i.test(language) ? zh : en;
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
