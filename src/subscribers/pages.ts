import type { Cadence, List, Subscriber, Subscription } from '../db/schema';
import { html, type PageView, type SafeHtml } from '../http/page';
import { t, type Lang, type MessageKey } from '../i18n';
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

const FIELD_ERROR: Record<InputField, MessageKey> = { email: 'error.email', name: 'error.name', cadence: 'error.cadence' };

export interface FormState {
  values: { email?: string; name?: string; cadence?: string };
  error?: InputField;
}

function errorText(lang: Lang, field: InputField): SafeHtml {
  return html`<p class="error" id="${field}-error"><span class="visually-hidden">${t(lang, 'error.prefix')} </span>${t(lang, FIELD_ERROR[field])}</p>`;
}

/** An input with its label, hint and error tied together for screen readers. */
function textField(
  lang: Lang,
  options: { id: InputField; type: 'email' | 'text'; label: string; value?: string; required?: boolean; autocomplete: string; error?: InputField; autofocus?: boolean; optional?: boolean },
): SafeHtml {
  const failed = options.error === options.id;
  return html`<div class="field"><label for="${options.id}">${options.label}${options.optional ? html` <span class="hint" id="${options.id}-hint">${t(lang, 'field.optional')}</span>` : ''}</label><input id="${options.id}" name="${options.id}" type="${options.type}" value="${options.value ?? ''}" autocomplete="${options.autocomplete}"${options.type === 'email' ? html` inputmode="email" spellcheck="false" autocapitalize="none"` : ''}${options.required ? html` required` : ''}${options.autofocus || failed ? html` autofocus` : ''}${failed ? html` aria-invalid="true" aria-describedby="${options.id}-error"` : options.optional ? html` aria-describedby="${options.id}-hint"` : ''} maxlength="${options.type === 'email' ? 254 : 200}">${failed ? errorText(lang, options.id) : ''}</div>`;
}

function cadenceChoice(lang: Lang, selected: string | undefined, error?: InputField): SafeHtml {
  const current = selected === 'monthly' ? 'monthly' : 'weekly';
  const option = (value: Cadence) =>
    html`<div class="choice"><input type="radio" id="cadence-${value}" name="cadence" value="${value}"${current === value ? html` checked` : ''} aria-describedby="cadence-${value}-hint"><label for="cadence-${value}">${t(lang, value === 'weekly' ? 'cadence.weekly' : 'cadence.monthly')}<span class="hint" id="cadence-${value}-hint">${t(lang, value === 'weekly' ? 'cadence.weekly.hint' : 'cadence.monthly.hint')}</span></label></div>`;
  return html`<fieldset><legend>${t(lang, 'field.cadence')}</legend>${option('weekly')}${option('monthly')}${error === 'cadence' ? errorText(lang, 'cadence') : ''}</fieldset>`;
}

export function subscribeForm(lang: Lang, list: List, state: FormState = { values: {} }): PageView {
  const vars = { list: list.name };
  return frame(
    undefined,
    t(lang, 'subscribe.title', vars),
    html`<p>${t(lang, 'subscribe.intro', vars)}</p>
<form method="post" action="/lists/${encodeURIComponent(list.slug)}/subscribe" novalidate>
${textField(lang, { id: 'email', type: 'email', label: t(lang, 'field.email'), value: state.values.email, required: true, autocomplete: 'email', error: state.error })}
${textField(lang, { id: 'name', type: 'text', label: t(lang, 'field.name'), value: state.values.name, autocomplete: 'name', error: state.error, optional: true })}
${cadenceChoice(lang, state.values.cadence, state.error)}
<div class="hp" aria-hidden="true"><label for="website">${t(lang, 'subscribe.honeypot')}</label><input id="website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<button type="submit">${t(lang, 'subscribe.submit')}</button>
</form>
<p class="muted">${t(lang, 'subscribe.privacy')}</p>
<p class="muted"><a href="/lists/${encodeURIComponent(list.slug)}/preferences">${t(lang, 'subscribe.manage')}</a></p>`,
  );
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
  const sections = list.sections.length
    ? html`<input type="hidden" name="sections" value=""><fieldset><legend>${t(lang, 'prefs.sections')}<span class="hint">${t(lang, 'prefs.sections.hint')}</span></legend>${list.sections.map(
        (s, i) =>
          html`<div class="choice"><input type="checkbox" id="section-${i}" name="sections" value="${s.id}"${subscription.excluded_sections.includes(s.id) ? '' : html` checked`}><label for="section-${i}">${s.title}</label></div>`,
      )}</fieldset>`
    : '';

  const settings = receiving
    ? html`<form method="post" action="/preferences">${hidden}
${textField(lang, { id: 'name', type: 'text', label: t(lang, 'field.name'), value: subscriber.name, autocomplete: 'name', error: options.error, optional: true })}
${cadenceChoice(lang, subscription.cadence, options.error)}
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
${receiving ? html`<p class="muted"><a href="/unsubscribe/${unsubscribeToken}">${t(lang, 'prefs.unsubscribe', vars)}</a></p>` : ''}`,
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
  return frame(
    list,
    t(lang, 'prefslink.title'),
    html`<p>${t(lang, 'prefslink.intro', { list: list.name })}</p><form method="post" action="/lists/${encodeURIComponent(list.slug)}/preferences" novalidate>
${textField(lang, { id: 'email', type: 'email', label: t(lang, 'field.email'), value: state.values.email, required: true, autocomplete: 'email', error: state.error })}
<button type="submit">${t(lang, 'prefslink.submit')}</button></form>`,
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
