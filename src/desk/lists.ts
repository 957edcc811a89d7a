import express, { type Response } from 'express';
import type { List } from '../db/schema';
import { isAppError } from '../errors';
import type { AppDeps } from '../http/deps';
import { html, type SafeHtml } from '../http/page';
import { bodyOf, param, str } from '../http/request';
import { LIST_FIELD_ENTRIES, type ListFieldName } from '../lists/fields';
import { getListBySlug, allLists } from '../lists/repository';
import { scheduleInWords } from '../lists/schedule-words';
import { createListFromInput, listToJson, updateListFromInput, type ListProblem } from '../lists/service';
import { count, seg } from './format';
import { checkboxField, deskPage, errorSummary, postForm, table, textArea, textField, type FieldErrors } from './layout';
import { listOverview } from './overview';
import { editorOf, requireOwner } from './session';

/**
 * Lists on the desk, through the same service as `broadsheet lists …` and /api/v1/lists:
 *
 *   GET  /admin/lists                  every list
 *   GET  /admin/lists/new              the form for a new list (owners)
 *   POST /admin/lists                  creates it (owners)
 *   GET  /admin/lists/:slug            one list: subscribers, sends, schedule, links to its pages
 *   GET  /admin/lists/:slug/settings   its settings (owners edit, editors read)
 *   POST /admin/lists/:slug/settings   saves them (owners)
 *
 * The form is built from the table of list fields (lists/fields.ts), like the CLI's options:
 * a new setting appears here by itself. A problem is shown next to its field.
 */

type FormValues = Partial<Record<ListFieldName, string | boolean>>;

/** Fields shown as a text area (several lines, or a long text). */
const MULTILINE: ReadonlySet<ListFieldName> = new Set(['sections', 'description']);

const LABELS: ReadonlyMap<string, string> = new Map(LIST_FIELD_ENTRIES.map(([name, f]) => [name, f.label]));

/** A list's stored settings as the form shows them: sections one `id:title` a line. */
function valuesOf(list: List): FormValues {
  const json = listToJson(list) as unknown as Record<string, unknown>;
  const values: FormValues = {};
  for (const [name, f] of LIST_FIELD_ENTRIES) {
    const v = json[name];
    if (f.input === 'switch') values[name] = v === true;
    else if (f.input === 'sections') values[name] = (v as Array<{ id: string; title: string }>).map((s) => `${s.id}:${s.title}`).join('\n');
    else values[name] = typeof v === 'string' ? v : '';
  }
  return values;
}

/** The posted form as the service's input: an empty optional field clears it on update. */
function inputOf(body: Record<string, unknown>, mode: 'create' | 'update'): { input: Record<string, unknown>; values: FormValues } {
  const input: Record<string, unknown> = {};
  const values: FormValues = {};
  for (const [name, f] of LIST_FIELD_ENTRIES) {
    if (f.fixed && mode === 'update') continue;
    if (f.input === 'switch') {
      input[name] = values[name] = body[name] === 'on';
      continue;
    }
    const text = (str(body[name]) ?? '').trim();
    values[name] = text;
    if (f.input === 'sections')
      input[name] = text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter(Boolean);
    else if (text !== '') input[name] = text;
    else if (mode === 'update') input[name] = f.clearable ? null : '';
  }
  return { input, values };
}

/** The service's problems by form field: `sections[2]` is the sections field's. */
function errorsOf(err: unknown): FieldErrors | undefined {
  if (!isAppError(err) || err.code !== 'invalid_input' || !Array.isArray(err.details)) return undefined;
  const errors: FieldErrors = {};
  const labels = LABELS;
  for (const p of err.details as ListProblem[]) {
    const field = p.field.replace(/\[\d+\]$/, '');
    // "is required" reads with the field's name before it; a sentence of its own stands alone.
    const sentence = /^(is|must|needs) /.test(p.message)
      ? `${labels.get(field) ?? field} ${p.message}`
      : p.message.charAt(0).toUpperCase() + p.message.slice(1);
    const text = p.field === field ? sentence : `Line ${Number(/\[(\d+)\]/.exec(p.field)?.[1]) + 1}: ${p.message}`;
    const key = labels.has(field) ? field : '';
    errors[key] = errors[key] ? `${errors[key]} ${text}` : text;
  }
  return errors;
}

function listForm(res: Response, action: string, mode: 'create' | 'update', values: FormValues, errors?: FieldErrors): SafeHtml {
  const fields = LIST_FIELD_ENTRIES.filter(([, f]) => !(f.fixed && mode === 'update')).map(([name, f]) => {
    const value = values[name];
    if (f.input === 'switch') return checkboxField({ name, label: f.label, checked: value === true, hint: f.help });
    const hint =
      f.input === 'sections'
        ? 'one a line, as id:title; readers can opt out of each'
        : `${f.help}${f.fallback ? ` (default ${f.fallback})` : ''}${f.clearable && mode === 'update' ? '; empty: none' : ''}`;
    const common = {
      name,
      label: `${f.label}${f.required ? '' : ' (optional)'}`,
      value: typeof value === 'string' ? value : '',
      errors,
      hint,
      required: f.required === true,
    };
    return MULTILINE.has(name) ? textArea({ ...common, rows: name === 'sections' ? 4 : 3 }) : textField(common);
  });
  return postForm(
    res,
    action,
    html`${errorSummary(errors, LABELS)}${fields}<button type="submit">${mode === 'create' ? 'Create the list' : 'Save the settings'}</button>`,
  );
}

export function listsDesk(deps: AppDeps): express.Router {
  const router = express.Router();
  const now = () => deps.clock?.() ?? new Date();

  router.get('/lists', async (_req, res) => {
    const lists = await allLists(deps.db);
    const owner = editorOf(res).role === 'owner';
    const rows = lists.map((l) => {
      const words = scheduleInWords(l);
      return html`<tr><td><a href="/admin/lists/${seg(l.slug)}">${l.name}</a></td><td>${l.slug}</td><td>${l.weekly_slot ? words.weekly : '—'}</td><td>${l.monthly_slot ? words.monthly : '—'}</td><td>${l.language}</td></tr>`;
    });
    deskPage(res, {
      section: 'lists',
      title: 'Lists',
      body: html`<h1>Lists</h1>${owner ? html`<p><a class="button" href="/admin/lists/new">Create a list</a></p>` : ''}<div class="card">${
        rows.length > 0 ? table('Lists', ['Name', 'Slug', 'Weekly', 'Monthly digest', 'Language'], rows) : html`<p>No lists yet.</p>`
      }</div>`,
    });
  });

  const showNew = (res: Response, values: FormValues = {}, errors?: FieldErrors) =>
    deskPage(res, {
      section: 'lists',
      title: 'New list',
      body: html`<p><a href="/admin/lists">← Lists</a></p><h1>New list</h1><div class="card">${listForm(res, '/admin/lists', 'create', { language: 'en', timezone: 'UTC', ...values }, errors)}</div>`,
    });

  router.get('/lists/new', requireOwner, async (_req, res) => showNew(res));

  router.post('/lists', requireOwner, async (req, res) => {
    const { input, values } = inputOf(bodyOf(req), 'create');
    try {
      const list = await createListFromInput(deps.db, input, editorOf(res).email);
      res.redirect(303, `/admin/lists/${seg(list.slug)}`);
    } catch (err) {
      const errors = errorsOf(err) ?? (isAppError(err) && err.code === 'conflict' ? { slug: err.message } : undefined);
      if (!errors) throw err;
      showNew(res, values, errors);
    }
  });

  router.get('/lists/:slug', async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'slug'));
    const o = await listOverview(deps.db, list, now());
    const slug = seg(list.slug);
    const words = scheduleInWords(list);
    deskPage(res, {
      section: 'lists',
      title: list.name,
      body: html`<p><a href="/admin/lists">← Lists</a></p><p class="kicker">${list.slug}</p><h1>${list.name}</h1><div class="row"><a class="button" href="/admin/lists/${slug}/issues">Issues</a><a class="button" href="/admin/lists/${slug}/digest">Digest</a><a class="button" href="/admin/subscribers?list=${slug}">Subscribers</a><a class="button" href="/admin/lists/${slug}/settings">Settings</a></div><div class="grid two"><section class="card"><h2>Subscribers</h2><dl class="facts"><dt>Weekly</dt><dd>${count(o.active.weekly)}</dd><dt>Monthly</dt><dd>${count(o.active.monthly)}</dd><dt>Pending</dt><dd>${count(o.pending)}</dd></dl><p><a href="/admin/lists/${slug}/subscribers/import">Import a CSV</a> · <a href="/admin/lists/${slug}/subscribers/export">Export</a></p></section><section class="card"><h2>Schedule</h2><dl class="facts"><dt>Weekly</dt><dd>${list.weekly_slot ? words.weekly : 'no weekly slot'}</dd><dt>Monthly</dt><dd>${list.monthly_slot ? words.monthly : 'no monthly slot'}</dd><dt>Language</dt><dd>${list.language}</dd><dt>Sender</dt><dd>${list.from_address}</dd></dl></section></div>`,
    });
  });

  async function showSettings(res: Response, list: List, options: { values?: FormValues; errors?: FieldErrors; saved?: boolean } = {}) {
    const owner = editorOf(res).role === 'owner';
    const slug = seg(list.slug);
    const readOnly = () => {
      const values = valuesOf(list);
      const rows = LIST_FIELD_ENTRIES.map(
        ([name, f]) => html`<dt>${f.label}</dt><dd>${f.input === 'switch' ? (values[name] ? 'yes' : 'no') : values[name] || '—'}</dd>`,
      );
      return html`<p class="muted">Only an owner can change them.</p><dl class="facts">${rows}</dl>`;
    };
    deskPage(res, {
      section: 'lists',
      title: `Settings · ${list.name}`,
      body: html`<p><a href="/admin/lists/${slug}">← ${list.name}</a></p><h1>Settings of ${list.name}</h1>${options.saved ? html`<p class="notice" role="status">Saved.</p>` : ''}<div class="card">${
        owner ? listForm(res, `/admin/lists/${slug}/settings`, 'update', options.values ?? valuesOf(list), options.errors) : readOnly()
      }</div>`,
    });
  }

  router.get('/lists/:slug/settings', async (req, res) => {
    await showSettings(res, await getListBySlug(deps.db, param(req, 'slug')));
  });

  router.post('/lists/:slug/settings', requireOwner, async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'slug'));
    const { input, values } = inputOf(bodyOf(req), 'update');
    try {
      const updated = await updateListFromInput(deps.db, list.slug, input, editorOf(res).email);
      await showSettings(res, updated, { saved: true });
    } catch (err) {
      const errors = errorsOf(err);
      if (!errors) throw err;
      await showSettings(res, list, { values, errors });
    }
  });

  return router;
}
