import path from 'node:path';
import express from 'express';
import type { Db } from '../db/database';
import { isAssetKey } from '../issues/asset-keys';
import { findPublishedAssetOwner } from '../issues/published';

/**
 * `/assets/{list}/{issue}/{file}`: the images of imported issues, at the URLs the compiled
 * email uses. Only a sent issue's assets are public (like its archive page); a draft's, a
 * scheduled or a cancelled issue's answer 404, unless the URL carries the key a test email
 * gets (issues/asset-keys.ts). An SVG (or anything else an editor imported) is served as an
 * inert document: no script, no plugin, no form, on the app's own origin.
 */
export const ASSET_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
  'X-Content-Type-Options': 'nosniff',
} as const;

export function assetRoutes(deps: { db: Db; config: { dataDir: string; secretKeys: readonly string[] } }): express.Router {
  const router = express.Router();
  const root = path.join(deps.config.dataDir, 'assets');
  const serve = express.static(root, { index: false, dotfiles: 'deny', fallthrough: true, redirect: false, setHeaders: (res) => res.set(ASSET_HEADERS) });

  router.get('/assets/:list/:issue/{*rest}', async (req, res, next) => {
    const { list, issue } = req.params as { list: string; issue: string };
    const rest = (req.params as { rest?: string[] }).rest ?? [];
    let keyed = false;
    if (rest[0]?.startsWith('~')) {
      if (!isAssetKey(deps.config.secretKeys, list, issue, rest[0])) return next();
      keyed = true;
      rest.shift();
    }
    if (rest.length === 0) return next();
    if (!keyed && !(await findPublishedAssetOwner(deps.db, list, issue))) return next();
    // A draft's images seen through a test email's key are nobody else's to keep.
    res.set('Cache-Control', keyed ? 'private, no-store' : 'public, max-age=604800');
    req.url = '/' + [list, issue, ...rest].map(encodeURIComponent).join('/');
    serve(req, res, next);
  });
  return router;
}
