import express, { type Request, type Response } from 'express';
import type { List } from '../../db/schema';
import { jsonOrPageErrors } from '../../http/errors';
import { sendPage } from '../../http/page';
import { bodyOf, listLang, metaOf, param, str, wantsJson } from '../../http/request';
import { t } from '../../i18n';
import { publishedIssues } from '../../issues/published';
import { getListBySlug } from '../../lists/repository';
import * as pages from '../pages';
import { requestPreferencesLink, subscribe } from '../service';
import { fieldOf, takeClient, type ReaderContext } from './context';

/**
 *   GET  /lists/:list, /lists/:list/subscribe   subscribe form
 *   POST /lists/:list/subscribe                 form-encoded (page) or JSON {email, name?, cadence?}
 *   GET  /lists/:list/preferences               "email me a link to my preferences"
 *   POST /lists/:list/preferences               sends it, if the address is known (never says)
 */
/** How many of the latest sent issues the subscribe page links to. */
const LATEST_ISSUES = 3;

export function subscribeRoutes(ctx: ReaderContext): express.Router {
  const { db } = ctx.deps;
  const router = express.Router();

  // The subscribe page shows what the list has sent lately: a visitor decides on the issues.
  const showSubscribeForm = async (req: Request, res: Response) => {
    const list = await getListBySlug(db, param(req, 'list'));
    const latest = await publishedIssues(db, list.id, LATEST_ISSUES);
    sendPage(res, 200, listLang(list), pages.subscribeForm(listLang(list), list, { values: {} }, latest));
  };
  router.get('/lists/:list', showSubscribeForm);
  router.get('/lists/:list/subscribe', showSubscribeForm);

  router.post('/lists/:list/subscribe', async (req, res) => {
    const body = bodyOf(req);
    let list: List | undefined;
    try {
      await takeClient(ctx, req, res);
      // A bot that fills the hidden field is answered like everyone else, and nothing happens.
      if (typeof body.website === 'string' && body.website !== '') {
        list = await getListBySlug(db, param(req, 'list'));
      } else {
        const input = { email: body.email, name: body.name, cadence: body.cadence };
        list = await subscribe(ctx.service, param(req, 'list'), input, { ...metaOf(req), source: req.is('application/json') ? 'api' : 'form' });
      }
    } catch (err) {
      // A form with a bad field is shown again, with the field marked and what was typed kept.
      const field = wantsJson(req) ? undefined : fieldOf(err);
      if (field) list ??= await getListBySlug(db, param(req, 'list')).catch(() => undefined);
      if (!field || !list) throw err;
      const values = { email: str(body.email), name: str(body.name), cadence: str(body.cadence) };
      return sendPage(res, 400, listLang(list), pages.subscribeForm(listLang(list), list, { values, error: field }));
    }
    // The same answer for a new, pending or active address, so it cannot be used to test one.
    if (wantsJson(req)) res.status(202).json({ ok: true, message: t(listLang(list), 'subscribe.done.api', { list: list.name }) });
    else sendPage(res, 200, listLang(list), pages.subscribeDone(listLang(list), list));
  });

  router.get('/lists/:list/preferences', async (req, res) => {
    const list = await getListBySlug(db, param(req, 'list'));
    sendPage(res, 200, listLang(list), pages.preferencesLinkForm(listLang(list), list));
  });

  router.post('/lists/:list/preferences', async (req, res) => {
    const list = await getListBySlug(db, param(req, 'list'));
    const lang = listLang(list);
    await takeClient(ctx, req, res);
    const email = bodyOf(req).email;
    try {
      await requestPreferencesLink(ctx.service, list.slug, email);
    } catch (err) {
      const field = fieldOf(err);
      if (!field) throw err;
      return sendPage(res, 400, lang, pages.preferencesLinkForm(lang, list, { values: { email: str(email) }, error: field }));
    }
    sendPage(res, 200, lang, pages.preferencesLinkSent(lang, list));
  });

  router.use(jsonOrPageErrors());
  return router;
}
