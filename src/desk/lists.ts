import express from 'express';
import type { AppDeps } from '../http/deps';
import { html } from '../http/page';
import { allLists } from '../lists/repository';
import { deskPage, table } from './layout';

/** GET /admin/lists: every list. */
export function listsDesk(deps: AppDeps): express.Router {
  const router = express.Router();
  router.get('/lists', async (_req, res) => {
    const lists = await allLists(deps.db);
    const rows = lists.map((l) => html`<tr><td><a href="/admin/lists/${encodeURIComponent(l.slug)}">${l.name}</a></td><td>${l.slug}</td><td>${l.language}</td><td>${l.timezone}</td></tr>`);
    deskPage(res, { section: 'lists', title: 'Lists', body: html`<h1>Lists</h1><div class="card">${table('Lists', ['Name', 'Slug', 'Language', 'Time zone'], rows)}</div>` });
  });
  return router;
}
