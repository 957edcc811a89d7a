import express from 'express';
import { sendPage } from '../../http/page';
import { listLang, metaOf, param } from '../../http/request';
import * as pages from '../pages';
import { confirm, confirmLinkState, openToken, resendConfirmation } from '../service';
import { linkPageErrors, takeClient, type ReaderContext } from './context';

/**
 *   GET  /confirm/:token          page with a confirm button
 *   POST /confirm/:token          confirms (idempotent)
 *   POST /confirm/:token/resend   a new link, from an expired one
 */
export function confirmRoutes(ctx: ReaderContext): express.Router {
  const router = express.Router();

  router.get('/confirm/:token', async (req, res) => {
    const token = param(req, 'token');
    const link = await openToken(ctx.deps, token, 'confirm');
    const { list, subscription } = link;
    const lang = listLang(list);
    if (subscription.status === 'active') {
      // Only a link still in date is worth a fresh preferences link.
      const preferences = link.state === 'valid' ? ctx.token('preferences', subscription.id) : undefined;
      return sendPage(res, 200, lang, pages.confirmDone(lang, list, subscription, preferences));
    }
    const state = await confirmLinkState(ctx.deps.db, subscription, link.state === 'valid' ? link.issuedAt : null);
    if (state === 'inactive') return sendPage(res, 410, lang, pages.confirmInactive(lang, list));
    if (link.state === 'expired' || state === 'stale') return sendPage(res, 410, lang, pages.confirmExpired(lang, list, token));
    sendPage(res, 200, lang, pages.confirmAsk(lang, list, token));
  });

  router.post('/confirm/:token', async (req, res) => {
    const token = param(req, 'token');
    const link = await openToken(ctx.deps, token, 'confirm');
    const lang = listLang(link.list);
    if (link.state === 'expired') return sendPage(res, 410, lang, pages.confirmExpired(lang, link.list, token));
    const { outcome, subscription } = await confirm(ctx.service, link.subscription.id, link.issuedAt, metaOf(req));
    if (outcome === 'stale') return sendPage(res, 410, lang, pages.confirmExpired(lang, link.list, token));
    if (outcome === 'inactive') return sendPage(res, 410, lang, pages.confirmInactive(lang, link.list));
    sendPage(res, 200, lang, pages.confirmDone(lang, link.list, subscription, ctx.token('preferences', subscription.id)));
  });

  router.post('/confirm/:token/resend', async (req, res) => {
    // Expired links are welcome here: asking for a new one is what they are for.
    const link = await openToken(ctx.deps, param(req, 'token'), 'confirm');
    await takeClient(ctx, req, res);
    await resendConfirmation(ctx.service, link.subscription.id);
    sendPage(res, 200, listLang(link.list), pages.confirmResent(listLang(link.list), link.list));
  });

  router.use(linkPageErrors);
  return router;
}
