import express from 'express';
import type { AppDeps } from '../http/deps';
import { AppError } from '../errors';
import { importIssue, listIssues } from '../issues/repository';
import { validateIssue, formatProblems } from '../issues/validate';
import { getListBySlug } from '../lists/repository';
import { findListIssue, progressToJson, sendAction, sendTest, type SendAction } from './editor';

/**
 * The admin API's issue and send routes (mounted under /api/v1 behind the admin token), the
 * same operations as `broadsheet issues …`.
 */
export function issueApi(deps: AppDeps): express.Router {
  const router = express.Router();
  const editor = { db: deps.db, queues: deps.queues, config: deps.config };

  router.get('/lists/:slug/issues', async (req, res) => {
    const list = await getListBySlug(deps.db, req.params.slug);
    res.json({ issues: await listIssues(deps.db, list.id) });
  });

  // An issue as JSON. Its images must be absolute URLs here: relative ones come with a folder,
  // which the CLI's `issues import FILE` copies.
  router.post('/lists/:slug/issues', async (req, res) => {
    if (!req.is('application/json')) throw new AppError('invalid_input', 'send the issue as JSON (Content-Type: application/json)');
    const list = await getListBySlug(deps.db, req.params.slug);
    const checked = validateIssue(req.body, { assetExists: () => false });
    if (!checked.ok) throw new AppError('invalid_issue', `not a valid issue:\n${formatProblems(checked.problems)}`, checked.problems);
    const { issue, replaced } = await importIssue(deps.db, { list, issue: checked.issue, baseDir: '/nonexistent', dataDir: deps.config.dataDir });
    res.status(replaced ? 200 : 201).json({ issue: { slug: issue.slug, kind: issue.kind, date: issue.date, title: issue.title }, replaced });
  });

  router.post('/lists/:slug/issues/:issue/test', async (req, res) => {
    const to: unknown = req.body?.to;
    if (typeof to !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(to)) throw new AppError('invalid_input', 'send { "to": "address@example.org" } as JSON');
    const { issue } = await findListIssue(deps.db, req.params.slug, req.params.issue);
    res.json({ sent: true, response: (await sendTest(editor, issue, to, undefined, res.locals.actor ?? 'api')).response });
  });

  const control = (action: SendAction, method: 'get' | 'post') =>
    router[method](`/lists/:slug/issues/:issue/${action}`, async (req, res) => {
      const { list, issue } = await findListIssue(deps.db, req.params.slug, req.params.issue);
      res.status(action === 'send' ? 202 : 200).json(progressToJson(await sendAction(editor, issue, list, action, res.locals.actor ?? 'api')));
    });
  control('send', 'post');
  control('pause', 'post');
  control('resume', 'post');
  control('cancel', 'post');
  control('status', 'get');
  return router;
}
