import type { Cadence, List, Subscriber, Subscription } from '../db/schema';
import { html, raw, type PageView, type SafeHtml } from '../http/page';
import { t, type Lang, type MessageKey } from '../i18n';
import { richPageHtml } from '../issues/rich-text';
import { formatDate } from '../issues/strings';
import { scheduleInWords } from '../lists/schedule-words';
import type { InputField } from './input';

/**
 * The reader's pages, as pure functions of what they show. Every word comes from the
 * catalogue; everything interpolated is escaped by `html`. Tokens travel in form actions or
 * hidden fields, never an address in a URL.
 */

function frame(list: List | undefined, title: string, content: SafeHtml): PageView {
  return {
    title: list ? `${title} · ${list.name}` : title,
    body: html`<div class="card">${list ? html`<p class="kicker">${list.name}</p>` : ''}<h1>${title}</h1>${content}</div>`,
  };
}

const FIELD_ERROR: Record<InputField, MessageKey> = { email: 'error.email', name: 'error.name', cadence: 'error.cadence', sections: 'error.sections' };

export interface FormState {
  values: { email?: string; name?: string; cadence?: string };
  error?: InputField;
}

function errorText(lang: Lang, field: InputField, id: string = field): SafeHtml {
  return html`<p class="error" id="${id}-error"><span class="visually-hidden">${t(lang, 'error.prefix')} </span>${t(lang, FIELD_ERROR[field])}</p>`;
}

/**
 * An input with its label, hint and error tied together for screen readers. `prefix` keeps ids
 * unique where one page holds several forms (the home page has one per list); the field's
 * name stays what the POST reads.
 */
function textField(
  lang: Lang,
  options: {
    id: InputField;
    type: 'email' | 'text';
    label: string;
    value?: string;
    required?: boolean;
    autocomplete: string;
    error?: InputField;
    autofocus?: boolean;
    optional?: boolean;
    prefix?: string;
  },
): SafeHtml {
  const failed = options.error === options.id;
  const id = `${options.prefix ?? ''}${options.id}`;
  return html`<div class="field"><label for="${id}">${options.label}${options.optional ? html` <span class="hint" id="${id}-hint">${t(lang, 'field.optional')}</span>` : ''}</label><input id="${id}" name="${options.id}" type="${options.type}" value="${options.value ?? ''}" autocomplete="${options.autocomplete}"${options.type === 'email' ? html` inputmode="email" spellcheck="false" autocapitalize="none"` : ''}${options.required ? html` required` : ''}${options.autofocus || failed ? html` autofocus` : ''}${failed ? html` aria-invalid="true" aria-describedby="${id}-error"` : options.optional ? html` aria-describedby="${id}-hint"` : ''} maxlength="${options.type === 'email' ? 254 : 200}">${failed ? errorText(lang, options.id, id) : ''}</div>`;
}

/**
 * What each cadence gets, in the list's words where its editor wrote them, and when it comes.
 * Shown under each choice of the subscribe form (subscribe page, home page, preferences).
 */
export function cadenceHints(lang: Lang, list: List): Record<Cadence, { gets: string; when: string }> {
  const when = scheduleInWords(list);
  return {
    weekly: { gets: list.weekly_description ?? t(lang, 'cadence.weekly.hint'), when: when.weekly },
    monthly: { gets: list.monthly_description ?? t(lang, 'cadence.monthly.hint'), when: when.monthly },
  };
}

/** `compact`: no hint under each choice, where the page has explained the cadences just above. */
function cadenceChoice(lang: Lang, list: List, selected: string | undefined, error?: InputField, prefix = '', compact = false): SafeHtml {
  const current = selected === 'monthly' ? 'monthly' : 'weekly';
  const hints = cadenceHints(lang, list);
  const option = (value: Cadence) => {
    const id = `${prefix}cadence-${value}`;
    const hint = compact ? '' : html`<span class="hint" id="${id}-hint">${hints[value].gets}<br>${hints[value].when}</span>`;
    return html`<div class="choice"><input type="radio" id="${id}" name="cadence" value="${value}"${current === value ? html` checked` : ''}${compact ? '' : html` aria-describedby="${id}-hint"`}><label for="${id}">${t(lang, value === 'weekly' ? 'cadence.weekly' : 'cadence.monthly')}${hint}</label></div>`;
  };
  return html`<fieldset><legend>${t(lang, 'field.cadence')}</legend>${option('weekly')}${option('monthly')}${error === 'cadence' ? errorText(lang, 'cadence', `${prefix}cadence`) : ''}</fieldset>`;
}

/**
 * The subscribe form itself: the same POST and rules wherever it is shown. On the home page
 * (`prefix` set) it asks only for the address and the cadence.
 */
export function subscribeFields(
  lang: Lang,
  list: List,
  state: FormState = { values: {} },
  options: { prefix?: string; withName?: boolean; compact?: boolean } = {},
): SafeHtml {
  const prefix = options.prefix ?? '';
  return html`<form method="post" action="/lists/${encodeURIComponent(list.slug)}/subscribe" novalidate>
${textField(lang, { id: 'email', type: 'email', label: t(lang, 'field.email'), value: state.values.email, required: true, autocomplete: 'email', error: state.error, prefix })}
${options.withName === false ? '' : textField(lang, { id: 'name', type: 'text', label: t(lang, 'field.name'), value: state.values.name, autocomplete: 'name', error: state.error, optional: true, prefix })}
${cadenceChoice(lang, list, state.values.cadence, state.error, prefix, options.compact)}
<div class="hp" aria-hidden="true"><label for="${prefix}website">${t(lang, 'subscribe.honeypot')}</label><input id="${prefix}website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<button type="submit">${t(lang, 'subscribe.submit')}</button>
</form>`;
}

/** A list's description (Markdown subset), for its pages; nothing when the editor wrote none. */
export function listAbout(list: List): SafeHtml | '' {
  return list.description ? html`<div class="about">${raw(richPageHtml(list.description))}</div>` : '';
}

/** A page under /lists/{list}/ names the list's feed like every other. */
function withFeed(list: List, view: PageView): PageView {
  return { ...view, head: feedLink(list) };
}

/** A list's Atom feed, for the head of each of its pages (feed readers and browsers find it there). */
export function feedLink(list: List): SafeHtml {
  return html`<link rel="alternate" type="application/atom+xml" title="${list.name}" href="/lists/${encodeURIComponent(list.slug)}/feed.xml">`;
}

/** A sent issue as the subscribe and home pages link to it. */
export interface IssueLink {
  slug: string;
  title: string;
  /** YYYY-MM-DD */
  date: string;
}

export function issueLinks(list: List, issues: readonly IssueLink[]): SafeHtml {
  const path = `/lists/${encodeURIComponent(list.slug)}/archive/`;
  return html`<ul class="plain issues">${issues.map(
    (issue) =>
      html`<li><a href="${path}${encodeURIComponent(issue.slug)}">${issue.title}</a><time datetime="${issue.date}">${formatDate(issue.date, list.language)}</time></li>`,
  )}</ul>`;
}

/**
 * The subscribe page: what the list is, the form with what each cadence gets, and, when the
 * route has them, the latest issues; the archive and the feed always.
 */
export function subscribeForm(lang: Lang, list: List, state: FormState = { values: {} }, latest?: readonly IssueLink[]): PageView {
  const vars = { list: list.name };
  const listPath = `/lists/${encodeURIComponent(list.slug)}`;
  const title = t(lang, 'subscribe.title', vars);
  const recent = latest && latest.length > 0 ? html`<div class="card"><h2>${t(lang, 'subscribe.latest')}</h2>${issueLinks(list, latest)}</div>` : '';
  return {
    title,
    head: feedLink(list),
    indexable: true,
    body: html`<div class="card"><p class="kicker">${list.name}</p><h1>${title}</h1>${list.description ? listAbout(list) : html`<p>${t(lang, 'subscribe.intro', vars)}</p>`}
${subscribeFields(lang, list, state, { withName: true })}
<p class="muted">${t(lang, 'subscribe.privacy')}</p>
<p class="muted"><a href="${listPath}/preferences">${t(lang, 'subscribe.manage')}</a></p></div>
${recent}
<nav class="links" aria-label="${list.name}"><a href="${listPath}/archive">${t(lang, 'subscribe.all_issues')}</a><a href="${listPath}/feed.xml" type="application/atom+xml">${t(lang, 'archive.feed')}</a></nav>`,
  };
}

export function subscribeDone(lang: Lang, list: List): PageView {
  const vars = { list: list.name };
  return frame(
    list,
    t(lang, 'subscribe.done.title'),
    html`<p role="status">${t(lang, 'subscribe.done.body', vars)}</p><p class="muted">${t(lang, 'subscribe.done.hint')}</p>`,
  );
}

export function confirmAsk(lang: Lang, list: List, token: string): PageView {
  return frame(
    list,
    t(lang, 'confirm.title'),
    html`<p>${t(lang, 'confirm.body', { list: list.name })}</p><form method="post" action="/confirm/${token}"><button type="submit" autofocus>${t(lang, 'confirm.submit')}</button></form>`,
  );
}

export function confirmDone(lang: Lang, list: List, subscription: Subscription, preferencesToken: string | undefined): PageView {
  const vars = { list: list.name };
  return frame(
    list,
    t(lang, 'confirm.done.title'),
    html`<p role="status">${t(lang, subscription.cadence === 'monthly' ? 'confirm.done.monthly' : 'confirm.done.weekly', vars)}</p>${preferencesToken ? html`<p><a href="/preferences/${preferencesToken}">${t(lang, 'confirm.done.preferences')}</a></p>` : ''}`,
  );
}

export function confirmExpired(lang: Lang, list: List, token: string): PageView {
  return frame(
    list,
    t(lang, 'confirm.expired.title'),
    html`<p>${t(lang, 'confirm.expired.body')}</p><form method="post" action="/confirm/${token}/resend"><button type="submit">${t(lang, 'confirm.expired.submit')}</button></form>`,
  );
}

export function confirmResent(lang: Lang, list: List): PageView {
  return frame(list, t(lang, 'confirm.resent.title'), html`<p role="status">${t(lang, 'confirm.resent.body')}</p>`);
}

export function confirmInactive(lang: Lang, list: List): PageView {
  const vars = { list: list.name };
  return frame(
    list,
    t(lang, 'confirm.inactive.title'),
    html`<p>${t(lang, 'confirm.inactive.body', vars)}</p><p><a href="/lists/${encodeURIComponent(list.slug)}">${t(lang, 'confirm.inactive.link', vars)}</a></p>`,
  );
}

export type PreferencesNotice = 'saved' | 'paused' | 'resumed' | 'data_sent';

const NOTICE_KEYS: Record<PreferencesNotice, MessageKey> = {
  saved: 'prefs.saved',
  paused: 'prefs.paused',
  resumed: 'prefs.resumed',
  data_sent: 'prefs.data.sent',
};

export function preferences(
  lang: Lang,
  context: { list: List; subscriber: Subscriber; subscription: Subscription },
  token: string,
  unsubscribeToken: string,
  options: { notice?: PreferencesNotice; error?: InputField } = {},
): PageView {
  const { list, subscriber, subscription } = context;
  const vars = { list: list.name };
  const hidden = html`<input type="hidden" name="token" value="${token}">`;
  const receiving = subscription.status === 'active' || subscription.status === 'pending';
  const status =
    subscription.status === 'active'
      ? t(lang, subscription.paused ? 'prefs.status.paused' : 'prefs.status.active')
      : subscription.status === 'pending'
        ? t(lang, 'prefs.status.pending')
        : subscription.status === 'unsubscribed'
          ? t(lang, 'prefs.status.unsubscribed', vars)
          : t(lang, 'prefs.status.bounced');
  const notice = options.notice ? html`<p class="notice" role="status">${t(lang, NOTICE_KEYS[options.notice])}</p>` : '';
  // The empty `sections` says "the sections were on the form": with every box unticked, it is
  // the only `sections` value the browser sends (see the POST /preferences route).
  const sectionsFailed = options.error === 'sections';
  const sections = list.sections.length
    ? html`<input type="hidden" name="sections" value=""><fieldset${sectionsFailed ? html` aria-describedby="sections-error"` : ''}><legend>${t(lang, 'prefs.sections')}<span class="hint">${t(lang, 'prefs.sections.hint')}</span></legend>${list.sections.map(
        (s, i) =>
          html`<div class="choice"><input type="checkbox" id="section-${i}" name="sections" value="${s.id}"${subscription.excluded_sections.includes(s.id) ? '' : html` checked`}><label for="section-${i}">${s.title}</label></div>`,
      )}${sectionsFailed ? errorText(lang, 'sections') : ''}</fieldset>`
    : '';
  // Unticking every section is unsubscribing: the page says so (above) and offers the button
  // itself, a form of its own (forms do not nest) that works without script.
  const unsubscribeForm = html`<form method="post" action="/unsubscribe/${unsubscribeToken}"><button type="submit" class="${sectionsFailed ? 'danger' : 'secondary'}"${sectionsFailed ? html` autofocus` : ''}>${t(lang, 'prefs.unsubscribe', vars)}</button></form>`;

  const settings = receiving
    ? html`<form method="post" action="/preferences">${hidden}
${textField(lang, { id: 'name', type: 'text', label: t(lang, 'field.name'), value: subscriber.name, autocomplete: 'name', error: options.error, optional: true })}
${cadenceChoice(lang, list, subscription.cadence, options.error)}
${sections}
<button type="submit">${t(lang, 'prefs.save')}</button>
</form>`
    : html`<p><a href="/lists/${encodeURIComponent(list.slug)}">${t(lang, 'prefs.resubscribe', vars)}</a></p>`;

  const pauseCard = receiving
    ? subscription.paused
      ? html`<div class="card"><h2>${t(lang, 'prefs.pause.title')}</h2><p>${t(lang, 'prefs.resume.body')}</p><form method="post" action="/preferences/resume">${hidden}<button type="submit">${t(lang, 'prefs.resume.submit')}</button></form></div>`
      : html`<div class="card"><h2>${t(lang, 'prefs.pause.title')}</h2><p>${t(lang, 'prefs.pause.body')}</p><form method="post" action="/preferences/pause">${hidden}<button type="submit" class="secondary">${t(lang, 'prefs.pause.submit')}</button></form></div>`
    : '';

  return {
    title: `${t(lang, 'prefs.title')} · ${list.name}`,
    body: html`<div class="card"><p class="kicker">${list.name}</p><h1>${t(lang, 'prefs.title')}</h1>${notice}<p>${status}</p>${receiving ? html`<p class="muted">${t(lang, 'prefs.intro', vars)}</p>` : ''}${settings}</div>
${pauseCard}
<div class="card"><h2>${t(lang, 'prefs.data.title')}</h2><p>${t(lang, 'prefs.data.body')}</p><form method="post" action="/preferences/export">${hidden}<button type="submit" class="secondary">${t(lang, 'prefs.data.submit')}</button></form></div>
<div class="card"><h2>${t(lang, 'prefs.delete.title')}</h2><p>${t(lang, 'prefs.delete.body')}</p><form method="post" action="/preferences/delete">${hidden}<button type="submit" class="danger">${t(lang, 'prefs.delete.submit')}</button></form></div>
${receiving ? html`<div class="card"${sectionsFailed ? html` id="unsubscribe"` : ''}><h2>${t(lang, 'prefs.leave.title')}</h2><p>${t(lang, list.sections.length ? 'prefs.leave.body.sections' : 'prefs.leave.body')}</p>${unsubscribeForm}</div>` : ''}`,
  };
}

export function preferencesExpired(lang: Lang, list: List): PageView {
  return frame(
    list,
    t(lang, 'prefs.expired.title'),
    html`<p>${t(lang, 'prefs.expired.body')}</p><p><a href="/lists/${encodeURIComponent(list.slug)}/preferences">${t(lang, 'prefs.expired.link')}</a></p>`,
  );
}

export function exportAsk(lang: Lang, list: List, token: string): PageView {
  return frame(
    list,
    t(lang, 'export.title'),
    html`<p>${t(lang, 'export.body')}</p><form method="post" action="/export/${token}"><button type="submit" autofocus>${t(lang, 'export.submit')}</button></form>`,
  );
}

export function exportExpired(lang: Lang, list: List): PageView {
  return frame(list, t(lang, 'export.expired.title'), html`<p>${t(lang, 'export.expired.body')}</p>`);
}

export function deleteAsk(lang: Lang, list: List, token: string): PageView {
  return frame(
    list,
    t(lang, 'delete.title'),
    html`<p>${t(lang, 'prefs.delete.body')}</p><div class="actions"><form method="post" action="/preferences/delete"><input type="hidden" name="token" value="${token}"><input type="hidden" name="confirm" value="yes"><button type="submit" class="danger">${t(lang, 'delete.confirm')}</button></form><a href="/preferences/${token}">${t(lang, 'delete.cancel')}</a></div>`,
  );
}

export function deleteDone(lang: Lang, list: List): PageView {
  return frame(list, t(lang, 'delete.done.title'), html`<p role="status">${t(lang, 'delete.done.body')}</p>`);
}

export function preferencesLinkForm(lang: Lang, list: List, state: FormState = { values: {} }): PageView {
  return withFeed(
    list,
    frame(
      list,
      t(lang, 'prefslink.title'),
      html`<p>${t(lang, 'prefslink.intro', { list: list.name })}</p><form method="post" action="/lists/${encodeURIComponent(list.slug)}/preferences" novalidate>
${textField(lang, { id: 'email', type: 'email', label: t(lang, 'field.email'), value: state.values.email, required: true, autocomplete: 'email', error: state.error })}
<button type="submit">${t(lang, 'prefslink.submit')}</button></form>`,
    ),
  );
}

export function preferencesLinkSent(lang: Lang, list: List): PageView {
  return frame(list, t(lang, 'prefslink.sent.title'), html`<p role="status">${t(lang, 'prefslink.sent.body', { list: list.name })}</p>`);
}

export function unsubscribeAsk(lang: Lang, list: List, token: string, preferencesToken: string): PageView {
  const vars = { list: list.name };
  return frame(
    undefined,
    t(lang, 'unsub.title', vars),
    html`<p>${t(lang, 'unsub.body', vars)}</p><form method="post" action="/unsubscribe/${token}"><button type="submit">${t(lang, 'unsub.submit')}</button></form><p class="muted"><a href="/preferences/${preferencesToken}">${t(lang, 'unsub.preferences')}</a></p>`,
  );
}

export function unsubscribeDone(lang: Lang, list: List): PageView {
  return frame(
    list,
    t(lang, 'unsub.done.title'),
    html`<p role="status">${t(lang, 'unsub.done.body', { list: list.name })}</p><p class="muted"><a href="/lists/${encodeURIComponent(list.slug)}">${t(lang, 'unsub.done.rejoin')}</a></p>`,
  );
}
