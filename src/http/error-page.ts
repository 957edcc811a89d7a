import { t, type Lang, type MessageKey } from '../i18n';
import { html, type PageView } from './page';

/** The kinds of error page a reader (or an editor) can meet; each has a title and a sentence. */
export type ErrorPageKind = 'invalid_link' | 'not_found' | 'bad_request' | 'forbidden' | 'rate_limited' | 'unavailable' | 'internal';

const ERROR_KEYS: Record<ErrorPageKind, [MessageKey, MessageKey]> = {
  invalid_link: ['error.invalid_link.title', 'error.invalid_link.body'],
  not_found: ['error.not_found.title', 'error.not_found.body'],
  bad_request: ['error.bad_request.title', 'error.bad_request.body'],
  forbidden: ['error.forbidden.title', 'error.forbidden.body'],
  rate_limited: ['error.rate_limited.title', 'error.rate_limited.body'],
  unavailable: ['error.unavailable.title', 'error.unavailable.body'],
  internal: ['error.internal.title', 'error.internal.body'],
};

/** An error page's content; `kicker` names the list it is about, when there is one. */
export function errorPage(lang: Lang, kind: ErrorPageKind, kicker?: string): PageView {
  const [title, body] = ERROR_KEYS[kind];
  return {
    title: kicker ? `${t(lang, title)} · ${kicker}` : t(lang, title),
    body: html`<div class="card">${kicker ? html`<p class="kicker">${kicker}</p>` : ''}<h1>${t(lang, title)}</h1><p>${t(lang, body)}</p></div>`,
  };
}
