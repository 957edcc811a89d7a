import express, { type Request, type Response } from 'express';
import { isDatabaseUnavailable } from '../../db/database';
import type { List } from '../../db/schema';
import { AppError } from '../../errors';
import { RETRY_AFTER_SECONDS } from '../../http/errors';
import { html, sendPage } from '../../http/page';
import { listLang, metaOf, param, requestLang } from '../../http/request';
import { t } from '../../i18n';
import * as pages from '../pages';
import { unsubscribe } from '../preferences';
import { keepUnsubscribe } from '../kept-unsubscribes';
import { openToken } from '../service';
import { verifyToken } from '../tokens';
import { linkPageErrors, type ReaderContext } from './context';

/** What the one-click POST route reads of its body: enough for `List-Unsubscribe=One-Click`. */
const ONE_CLICK_PEEK_BYTES = 1024;

/**
 * Whether an unsubscribe POST is a mail provider's RFC 8058 one-click: its body says
 * `List-Unsubscribe=One-Click` (form-encoded, or as a multipart field) or it is multipart at
 * all. Reads at most the first KB and lets the rest flow away unread, so no body can fail or
 * hold up the unsubscribe.
 */
async function looksLikeOneClick(req: Request): Promise<boolean> {
  const multipart = Boolean(req.is('multipart/form-data'));
  if (req.readableEnded) return multipart;
  let head = '';
  await new Promise<void>((resolve) => {
    const done = () => {
      req.off('data', onData).off('end', done).off('error', done);
      req.resume(); // the rest is discarded
      resolve();
    };
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.length >= ONE_CLICK_PEEK_BYTES) done();
    };
    req.on('data', onData).on('end', done).on('error', done);
  });
  return multipart || /List-Unsubscribe=One-Click/i.test(head.slice(0, ONE_CLICK_PEEK_BYTES));
}

/**
 * PostgreSQL is down: the link's signature is checked without it, the request is kept under
 * DATA_DIR (kept-unsubscribes.ts) and applied when the database is back. The answer is 503
 * with Retry-After, as for every request the database could not serve, and says that the
 * unsubscribe is recorded; a mail provider that tries again only repeats what is kept.
 */
async function keepForLater(ctx: ReaderContext, req: Request, res: Response, method: 'one-click' | 'page'): Promise<void> {
  const check = verifyToken(ctx.deps.config.secretKeys, param(req, 'token'), 'unsubscribe');
  if (!check.ok) throw new AppError('invalid_input', 'this link is not valid');
  const { ip, userAgent } = metaOf(req);
  await keepUnsubscribe(ctx.deps.config.dataDir, { subscriptionId: check.subscriptionId, method, at: new Date().toISOString(), ip, userAgent });
  const lang = requestLang(req);
  res.status(503).set('Retry-After', String(RETRY_AFTER_SECONDS)).set('Cache-Control', 'no-store');
  if (method === 'one-click') {
    res.type('text/plain; charset=utf-8').send(t(lang, 'unsub.kept'));
    return;
  }
  sendPage(res, 503, lang, {
    title: t(lang, 'unsub.done.title'),
    body: html`<div class="card"><h1>${t(lang, 'unsub.done.title')}</h1><p>${t(lang, 'unsub.kept')}</p></div>`,
  });
}

/**
 *   GET  /unsubscribe/:token   page with one button
 *   POST /unsubscribe/:token   unsubscribes; RFC 8058 one-click answers 200 text
 */
export function unsubscribeRoutes(ctx: ReaderContext): express.Router {
  const router = express.Router();

  router.get('/unsubscribe/:token', async (req, res) => {
    const { list, subscription } = await openToken(ctx.deps, param(req, 'token'), 'unsubscribe');
    const lang = listLang(list);
    if (subscription.status !== 'active' && subscription.status !== 'pending') {
      return sendPage(res, 200, lang, pages.unsubscribeDone(lang, list));
    }
    sendPage(res, 200, lang, pages.unsubscribeAsk(lang, list, param(req, 'token'), ctx.token('preferences', subscription.id)));
  });

  router.post('/unsubscribe/:token', async (req, res) => {
    // The token in the URL is the whole authorisation (RFC 8058): no cookie, no CSRF token,
    // and no body either: whatever arrives (malformed, oversized, multipart) the reader is
    // unsubscribed. The app leaves this body unparsed; only its start is looked at, to
    // choose between the one-click answer and the page.
    const oneClick = await looksLikeOneClick(req);
    const method = oneClick ? 'one-click' : 'page';
    let list: List;
    try {
      const link = await openToken(ctx.deps, param(req, 'token'), 'unsubscribe');
      list = link.list;
      await unsubscribe(ctx.service, link.subscription.id, { ...metaOf(req), method });
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      return keepForLater(ctx, req, res, method);
    }
    const lang = listLang(list);
    if (oneClick) {
      res.status(200).type('text/plain; charset=utf-8').set('Cache-Control', 'no-store').send(t(lang, 'unsub.oneclick'));
      return;
    }
    sendPage(res, 200, lang, pages.unsubscribeDone(lang, list));
  });

  router.use(linkPageErrors);
  return router;
}
