import express, { type Response } from 'express';
import { apiTokensOf, createApiToken, revokeApiToken } from '../editors/service';
import { isAppError } from '../errors';
import type { AppDeps } from '../http/deps';
import { html, type SafeHtml } from '../http/page';
import { bodyOf, param, str } from '../http/request';
import { deskPage, postForm, table, textField, type FieldErrors } from './layout';
import { editorOf } from './session';

/**
 *   GET  /admin/account                    the editor's own API tokens
 *   POST /admin/account/tokens             a new token, shown once (only its hash is kept)
 *   POST /admin/account/tokens/:id/revoke  revokes one
 *
 * A token works like ADMIN_TOKEN on /api/v1 (`Authorization: Bearer …`), and the changes made
 * with it name this editor.
 */
export function accountDesk(deps: AppDeps): express.Router {
  const router = express.Router();

  async function show(
    res: Response,
    options: { status?: number; errors?: FieldErrors; name?: string; created?: { name: string; token: string }; notice?: string } = {},
  ) {
    const me = editorOf(res);
    const tokens = await apiTokensOf(deps.db, me);
    const rows = tokens.map(
      (t) =>
        html`<tr><td>${t.name}</td><td>${t.created_at.toISOString().slice(0, 16).replace('T', ' ')} UTC</td><td>${t.last_used_at ? `${t.last_used_at.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never'}</td><td>${postForm(res, `/admin/account/tokens/${t.id}/revoke`, html`<button type="submit" class="danger">Revoke<span class="visually-hidden"> ${t.name}</span></button>`)}</td></tr>`,
    );
    const created: SafeHtml | '' = options.created
      ? html`<div class="notice" role="status"><p>Your new token "${options.created.name}". Copy it now: it is not shown again.</p><p class="secret">${options.created.token}</p><p class="muted">Use it as <code>Authorization: Bearer TOKEN</code> on /api/v1.</p></div>`
      : options.notice
        ? html`<p class="notice" role="status">${options.notice}</p>`
        : '';
    deskPage(res, {
      status: options.status,
      section: 'account',
      title: 'Account',
      body: html`<h1>Account</h1><div class="card"><dl class="facts"><dt>Signed in as</dt><dd>${me.email}</dd><dt>Role</dt><dd>${me.role}</dd></dl></div>${created}<div class="card"><h2>API tokens</h2><p class="muted">For scripts that call the admin API as you. Each is shown once and stored hashed.</p>${
        rows.length > 0 ? table('API tokens', ['Name', 'Created', 'Last used', ''], rows) : html`<p>No tokens yet.</p>`
      }${postForm(res, '/admin/account/tokens', html`${textField({ name: 'name', label: 'New token name', value: options.name, errors: options.errors, required: true, placeholder: 'laptop' })}<button type="submit">Create a token</button>`)}</div>`,
    });
  }

  router.get('/account', async (_req, res) => show(res));

  router.post('/account/tokens', async (req, res) => {
    const name = str(bodyOf(req).name);
    try {
      const { token } = await createApiToken(deps.db, editorOf(res), name);
      await show(res, { created: { name: name!.trim(), token } });
    } catch (err) {
      if (!isAppError(err) || err.code !== 'invalid_input') throw err;
      await show(res, { name, errors: { name: err.message } });
    }
  });

  router.post('/account/tokens/:id/revoke', async (req, res) => {
    await revokeApiToken(deps.db, editorOf(res), param(req, 'id'));
    await show(res, { notice: 'The token is revoked: requests with it are refused from now on.' });
  });

  return router;
}
