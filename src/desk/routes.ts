import path from 'node:path';
import fs from 'node:fs';
import express from 'express';
import type { AppDeps } from '../http/deps';
import { notFound, pageErrors } from '../http/errors';
import { refuseNulBytes } from '../http/middleware';
import { accountDesk } from './account';
import { digestDesk } from './digest';
import { editorsDesk } from './editors';
import { homeDesk } from './home';
import { issuesDesk } from './issues';
import { deskErrorPage } from './layout';
import { createSignInLimits } from './limits';
import { listsDesk } from './lists';
import { sendsDesk } from './sends';
import { requireCsrf, requireEditor } from './session';
import { signInRoutes, signOutRoute } from './sign-in';
import { subscribersDesk } from './subscribers';

/**
 * The editor's desk, mounted at /admin by app.ts.
 *
 * HOW TO ADD A PAGE
 *
 * 1. Write a router factory in its own file, `export function thingDesk(deps: AppDeps): express.Router`,
 *    with paths relative to /admin written out in full on each route (`router.get('/lists/:slug/issues', …)`,
 *    not `router.use('/lists', sub)`): tests/integration/desk-auth.test.ts reads the routes off this
 *    router to prove each one refuses a visitor without a session, and only full paths can be read.
 * 2. Mount it below with `router.use(thingDesk(deps))`, AFTER `requireEditor` and `requireCsrf`:
 *    every route there has a signed-in editor, and every POST/PUT/PATCH/DELETE has passed the CSRF
 *    check. Nothing else to do for auth. Owner-only routes add `requireOwner` (session.ts).
 * 3. In a handler: `editorOf(res)` is the editor {id, email, role} (res.locals.editor); name them as
 *    the actor of every change (`actor: editorOf(res).email` into the service, which records it on
 *    the subscription's or the send's events). Call the same service the CLI and /api/v1 call.
 * 4. Answer with `deskPage(res, { title, section, body })` (layout.ts) and build the body with the
 *    escaping `html` tag (http/page.ts). Forms: `postForm(res, action, html\`…\`)` adds the CSRF token
 *    (`res.locals.csrf`); for a file upload use `{ multipart: true }` (the token goes in the query).
 *    `textField`, `selectField`, `textArea`, `checkboxField` put an error next to its field from a
 *    `FieldErrors` record; `formAlert` shows a form-wide one; `table` scrolls on a phone.
 * 5. Errors: throw AppError; the desk shows it as a page in its own frame (`deskErrorPage`). A form
 *    that failed validation re-renders itself with its FieldErrors instead, with status 200: the
 *    page is the form's answer, and a browser logs every 4xx page as a console error, which would
 *    make each editor's typo an error in the logs that watch the desk (and in the browser test).
 * 6. Live pages only: a script module goes in static/desk/NAME.js and is listed on the page with
 *    `deskPage(res, { …, scripts: ['/admin/static/NAME.js'] })`; the page's policy then allows
 *    scripts from this origin and `connect-src 'self'` (Server-Sent Events). No inline script, ever.
 *    A script's POST sends the token as an `X-CSRF-Token` header (read it from a form's `_csrf`).
 * 7. Add the page's route to the test's example parameters if it has a new `:param` name.
 *
 * Bodies: forms (urlencoded) and JSON up to 10 MB are parsed here (a pasted issue is larger than
 * the app's 100 KB limit for reader forms); multipart is left to the route that takes it.
 */
export function deskRoutes(deps: AppDeps): express.Router {
  const router = express.Router();
  router.use(express.urlencoded({ extended: false, limit: '10mb' }));
  router.use(express.json({ limit: '10mb' }));
  router.use(refuseNulBytes);

  // Before the session check: how an editor gets one.
  router.use(signInRoutes(deps, createSignInLimits(deps.redis, deps.queues.prefix)));

  router.use(requireEditor(deps));
  router.use(requireCsrf(deps.config));
  // The desk's script modules (live pages only), for signed-in editors like every other desk URL.
  router.use('/static', express.static(staticDir(), { index: false, dotfiles: 'deny', fallthrough: false, maxAge: '1h' }));
  router.use(signOutRoute(deps));
  router.use(homeDesk(deps));
  router.use(listsDesk(deps));
  router.use(editorsDesk(deps));
  router.use(accountDesk(deps));
  // The second half of the desk (issues, sends, subscribers, digest).
  router.use(issuesDesk(deps));
  router.use(sendsDesk(deps));
  router.use(subscribersDesk(deps));
  router.use(digestDesk(deps));

  router.use(notFound);
  router.use(pageErrors({ render: deskErrorPage }));
  return router;
}

/** static/desk, from src/desk (tests) or dist/src/desk (compiled). */
export function staticDir(): string {
  const candidates = [path.resolve(__dirname, '../../static/desk'), path.resolve(__dirname, '../../../static/desk')];
  return candidates.find((dir) => fs.existsSync(dir)) ?? (candidates[0] as string);
}
