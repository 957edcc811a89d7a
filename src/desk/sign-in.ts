import express, { type Request, type Response } from 'express';
import { checkSignInLink, requestSignInLink, signInWithLink, signOut } from '../editors/service';
import { AppError, isAppError } from '../errors';
import type { AppDeps } from '../http/deps';
import { html } from '../http/page';
import { bodyOf, metaOf, param, str } from '../http/request';
import { deskPage, postForm, textField, type FieldErrors } from './layout';
import type { SignInLimits } from './limits';
import { clearSessionCookie, preSessionCsrf, readCookie, requireCsrf, SESSION_COOKIE, setSessionCookie } from './session';

/**
 * The desk's only pages without a session:
 *
 *   GET  /admin/sign-in          "email me a sign-in link"
 *   POST /admin/sign-in          sends one if the address is an editor's (the answer never says)
 *   GET  /admin/sign-in/:token   a page with one button: mail scanners follow links, so a GET
 *                                never signs in (nor uses the link up)
 *   POST /admin/sign-in/:token   uses the link, opens a session, goes to the desk's home
 *
 * Their forms carry a CSRF token tied to a cookie of this browser (`preSessionCsrf`).
 */
export const PUBLIC_DESK_ROUTES: ReadonlyArray<readonly [method: string, path: string]> = [
  ['get', '/sign-in'],
  ['post', '/sign-in'],
  ['get', '/sign-in/:token'],
  ['post', '/sign-in/:token'],
];

export function signInRoutes(deps: AppDeps, limits: SignInLimits): express.Router {
  const router = express.Router();
  const now = () => deps.clock?.() ?? new Date();
  router.use('/sign-in', preSessionCsrf(deps.config), requireCsrf(deps.config));

  async function takeAttempt(req: Request, res: Response): Promise<void> {
    const verdict = await limits.takeClient(req.ip);
    if (verdict.ok) return;
    res.set('Retry-After', String(verdict.retryAfterSeconds));
    throw new AppError('rate_limited', `too many sign-in attempts from here; try again in ${Math.ceil(verdict.retryAfterSeconds / 60)} minutes`);
  }

  const askForm = (res: Response, options: { status?: number; email?: string; errors?: FieldErrors; intro?: string } = {}) =>
    deskPage(res, {
      status: options.status,
      title: 'Sign in',
      body: html`<div class="card"><h1>Sign in to the desk</h1><p>${options.intro ?? 'We will email you a link that signs you in. It works once, for 15 minutes.'}</p>${postForm(
        res,
        '/admin/sign-in',
        html`${textField({ name: 'email', label: 'Your email address', type: 'email', value: options.email, errors: options.errors, required: true, autocomplete: 'email' })}<button type="submit">Email me a link</button>`,
      )}</div>`,
    });

  router.get('/sign-in', (_req, res) => askForm(res));

  router.post('/sign-in', async (req, res) => {
    await takeAttempt(req, res);
    const email = str(bodyOf(req).email)?.trim() ?? '';
    try {
      // Over the address's budget: the same answer, and no email.
      if (await limits.takeAddress(email)) await requestSignInLink(deps, email, now());
    } catch (err) {
      if (isAppError(err) && err.code === 'invalid_input')
        return askForm(res, { email, errors: { email: 'Enter a valid email address, like name@example.org.' } });
      throw err;
    }
    deskPage(res, {
      title: 'Check your email',
      body: html`<div class="card"><h1>Check your email</h1><p role="status">If ${email} belongs to an editor, a sign-in link is on its way. It works once, for 15 minutes.</p><p class="muted">Nothing arriving? An owner can print a link with <code>broadsheet editors add</code> or add you on the Editors page.</p></div>`,
    });
  });

  router.get('/sign-in/:token', async (req, res) => {
    const link = await checkSignInLink(deps, param(req, 'token'), now());
    if (link.state !== 'valid') {
      const why =
        link.state === 'used'
          ? 'This sign-in link has been used already.'
          : link.state === 'expired'
            ? 'This sign-in link is out of date (links last 15 minutes).'
            : 'This sign-in link is not valid: it may have been cut short.';
      return askForm(res, { status: 410, intro: `${why} Ask for a new one:` });
    }
    deskPage(res, {
      title: 'Sign in',
      body: html`<div class="card"><h1>Sign in to the desk</h1><p>Sign in as <strong>${link.email}</strong>?</p>${postForm(res, `/admin/sign-in/${param(req, 'token')}`, html`<button type="submit">Sign in</button>`)}</div>`,
    });
  });

  router.post('/sign-in/:token', async (req, res) => {
    await takeAttempt(req, res);
    let session;
    try {
      session = await signInWithLink(deps, param(req, 'token'), metaOf(req), now());
    } catch (err) {
      if (isAppError(err) && err.code === 'gone')
        return askForm(res, { status: 410, intro: `${err.message[0]!.toUpperCase()}${err.message.slice(1)}. Ask for a new one:` });
      throw err;
    }
    // A session that was open in this browser (another editor's) ends here.
    await signOut(deps.db, readCookie(req, SESSION_COOKIE));
    setSessionCookie(req, res, deps.config, session);
    res.redirect(303, '/admin');
  });

  return router;
}

/** POST /admin/sign-out (behind the session and CSRF checks): ends this browser's session. */
export function signOutRoute(deps: AppDeps): express.Router {
  const router = express.Router();
  router.post('/sign-out', async (req, res) => {
    await signOut(deps.db, readCookie(req, SESSION_COOKIE));
    clearSessionCookie(req, res, deps.config);
    res.locals.editor = undefined; // the page after is a signed-out one: no bar of desk links
    deskPage(res.status(200), {
      title: 'Signed out',
      body: html`<div class="card"><h1>Signed out</h1><p role="status">You are signed out of the desk on this browser.</p><p><a href="/admin/sign-in">Sign in again</a></p></div>`,
    });
  });
  return router;
}
