import express from 'express';
import { sendPage } from '../../http/page';
import { listLang, metaOf, param } from '../../http/request';
import { exportMyData } from '../my-data';
import * as pages from '../pages';
import { linkPageErrors, type ReaderContext } from './context';
import { openFresh } from './preferences';

/**
 * The short-lived link that "email me my data" sent:
 *
 *   GET  /export/:token   page with a download button (link valid one hour)
 *   POST /export/:token   the reader's data as a JSON download
 */
export function exportRoutes(ctx: ReaderContext): express.Router {
  const router = express.Router();

  router.get('/export/:token', async (req, res) => {
    const link = await openFresh(ctx, res, param(req, 'token'), 'export');
    if (!link) return;
    sendPage(res, 200, listLang(link.list), pages.exportAsk(listLang(link.list), link.list, param(req, 'token')));
  });

  router.post('/export/:token', async (req, res) => {
    const link = await openFresh(ctx, res, param(req, 'token'), 'export');
    if (!link) return;
    const data = await exportMyData(ctx.service, link.subscription.id, metaOf(req));
    res
      .status(200)
      .set({ 'Content-Disposition': `attachment; filename="${link.list.slug}-my-data.json"`, 'Cache-Control': 'no-store' })
      .type('application/json')
      .send(JSON.stringify(data, null, 2));
  });

  router.use(linkPageErrors);
  return router;
}
