import type { Response } from 'express';
import type { AppError } from '../errors';
import { errorPage, type ErrorPageKind } from '../http/error-page';
import { html, sendPage, type SafeHtml } from '../http/page';
import { csrfOf } from './session';

/**
 * The desk's pages: the reader pages' layout and look (src/http/page.ts) with a bar of links
 * on top, a wider column for tables, and form helpers that put the CSRF token in every form
 * and an error next to its field. The desk speaks English (the reader's side speaks the list's
 * language).
 */

// Added to the base sheet; a constant, so its hash in the policy is computed once.
export const DESK_CSS = `
main{max-width:72rem}
.desk-bar{background:var(--card);border-bottom:1px solid var(--border)}
.desk-bar nav{max-width:72rem;margin:0 auto;padding:.25rem 1rem;display:flex;flex-wrap:wrap;gap:0 1.25rem;align-items:center}
.desk-bar a{display:inline-flex;align-items:center;min-height:44px;font-weight:600;text-decoration:none}
.desk-bar a[aria-current=page]{text-decoration:underline;text-underline-offset:.35em;text-decoration-thickness:2px}
.desk-bar .who{margin-left:auto;display:flex;gap:.75rem;align-items:center;color:var(--muted);font-size:.875rem}
.desk-bar form{margin:0}
.desk-bar button{width:auto;min-height:44px;padding:.25rem .875rem}
.skip{position:absolute;left:-10000px;top:.5rem;background:var(--card);padding:.5rem 1rem;border-radius:8px;z-index:1}
.skip:focus{left:1rem}
.table-wrap{overflow-x:auto;margin:0 0 1rem;position:relative}
table{border-collapse:collapse;width:100%;font-size:.9375rem;overflow-wrap:normal}
th{white-space:nowrap}
th[scope=row]{white-space:normal}
td button{width:auto;min-height:44px;padding:.25rem .875rem}
caption{text-align:left;font-weight:600;padding:0 0 .5rem}
th,td{text-align:left;padding:.5rem .625rem;border-bottom:1px solid var(--border);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:.875rem}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;gap:1rem;align-items:start}
.grid>.card{margin:0}
dl.facts{display:grid;grid-template-columns:minmax(7rem,auto) 1fr;gap:.25rem 1rem;margin:0 0 1rem}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0}
select,textarea,input[type=number],input[type=url],input[type=datetime-local],input[type=search],input[type=file]{display:block;width:100%;min-height:48px;font:inherit;padding:.625rem .75rem;color:var(--text);background:var(--card);border:1px solid var(--muted);border-radius:8px}
textarea{min-height:8rem;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem}
select[aria-invalid=true],textarea[aria-invalid=true]{border:2px solid var(--danger)}
.row{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;margin:0 0 1rem}
.row>form{margin:0}
.row button{width:auto}
a.button{display:inline-flex;align-items:center;justify-content:center;min-height:48px;padding:.625rem 1.25rem;border:2px solid var(--accent);border-radius:8px;font-weight:600;text-decoration:none}
.badge{display:inline-block;padding:0 .5rem;border:1px solid var(--border);border-radius:999px;font-size:.8125rem;font-weight:600;white-space:nowrap}
.badge.ok{color:var(--ok);border-color:var(--ok)}
.badge.bad{color:var(--danger);border-color:var(--danger)}
progress{display:block;width:100%;height:1rem;accent-color:var(--accent)}
.field,form>.choice{max-width:44rem}
form>.choice{margin:0 0 1.125rem}
.alert ul{margin:.25rem 0 0;padding-left:1.25rem}
.secret{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--bg);border:1px solid var(--border);border-radius:8px;padding:.625rem .75rem;user-select:all}
td.num,th.num{white-space:nowrap}
.grid+.grid,.grid+.card,.card+.grid{margin-top:1rem}
.frames{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start;margin:0 0 1rem}
.frames figure{margin:0;max-width:100%}
.frames iframe{display:block;height:80vh;max-width:100%;border:1px solid var(--border);background:#fff}
.frames iframe.phone{width:375px}
.frames iframe.desktop{width:700px}
pre.text-part{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.875rem}
@media (min-width:48rem){.grid.two{grid-template-columns:1fr 1fr}.grid.three{grid-template-columns:repeat(3,1fr)}}
`.trim();

/** The desk's sections, for the bar; `owner` ones are shown to owners only. */
export type DeskSection = 'home' | 'lists' | 'subscribers' | 'editors' | 'account';
const SECTIONS: ReadonlyArray<{ id: DeskSection; label: string; href: string; owner?: boolean }> = [
  { id: 'home', label: 'Home', href: '/admin' },
  { id: 'lists', label: 'Lists', href: '/admin/lists' },
  { id: 'subscribers', label: 'Subscribers', href: '/admin/subscribers' },
  { id: 'editors', label: 'Editors', href: '/admin/editors', owner: true },
  { id: 'account', label: 'Account', href: '/admin/account' },
];

function bar(res: Response, current: DeskSection | undefined): SafeHtml {
  const editor = res.locals.editor;
  if (!editor) {
    return html`<header class="desk-bar"><a class="skip" href="#main">Skip to content</a><nav aria-label="Desk"><a href="/admin">Broadsheet desk</a></nav></header>`;
  }
  const links = SECTIONS.filter((s) => !s.owner || editor.role === 'owner').map(
    (s) => html`<a href="${s.href}"${s.id === current ? html` aria-current="page"` : ''}>${s.label}</a>`,
  );
  return html`<header class="desk-bar"><a class="skip" href="#main">Skip to content</a><nav aria-label="Desk">${links}<span class="who"><span>${editor.email}</span>${postForm(res, '/admin/sign-out', html`<button type="submit" class="secondary">Sign out</button>`)}</span></nav></header>`;
}

export interface DeskView {
  title: string;
  body: SafeHtml;
  /** Which link of the bar is this page's. */
  section?: DeskSection;
  status?: number;
  /** Script modules, only where the page is live: `/admin/static/NAME.js` (files in static/desk/). */
  scripts?: readonly string[];
}

/** Sends a desk page: the common layout, the desk's bar, its CSP (scripts only when listed). */
export function deskPage(res: Response, view: DeskView): void {
  sendPage(
    res,
    view.status ?? 200,
    'en',
    { title: `${view.title} · Broadsheet desk`, body: view.body },
    { css: DESK_CSS, header: bar(res, view.section), scripts: view.scripts },
  );
}

/** How the desk shows an error: a page in its own frame (sign-in link when the session is missing). */
export function deskErrorPage(res: Response, status: number, kind: ErrorPageKind, error: AppError): void {
  if (error.code === 'unauthorized') {
    return deskPage(res, {
      status,
      title: 'Sign in',
      body: html`<div class="card"><h1>Sign in</h1><p>${error.message}.</p><p><a href="/admin/sign-in">Sign in to the desk</a></p></div>`,
    });
  }
  const view = errorPage('en', kind);
  // The desk's own messages are written for editors (what went wrong, what to do): shown as they are.
  const detail = error.status < 500 && kind !== 'not_found' ? html`<div class="card"><p role="alert">${error.message}</p></div>` : '';
  deskPage(res, { status, title: view.title, body: html`${view.body}${detail}` });
}

// --- Forms --------------------------------------------------------------------------------

/** The hidden field every desk form carries; `requireCsrf` checks it on the POST. */
export function csrfField(res: Response): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${csrfOf(res)}">`;
}

/** A POST form with the CSRF token. `multipart` puts the token in the action (see requireCsrf). */
export function postForm(
  res: Response,
  action: string,
  content: SafeHtml,
  options: { multipart?: boolean; className?: string; label?: string } = {},
): SafeHtml {
  const target = options.multipart ? `${action}${action.includes('?') ? '&' : '?'}_csrf=${encodeURIComponent(csrfOf(res))}` : action;
  return html`<form method="post" action="${target}"${options.multipart ? html` enctype="multipart/form-data"` : ''}${options.className ? html` class="${options.className}"` : ''}${options.label ? html` aria-label="${options.label}"` : ''}>${csrfField(res)}${content}</form>`;
}

/** Errors of a form, by field name; a message for the whole form under `''`. */
export type FieldErrors = Record<string, string>;

interface FieldOptions {
  name: string;
  label: string;
  value?: string | number | null;
  errors?: FieldErrors;
  hint?: string;
  type?: 'text' | 'email' | 'number' | 'url' | 'datetime-local' | 'search';
  required?: boolean;
  placeholder?: string;
  autocomplete?: string;
}

function described(o: { name: string; hint?: string; errors?: FieldErrors }): SafeHtml {
  const failed = o.errors?.[o.name] !== undefined;
  const ids = [failed ? `${o.name}-error` : '', o.hint ? `${o.name}-hint` : ''].filter(Boolean).join(' ');
  return html`${failed ? html` aria-invalid="true"` : ''}${ids ? html` aria-describedby="${ids}"` : ''}`;
}

function labelAndHint(o: { name: string; label: string; hint?: string }): SafeHtml {
  return html`<label for="${o.name}">${o.label}${o.hint ? html` <span class="hint" id="${o.name}-hint">${o.hint}</span>` : ''}</label>`;
}

/** The error under a field, tied to it for screen readers; nothing when the field is fine. */
export function fieldError(name: string, errors: FieldErrors | undefined): SafeHtml | '' {
  const message = errors?.[name];
  return message === undefined ? '' : html`<p class="error" id="${name}-error"><span class="visually-hidden">Error: </span>${message}</p>`;
}

export function textField(o: FieldOptions): SafeHtml {
  return html`<div class="field">${labelAndHint(o)}<input id="${o.name}" name="${o.name}" type="${o.type ?? 'text'}" value="${o.value ?? ''}"${o.required ? html` required` : ''}${o.placeholder ? html` placeholder="${o.placeholder}"` : ''}${o.autocomplete ? html` autocomplete="${o.autocomplete}"` : ''}${described(o)}>${fieldError(o.name, o.errors)}</div>`;
}

export function textArea(o: Omit<FieldOptions, 'type'> & { rows?: number }): SafeHtml {
  return html`<div class="field">${labelAndHint(o)}<textarea id="${o.name}" name="${o.name}" rows="${o.rows ?? 6}"${o.required ? html` required` : ''}${described(o)}>${o.value ?? ''}</textarea>${fieldError(o.name, o.errors)}</div>`;
}

export function selectField(o: Omit<FieldOptions, 'type'> & { options: ReadonlyArray<{ value: string; label: string }> }): SafeHtml {
  const options = o.options.map((opt) => html`<option value="${opt.value}"${String(o.value ?? '') === opt.value ? html` selected` : ''}>${opt.label}</option>`);
  return html`<div class="field">${labelAndHint(o)}<select id="${o.name}" name="${o.name}"${described(o)}>${options}</select>${fieldError(o.name, o.errors)}</div>`;
}

export function checkboxField(o: { name: string; label: string; checked: boolean; hint?: string; value?: string }): SafeHtml {
  return html`<div class="choice"><input type="checkbox" id="${o.name}" name="${o.name}" value="${o.value ?? 'on'}"${o.checked ? html` checked` : ''}${o.hint ? html` aria-describedby="${o.name}-hint"` : ''}><label for="${o.name}">${o.label}${o.hint ? html` <span class="hint" id="${o.name}-hint">${o.hint}</span>` : ''}</label></div>`;
}

/** A message for the whole form (not one field), shown above it. */
export function formAlert(errors: FieldErrors | undefined): SafeHtml | '' {
  const message = errors?.[''];
  return message === undefined ? '' : html`<p class="alert" role="alert">${message}</p>`;
}

/**
 * At the top of a long form that came back with problems: how many, each a link to its field,
 * so that one at the bottom is not missed (and a screen reader hears the list first).
 */
export function errorSummary(errors: FieldErrors | undefined, labels: ReadonlyMap<string, string>): SafeHtml | '' {
  if (!errors) return '';
  const fields = Object.keys(errors).filter((k) => k !== '');
  if (fields.length === 0) return formAlert(errors);
  const items = fields.map((k) => html`<li><a href="#${k}">${labels.get(k) ?? k}</a></li>`);
  return html`<div class="alert" role="alert"><p>${errors[''] ? html`${errors['']} ` : ''}${fields.length === 1 ? 'One field needs' : `${fields.length} fields need`} a change:</p><ul>${items}</ul></div>`;
}

/** A table that scrolls sideways on a phone instead of squeezing its columns. */
export function table(caption: string, head: readonly string[], rows: readonly SafeHtml[], options: { numeric?: readonly number[] } = {}): SafeHtml {
  const th = head.map((h, i) => html`<th scope="col"${options.numeric?.includes(i) ? html` class="num"` : ''}>${h}</th>`);
  return html`<div class="table-wrap" role="region" aria-label="${caption}" tabindex="0"><table><caption class="visually-hidden">${caption}</caption><thead><tr>${th}</tr></thead><tbody>${rows}</tbody></table></div>`;
}
