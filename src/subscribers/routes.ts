import express, { type NextFunction, type Request, type Response } from 'express';
import type { AppDeps } from '../app';
import type { List } from '../db/schema';
import { isAppError } from '../errors';
import { sendPage, type PageView } from '../http/page';
import { pickLanguage, t, type Lang } from '../i18n';
import { getListBySlug } from '../lists/repository';
import * as pages from './pages';
import { createSubscribeLimits } from './rate-limits';
import type { InputField } from './input';
import { deleteMe, exportMyData, requestDataLink } from './my-data';
import { changePreferences, pause, resume, unsubscribe } from './preferences';
import { confirm, confirmLinkState, openToken, requestPreferencesLink, resendConfirmation, subscribe, type RequestMeta, type SubscriberDeps } from './service';
import { signToken, type TokenPurpose } from './tokens';

/**
 * The reader's side of Broadsheet:
 *
 *   GET  /lists/:list, /lists/:list/subscribe   subscribe form
 *   POST /lists/:list/subscribe                 form-encoded (page) or JSON {email, name?, cadence?}
 *   GET  /lists/:list/preferences               "email me a link to my preferences"
 *   POST /lists/:list/preferences               sends it, if the address is known (never says)
 *   GET  /confirm/:token                        page with a confirm button
 *   POST /confirm/:token                        confirms (idempotent)
 *   POST /confirm/:token/resend                 a new link, from an expired one
 *   GET  /preferences/:token                    preferences page
 *   POST /preferences[/pause|/resume|/export|/delete]   token in the form body; export emails a data link
 *   GET  /export/:token                         page with a download button (link valid one hour)
 *   POST /export/:token                         the reader's data as a JSON download
 *   GET  /unsubscribe/:token                    page with one button
 *   POST /unsubscribe/:token                    unsubscribes; RFC 8058 one-click answers 200 text
 *
 * A GET never changes anything: mail scanners follow links, and a link must not act by
 * being fetched. Errors on pages are pages (right status, no stack trace); the JSON
 * subscribe API answers errors as `{ error: { code, message } }` via the app's handler.
 */
export function subscriberRoutes(deps: AppDeps): express.Router {
  const limits = createSubscribeLimits(deps.redis, {
    subscribeRatePerIp: deps.config.subscribeRatePerIp,
    // The queues' prefix keeps one deployment's (or one test's) counters apart from another's.
    keyPrefix: deps.queues.prefix,
  });
  const service: SubscriberDeps = { db: deps.db, config: deps.config, queues: deps.queues, limits };
  const router = express.Router();
  const token = (purpose: TokenPurpose, subscriptionId: string) => signToken(deps.config.secretKeys, purpose, subscriptionId);

  // --- Subscribe ----------------------------------------------------------------------

  const showSubscribeForm = page(async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'list'));
    sendPage(res, 200, langOf(list), pages.subscribeForm(langOf(list), list));
  });
  router.get('/lists/:list', showSubscribeForm);
  router.get('/lists/:list/subscribe', showSubscribeForm);

  router.post('/lists/:list/subscribe', async (req, res, next) => {
    const json = wantsJson(req);
    const body = bodyOf(req);
    let list: List | undefined;
    try {
      if (!(await takeClient(req, res, json))) return;
      // A bot that fills the hidden field is answered like everyone else, and nothing happens.
      if (typeof body.website === 'string' && body.website !== '') {
        list = await getListBySlug(deps.db, param(req, 'list'));
      } else {
        list = await subscribe(
          service,
          param(req, 'list'),
          { email: body.email, name: body.name, cadence: body.cadence },
          { ...metaOf(req), source: req.is('application/json') ? 'api' : 'form' },
        );
      }
    } catch (err) {
      if (json) return next(err);
      const field = fieldOf(err);
      if (field) {
        list ??= await getListBySlug(deps.db, param(req, 'list')).catch(() => undefined);
        if (list) {
          const values = { email: str(body.email), name: str(body.name), cadence: str(body.cadence) };
          return sendPage(res, 400, langOf(list), pages.subscribeForm(langOf(list), list, { values, error: field }));
        }
      }
      return renderError(req, res, err);
    }
    // The same answer for a new, pending or active address, so it cannot be used to test one.
    if (json) res.status(202).json({ ok: true, message: t(langOf(list), 'subscribe.done.api', { list: list.name }) });
    else sendPage(res, 200, langOf(list), pages.subscribeDone(langOf(list), list));
  });

  // --- Asking for a preferences link ---------------------------------------------------

  router.get(
    '/lists/:list/preferences',
    page(async (req, res) => {
      const list = await getListBySlug(deps.db, param(req, 'list'));
      sendPage(res, 200, langOf(list), pages.preferencesLinkForm(langOf(list), list));
    }),
  );

  router.post(
    '/lists/:list/preferences',
    page(async (req, res) => {
      const list = await getListBySlug(deps.db, param(req, 'list'));
      const lang = langOf(list);
      if (!(await takeClient(req, res, false))) return;
      const email = bodyOf(req).email;
      try {
        await requestPreferencesLink(service, list.slug, email);
      } catch (err) {
        const field = fieldOf(err);
        if (!field) throw err;
        return sendPage(res, 400, lang, pages.preferencesLinkForm(lang, list, { values: { email: str(email) }, error: field }));
      }
      sendPage(res, 200, lang, pages.preferencesLinkSent(lang, list));
    }),
  );

  // --- Confirm ------------------------------------------------------------------------

  router.get(
    '/confirm/:token',
    page(async (req, res) => {
      const link = await openToken(deps, param(req, 'token'), 'confirm');
      const { list, subscription } = link;
      const lang = langOf(list);
      if (subscription.status === 'active') {
        // Only a link still in date is worth a fresh preferences link.
        const preferences = link.state === 'valid' ? token('preferences', subscription.id) : undefined;
        return sendPage(res, 200, lang, pages.confirmDone(lang, list, subscription, preferences));
      }
      const state = await confirmLinkState(deps.db, subscription, link.state === 'valid' ? link.issuedAt : null);
      if (state === 'inactive') return sendPage(res, 410, lang, pages.confirmInactive(lang, list));
      if (link.state === 'expired' || state === 'stale') return sendPage(res, 410, lang, pages.confirmExpired(lang, list, param(req, 'token')));
      sendPage(res, 200, lang, pages.confirmAsk(lang, list, param(req, 'token')));
    }),
  );

  router.post(
    '/confirm/:token',
    page(async (req, res) => {
      const link = await openToken(deps, param(req, 'token'), 'confirm');
      const lang = langOf(link.list);
      if (link.state === 'expired') return sendPage(res, 410, lang, pages.confirmExpired(lang, link.list, param(req, 'token')));
      const { outcome, subscription } = await confirm(service, link.subscription.id, link.issuedAt, metaOf(req));
      if (outcome === 'stale') return sendPage(res, 410, lang, pages.confirmExpired(lang, link.list, param(req, 'token')));
      if (outcome === 'inactive') return sendPage(res, 410, lang, pages.confirmInactive(lang, link.list));
      sendPage(res, 200, lang, pages.confirmDone(lang, link.list, subscription, token('preferences', subscription.id)));
    }),
  );

  router.post(
    '/confirm/:token/resend',
    page(async (req, res) => {
      // Expired links are welcome here: asking for a new one is what they are for.
      const link = await openToken(deps, param(req, 'token'), 'confirm');
      if (!(await takeClient(req, res, false))) return;
      await resendConfirmation(service, link.subscription.id);
      sendPage(res, 200, langOf(link.list), pages.confirmResent(langOf(link.list), link.list));
    }),
  );

  // --- Preferences --------------------------------------------------------------------

  /**
   * Opens a preferences token (from a GET's URL or a POST's form) or an export token; an
   * expired one gets its page, which says how to get a fresh one.
   */
  async function openFresh(res: Response, value: unknown, purpose: 'preferences' | 'export') {
    const link = await openToken(deps, value, purpose);
    if (link.state === 'expired') {
      const lang = langOf(link.list);
      sendPage(res, 410, lang, purpose === 'export' ? pages.exportExpired(lang, link.list) : pages.preferencesExpired(lang, link.list));
      return undefined;
    }
    return link;
  }
  const openPreferences = (res: Response, value: unknown) => openFresh(res, value, 'preferences');

  function showPreferences(res: Response, status: number, subscriptionId: string, tokenValue: string, options: Parameters<typeof pages.preferences>[4] = {}) {
    return openToken(deps, tokenValue, 'preferences').then((fresh) => {
      const lang = langOf(fresh.list);
      sendPage(res, status, lang, pages.preferences(lang, fresh, tokenValue, token('unsubscribe', subscriptionId), options));
    });
  }

  router.get(
    '/preferences/:token',
    page(async (req, res) => {
      const link = await openPreferences(res, param(req, 'token'));
      if (!link) return;
      const lang = langOf(link.list);
      sendPage(res, 200, lang, pages.preferences(lang, link, param(req, 'token'), token('unsubscribe', link.subscription.id)));
    }),
  );

  router.post(
    '/preferences',
    page(async (req, res) => {
      const body = bodyOf(req);
      const link = await openPreferences(res, body.token);
      if (!link) return;
      const tokenValue = String(body.token);
      // Checkboxes name the sections the reader wants; what is stored is what they don't. A
      // browser sends nothing for a box left unticked, so the page's form always sends an empty
      // `sections` too: a request without the field at all did not show the sections, and
      // leaves them as they are rather than excluding every one.
      const wanted = body.sections === undefined ? undefined : new Set(arrayOf(body.sections));
      try {
        await changePreferences(
          service,
          link.subscription.id,
          {
            name: body.name as string | undefined,
            cadence: body.cadence as 'weekly' | 'monthly' | undefined,
            excludedSections: wanted && link.list.sections.map((s) => s.id).filter((id) => !wanted.has(id)),
          },
          metaOf(req),
        );
      } catch (err) {
        const field = fieldOf(err);
        if (!field) throw err;
        return showPreferences(res, 400, link.subscription.id, tokenValue, { error: field });
      }
      await showPreferences(res, 200, link.subscription.id, tokenValue, { notice: 'saved' });
    }),
  );

  for (const action of ['pause', 'resume'] as const) {
    router.post(
      `/preferences/${action}`,
      page(async (req, res) => {
        const body = bodyOf(req);
        const link = await openPreferences(res, body.token);
        if (!link) return;
        await (action === 'pause' ? pause : resume)(service, link.subscription.id, metaOf(req));
        await showPreferences(res, 200, link.subscription.id, String(body.token), { notice: action === 'pause' ? 'paused' : 'resumed' });
      }),
    );
  }

  router.post(
    '/preferences/export',
    page(async (req, res) => {
      const link = await openPreferences(res, bodyOf(req).token);
      if (!link) return;
      if (!(await takeClient(req, res, false))) return;
      await requestDataLink(service, link.subscription.id);
      await showPreferences(res, 200, link.subscription.id, String(bodyOf(req).token), { notice: 'data_sent' });
    }),
  );

  // --- Data export (from the short-lived link that "email me my data link" sent) -------

  router.get(
    '/export/:token',
    page(async (req, res) => {
      const link = await openFresh(res, param(req, 'token'), 'export');
      if (!link) return;
      sendPage(res, 200, langOf(link.list), pages.exportAsk(langOf(link.list), link.list, param(req, 'token')));
    }),
  );

  router.post(
    '/export/:token',
    page(async (req, res) => {
      const link = await openFresh(res, param(req, 'token'), 'export');
      if (!link) return;
      const data = await exportMyData(service, link.subscription.id, metaOf(req));
      res
        .status(200)
        .set({ 'Content-Disposition': `attachment; filename="${link.list.slug}-my-data.json"`, 'Cache-Control': 'no-store' })
        .type('application/json')
        .send(JSON.stringify(data, null, 2));
    }),
  );

  router.post(
    '/preferences/delete',
    page(async (req, res) => {
      const body = bodyOf(req);
      const link = await openPreferences(res, body.token);
      if (!link) return;
      const lang = langOf(link.list);
      // Two steps, both POSTs: the first only asks whether the reader means it.
      if (body.confirm !== 'yes') return sendPage(res, 200, lang, pages.deleteAsk(lang, link.list, String(body.token)));
      await deleteMe(service, link.subscription.id);
      sendPage(res, 200, lang, pages.deleteDone(lang, link.list));
    }),
  );

  // --- Unsubscribe --------------------------------------------------------------------

  router.get(
    '/unsubscribe/:token',
    page(async (req, res) => {
      const { list, subscription } = await openToken(deps, param(req, 'token'), 'unsubscribe');
      const lang = langOf(list);
      if (subscription.status !== 'active' && subscription.status !== 'pending') {
        return sendPage(res, 200, lang, pages.unsubscribeDone(lang, list));
      }
      sendPage(res, 200, lang, pages.unsubscribeAsk(lang, list, param(req, 'token'), token('preferences', subscription.id)));
    }),
  );

  router.post(
    '/unsubscribe/:token',
    page(async (req, res) => {
      // The token in the URL is the whole authorisation (RFC 8058): no cookie, no CSRF token,
      // and no body either: whatever arrives (malformed, oversized, multipart) the reader is
      // unsubscribed. The app leaves this body unparsed; only its start is looked at, to
      // choose between the one-click answer and the page.
      const oneClick = await looksLikeOneClick(req);
      const { list, subscription } = await openToken(deps, param(req, 'token'), 'unsubscribe');
      await unsubscribe(service, subscription.id, { ...metaOf(req), method: oneClick ? 'one-click' : 'page' });
      const lang = langOf(list);
      if (oneClick) {
        res.status(200).type('text/plain; charset=utf-8').set('Cache-Control', 'no-store').send(t(lang, 'unsub.oneclick'));
        return;
      }
      sendPage(res, 200, lang, pages.unsubscribeDone(lang, list));
    }),
  );

  return router;

  // --- Helpers ------------------------------------------------------------------------

  /** Takes one request from the client's budget, or answers 429 and returns false. */
  async function takeClient(req: Request, res: Response, json: boolean): Promise<boolean> {
    const verdict = await limits.takeClient(req.ip);
    if (verdict.ok) return true;
    res.set('Retry-After', String(verdict.retryAfterSeconds));
    if (json) {
      res.status(429).json({ error: { code: 'rate_limited', message: `too many requests; try again in ${verdict.retryAfterSeconds} s` } });
    } else {
      sendPage(res, 429, requestLang(req), pages.errorPage(requestLang(req), 'rate_limited'));
    }
    return false;
  }
}

type Handler = (req: Request, res: Response) => Promise<void>;

/** An HTML route: whatever goes wrong becomes a friendly page with the right status. */
function page(handler: Handler) {
  return async (req: Request, res: Response, _next: NextFunction) => {
    try {
      await handler(req, res);
    } catch (err) {
      renderError(req, res, err);
    }
  };
}

function renderError(req: Request, res: Response, err: unknown): void {
  if (res.headersSent) return;
  const lang = requestLang(req);
  let status = 500;
  let kind: pages.ErrorPage = 'internal';
  if (isAppError(err)) {
    status = err.status;
    if (err.code === 'invalid_input') kind = isTokenRoute(req) ? 'invalid_link' : 'bad_request';
    else if (err.code === 'not_found') kind = 'not_found';
    else if (err.code === 'rate_limited') kind = 'rate_limited';
    else if (status >= 500) kind = 'internal';
    else kind = 'bad_request';
  }
  // Logged without the token: a log line must not be a working link.
  if (status >= 500) console.error(`error on ${req.method} ${req.path.replace(/\/(confirm|preferences|unsubscribe|export)\.[^/]*/g, '/$1.…')}`, err);
  const view: PageView = pages.errorPage(lang, kind);
  sendPage(res, status, lang, view);
}

function isTokenRoute(req: Request): boolean {
  return /^\/(confirm|preferences|unsubscribe|export)(\/|$)/.test(req.path);
}

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

function langOf(list: Pick<List, 'language'>): Lang {
  return pickLanguage(list.language);
}

/** For pages without a list (an unknown list, a bad link): the browser's preference. */
function requestLang(req: Request): Lang {
  return pickLanguage(req.acceptsLanguages('en', 'zh-CN', 'zh') || 'en');
}

function wantsJson(req: Request): boolean {
  return Boolean(req.is('application/json')) || req.accepts(['html', 'json']) === 'json';
}

function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

function param(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}

function metaOf(req: Request): RequestMeta {
  return { ip: req.ip, userAgent: req.get('user-agent') };
}

function fieldOf(err: unknown): InputField | undefined {
  if (!isAppError(err) || err.code !== 'invalid_input') return undefined;
  const field = (err.details as { field?: unknown } | undefined)?.field;
  return field === 'email' || field === 'name' || field === 'cadence' ? field : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function arrayOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

