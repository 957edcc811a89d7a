import express, { type Response } from 'express';
import { sendPage } from '../../http/page';
import { arrayOf, bodyOf, listLang, metaOf, param } from '../../http/request';
import { requestDataLink, deleteMe } from '../my-data';
import * as pages from '../pages';
import { changePreferences, pause, resume } from '../preferences';
import { openToken, type TokenLookup } from '../service';
import { fieldOf, linkPageErrors, takeClient, type ReaderContext } from './context';

/**
 * Opens a preferences or export token (from a GET's URL or a POST's form); an expired one gets
 * its page, which says how to get a fresh one, and undefined comes back.
 */
export async function openFresh(ctx: ReaderContext, res: Response, value: unknown, purpose: 'preferences' | 'export'): Promise<TokenLookup | undefined> {
  const link = await openToken(ctx.deps, value, purpose);
  if (link.state === 'expired') {
    const lang = listLang(link.list);
    sendPage(res, 410, lang, purpose === 'export' ? pages.exportExpired(lang, link.list) : pages.preferencesExpired(lang, link.list));
    return undefined;
  }
  return link;
}

/**
 *   GET  /preferences/:token                            preferences page
 *   POST /preferences[/pause|/resume|/export|/delete]   token in the form body; export emails a data link
 */
export function preferencesRoutes(ctx: ReaderContext): express.Router {
  const router = express.Router();
  const { service } = ctx;

  /** The page as it is now (re-read after a change), with a notice or a marked field. */
  async function show(res: Response, status: number, tokenValue: string, options: Parameters<typeof pages.preferences>[4] = {}) {
    const link = await openToken(ctx.deps, tokenValue, 'preferences');
    const lang = listLang(link.list);
    sendPage(res, status, lang, pages.preferences(lang, link, tokenValue, ctx.token('unsubscribe', link.subscription.id), options));
  }

  router.get('/preferences/:token', async (req, res) => {
    const link = await openFresh(ctx, res, param(req, 'token'), 'preferences');
    if (!link) return;
    const lang = listLang(link.list);
    sendPage(res, 200, lang, pages.preferences(lang, link, param(req, 'token'), ctx.token('unsubscribe', link.subscription.id)));
  });

  router.post('/preferences', async (req, res) => {
    const body = bodyOf(req);
    const link = await openFresh(ctx, res, body.token, 'preferences');
    if (!link) return;
    // Checkboxes name the sections the reader wants; what is stored is what they don't. A
    // browser sends nothing for a box left unticked, so the page's form always sends an empty
    // `sections` too: a request without the field at all did not show the sections, and
    // leaves them as they are rather than excluding every one.
    const wanted = body.sections === undefined ? undefined : new Set(arrayOf(body.sections));
    const change = {
      name: body.name as string | undefined,
      cadence: body.cadence as 'weekly' | 'monthly' | undefined,
      excludedSections: wanted && link.list.sections.map((s) => s.id).filter((id) => !wanted.has(id)),
    };
    try {
      await changePreferences(service, link.subscription.id, change, metaOf(req));
    } catch (err) {
      const field = fieldOf(err);
      if (!field) throw err;
      return show(res, 400, String(body.token), { error: field });
    }
    await show(res, 200, String(body.token), { notice: 'saved' });
  });

  for (const action of ['pause', 'resume'] as const) {
    router.post(`/preferences/${action}`, async (req, res) => {
      const body = bodyOf(req);
      const link = await openFresh(ctx, res, body.token, 'preferences');
      if (!link) return;
      await (action === 'pause' ? pause : resume)(service, link.subscription.id, metaOf(req));
      await show(res, 200, String(body.token), { notice: action === 'pause' ? 'paused' : 'resumed' });
    });
  }

  router.post('/preferences/export', async (req, res) => {
    const body = bodyOf(req);
    const link = await openFresh(ctx, res, body.token, 'preferences');
    if (!link) return;
    await takeClient(ctx, req, res);
    await requestDataLink(service, link.subscription.id);
    await show(res, 200, String(body.token), { notice: 'data_sent' });
  });

  router.post('/preferences/delete', async (req, res) => {
    const body = bodyOf(req);
    const link = await openFresh(ctx, res, body.token, 'preferences');
    if (!link) return;
    const lang = listLang(link.list);
    // Two steps, both POSTs: the first only asks whether the reader means it.
    if (body.confirm !== 'yes') return sendPage(res, 200, lang, pages.deleteAsk(lang, link.list, String(body.token)));
    await deleteMe(service, link.subscription.id);
    sendPage(res, 200, lang, pages.deleteDone(lang, link.list));
  });

  router.use(linkPageErrors);
  return router;
}
