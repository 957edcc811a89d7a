import express from 'express';
import type { AppDeps } from '../http/deps';
import { html } from '../http/page';
import { allLists } from '../lists/repository';
import { deskPage } from './layout';

/** GET /admin: the desk's home. */
export function homeDesk(deps: AppDeps): express.Router {
  const router = express.Router();
  router.get('/', async (_req, res) => {
    const lists = await allLists(deps.db);
    const cards = lists.map((list) => html`<section class="card"><h2><a href="/admin/lists/${encodeURIComponent(list.slug)}">${list.name}</a></h2><p class="muted">${list.slug}</p></section>`);
    deskPage(res, {
      section: 'home',
      title: 'Home',
      body: html`<h1>Home</h1>${cards.length > 0 ? html`<div class="grid two">${cards}</div>` : html`<div class="card"><p>No lists yet. <a href="/admin/lists/new">Create the first one</a>.</p></div>`}`,
    });
  });
  return router;
}
