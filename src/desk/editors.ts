import express, { type Response } from 'express';
import type { Editor } from '../db/schema';
import { addEditor, listEditors, removeEditor } from '../editors/service';
import { isAppError } from '../errors';
import type { AppDeps } from '../http/deps';
import { html, type SafeHtml } from '../http/page';
import { bodyOf, param, str } from '../http/request';
import { deskPage, formAlert, postForm, selectField, table, textField, type FieldErrors } from './layout';
import { editorOf, requireOwner } from './session';

/**
 * Owners only:
 *
 *   GET  /admin/editors                   who may use the desk, and a form to add one
 *   POST /admin/editors                   adds one: their sign-in link is emailed, and shown once here
 *   POST /admin/editors/:id/remove        asks, then (with confirm=yes) removes; the last owner stays
 */
export function editorsDesk(deps: AppDeps): express.Router {
  const router = express.Router();
  const now = () => deps.clock?.() ?? new Date();

  async function show(
    res: Response,
    options: {
      status?: number;
      errors?: FieldErrors;
      values?: { email?: string; role?: string };
      added?: { email: string; link: string };
      removed?: string;
    } = {},
  ) {
    const editors = await listEditors(deps.db);
    const me = editorOf(res);
    const rows = editors.map(
      (e: Editor) =>
        html`<tr><td>${e.email}${e.id === me.id ? html` <span class="badge">you</span>` : ''}</td><td>${e.role}</td><td>${e.created_at.toISOString().slice(0, 10)}</td><td>${postForm(res, `/admin/editors/${e.id}/remove`, html`<button type="submit" class="danger">Remove<span class="visually-hidden"> ${e.email}</span></button>`)}</td></tr>`,
    );
    const notice: SafeHtml | '' = options.added
      ? html`<div class="notice" role="status"><p>${options.added.email} can sign in now. Their link was emailed to them; it is also here, once (15 minutes, one use):</p><p class="secret">${options.added.link}</p></div>`
      : options.removed
        ? html`<p class="notice" role="status">${options.removed} can no longer use the desk.</p>`
        : '';
    deskPage(res, {
      status: options.status,
      section: 'editors',
      title: 'Editors',
      body: html`<h1>Editors</h1>${notice}<div class="card"><p class="muted">Owners manage editors and list settings; editors do everything else.</p>${table('Editors', ['Address', 'Role', 'Added', ''], rows)}</div><div class="card"><h2>Add an editor</h2>${formAlert(options.errors)}${postForm(
        res,
        '/admin/editors',
        html`${textField({ name: 'email', label: 'Email address', type: 'email', value: options.values?.email, errors: options.errors, required: true, autocomplete: 'off' })}${selectField(
          {
            name: 'role',
            label: 'Role',
            value: options.values?.role ?? 'editor',
            errors: options.errors,
            options: [
              { value: 'editor', label: 'Editor' },
              { value: 'owner', label: 'Owner' },
            ],
          },
        )}<button type="submit">Add and email a sign-in link</button>`,
      )}</div>`,
    });
  }

  router.get('/editors', requireOwner, async (_req, res) => show(res));

  router.post('/editors', requireOwner, async (req, res) => {
    const body = bodyOf(req);
    const values = { email: str(body.email), role: str(body.role) };
    try {
      const { editor, link } = await addEditor(deps, { email: body.email, role: body.role }, now());
      await show(res, { added: { email: editor.email, link } });
    } catch (err) {
      const field = isAppError(err) ? (err.details as { field?: string } | undefined)?.field : undefined;
      if (!isAppError(err) || !field) throw err;
      await show(res, { values, errors: { [field]: err.message } });
    }
  });

  router.post('/editors/:id/remove', requireOwner, async (req, res) => {
    const editors = await listEditors(deps.db);
    const target = editors.find((e) => e.id === param(req, 'id'));
    if (!target || bodyOf(req).confirm !== 'yes') {
      const who = target?.email ?? 'this editor';
      return deskPage(res, {
        section: 'editors',
        title: 'Remove an editor',
        body: html`<div class="card"><h1>Remove ${who}?</h1><p>They are signed out everywhere and their API tokens stop working. Their name stays on the changes they made.</p><div class="row">${postForm(res, `/admin/editors/${param(req, 'id')}/remove`, html`<input type="hidden" name="confirm" value="yes"><button type="submit" class="danger">Remove ${who}</button>`)}<a href="/admin/editors">Keep them</a></div></div>`,
      });
    }
    try {
      const removed = await removeEditor(deps.db, target.id);
      await show(res, { removed: removed.email });
    } catch (err) {
      if (!isAppError(err) || err.code !== 'conflict') throw err;
      await show(res, { status: 409, errors: { '': err.message } });
    }
  });

  return router;
}
