import { pipeline } from 'node:stream/promises';
import express from 'express';
import type { AppDeps } from '../http/deps';
import { AppError } from '../errors';
import { allLists, getListBySlug } from '../lists/repository';
import { createListFromInput, getListWithCounts, listToJson, updateListFromInput } from '../lists/service';
import { exportSubscribers } from '../subscribers/export';
import { forgetSubscriber } from '../subscribers/forget';
import { importSubscribers } from '../subscribers/import/pipeline';
import { issueApi } from '../sending/routes';
import { noStore } from '../http/middleware';
import { requireAdminToken } from '../http/admin-auth';
import { editorOfApiToken } from '../editors/service';
import { scheduleApi } from '../schedules/routes';

/**
 * An import through the API holds a request open while it runs; above this, use the CLI.
 * The body is streamed straight into the import, never buffered, so the limit is about
 * request time, not memory.
 */
export const API_IMPORT_LIMIT_BYTES = 50 * 1024 * 1024;

function flag(value: unknown, name: string): boolean {
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new AppError('invalid_input', `${name} must be true or false`);
}

/**
 * The admin API, mounted once at /api/v1: the editor's list, issue, schedule and subscriber
 * operations, the same as the CLI's. One auth check in front of every route (a router added
 * here cannot skip it); errors are AppErrors, which the app's error middleware answers as
 * `{ error: { code, message } }`.
 */
export function adminApi(deps: AppDeps): express.Router {
  const router = express.Router();
  router.use(requireAdminToken(deps.config.adminToken, async (bearer) => (await editorOfApiToken(deps.db, bearer))?.email));
  // Subscriber lists, counts and send states: data that no browser or proxy should keep.
  router.use(noStore);
  router.use(scheduleApi(deps));
  router.use(issueApi(deps));
  router.use(listApi(deps));
  return router;
}

/** Lists and their subscribers. */
function listApi(deps: AppDeps): express.Router {
  const { db, queues } = deps;
  const router = express.Router();

  router.get('/lists', async (_req, res) => {
    const lists = await allLists(db);
    res.json({ lists: lists.map(listToJson) });
  });

  router.post('/lists', async (req, res) => {
    if (!req.is('application/json')) throw new AppError('invalid_input', 'send the list as JSON (Content-Type: application/json)');
    const list = await createListFromInput(db, req.body, res.locals.actor);
    res
      .status(201)
      .location(`${req.baseUrl}/lists/${list.slug}`)
      .json({ list: listToJson(list) });
  });

  router.patch('/lists/:slug', async (req, res) => {
    if (!req.is('application/json')) throw new AppError('invalid_input', 'send the changes as JSON (Content-Type: application/json)');
    const list = await updateListFromInput(db, req.params.slug, req.body, res.locals.actor);
    res.json({ list: listToJson(list) });
  });

  router.get('/lists/:slug', async (req, res) => {
    const { list, counts } = await getListWithCounts(db, req.params.slug);
    res.json({ list: listToJson(list), counts });
  });

  router.post('/lists/:slug/subscribers/import', async (req, res) => {
    const confirmed = flag(req.query.confirmed, 'confirmed');
    if (!req.is(['text/csv', 'text/plain'])) {
      throw new AppError('invalid_input', 'send the CSV as the request body with Content-Type: text/csv');
    }
    const declared = Number(req.get('content-length'));
    if (declared > API_IMPORT_LIMIT_BYTES) {
      throw new AppError('payload_too_large', `the CSV is larger than ${API_IMPORT_LIMIT_BYTES / 1024 / 1024} MB: split it, or use the CLI`);
    }
    const report = await importSubscribers(db, queues, req.params.slug, req, { confirmed, maxBytes: API_IMPORT_LIMIT_BYTES });
    if (report.stopped) {
      throw new AppError('invalid_input', `line ${report.stopped.line}: ${report.stopped.message}; the lines before it were imported`, report);
    }
    res.json(report);
  });

  router.get('/lists/:slug/subscribers/export', async (req, res) => {
    // Looked up first, so that an unknown list is a 404 before any CSV is sent.
    const list = await getListBySlug(db, req.params.slug);
    res.type('text/csv; charset=utf-8');
    res.attachment(`${list.slug}-subscribers.csv`);
    try {
      await pipeline(exportSubscribers(db, list.id), res);
    } catch (err) {
      // The client went away: nothing to answer, nothing wrong on our side.
      if ((err as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      throw err;
    }
  });

  router.post('/subscribers/forget', async (req, res) => {
    const email: unknown = req.body?.email;
    if (typeof email !== 'string') throw new AppError('invalid_input', 'send { "email": "..." } as JSON');
    const result = await forgetSubscriber(db, email, { evenIfUnknown: req.body?.evenIfUnknown === true });
    res.json({ forgotten: true, ...result });
  });

  return router;
}
