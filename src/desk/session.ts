import { randomBytes } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../config';
import type { Db } from '../db/database';
import { csrfMatches, csrfToken, openSession, type EditorIdentity, type NewSession } from '../editors/service';
import { AppError } from '../errors';
import { bodyOf } from '../http/request';

/**
 * The desk's session cookie and the checks every desk request passes: a session (or a sign-in
 * page), then on every POST the session's CSRF token. What a handler gets: `editorOf(res)`
 * and `csrfOf(res)`.
 */

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** The signed-in editor, on every desk route after `requireEditor`. */
      editor?: EditorIdentity;
      /** The session's CSRF token, for the forms of the page being made. */
      csrf?: string;
      /** The session's id (for signing out other sessions, never shown). */
      sessionId?: string;
    }
  }
}

/**
 * Scoped to /admin: the reader's pages never carry it. Not `__Host-` (that needs Path=/); the
 * path keeps it off every request that is not the desk's.
 */
export const SESSION_COOKIE = 'broadsheet_desk';
const COOKIE_PATH = '/admin';

export function readCookie(req: Request, name: string): string | undefined {
  const header = req.get('cookie');
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

function secure(req: Request, config: Pick<Config, 'publicUrl'>): boolean {
  return req.secure || config.publicUrl.startsWith('https:');
}

/** HttpOnly (no script reads it), SameSite=Lax (no cross-site POST carries it), Secure under https. */
export function setSessionCookie(req: Request, res: Response, config: Pick<Config, 'publicUrl'>, session: Pick<NewSession, 'token'>): void {
  // No Max-Age: a browser session cookie; the server's expiry is the one that counts.
  const attributes = [`${SESSION_COOKIE}=${session.token}`, `Path=${COOKIE_PATH}`, 'HttpOnly', 'SameSite=Lax'];
  if (secure(req, config)) attributes.push('Secure');
  res.append('Set-Cookie', attributes.join('; '));
}

export function clearSessionCookie(req: Request, res: Response, config: Pick<Config, 'publicUrl'>): void {
  const attributes = [`${SESSION_COOKIE}=`, `Path=${COOKIE_PATH}`, 'HttpOnly', 'SameSite=Lax', 'Max-Age=0'];
  if (secure(req, config)) attributes.push('Secure');
  res.append('Set-Cookie', attributes.join('; '));
}

/**
 * Every desk route after this one needs a signed-in editor. A browser asking for a page is
 * sent to sign in (303, and back afterwards); anything else (a form POST, a script's request)
 * is refused with 401.
 */
export function requireEditor(deps: { db: Db; config: Pick<Config, 'secretKeys' | 'publicUrl'>; clock?: () => Date }): RequestHandler {
  return async (req, res, next) => {
    const session = await openSession(deps.db, readCookie(req, SESSION_COOKIE), deps.clock?.() ?? new Date());
    if (!session) {
      if (req.method === 'GET' && req.accepts(['html', 'json']) === 'html') return res.redirect(303, '/admin/sign-in');
      return next(new AppError('unauthorized', 'sign in to the desk first'));
    }
    res.locals.editor = session.editor;
    res.locals.sessionId = session.id;
    res.locals.csrf = csrfToken(deps.config.secretKeys, session.id);
    next();
  };
}

/** The cookie that ties the sign-in forms (before any session) to this browser. */
const PRE_SESSION_COOKIE = 'broadsheet_desk_pre';

/**
 * The sign-in pages' CSRF token, before there is a session: a random cookie of this browser,
 * and the forms carry its HMAC (double submit). A page on another site can neither read the
 * cookie nor compute the token, so it cannot sign a browser in to an account of its choosing.
 */
export function preSessionCsrf(config: Pick<Config, 'secretKeys' | 'publicUrl'>): RequestHandler {
  return (req, res, next) => {
    let value = readCookie(req, PRE_SESSION_COOKIE);
    if (!value || !/^[A-Za-z0-9_-]{43}$/.test(value)) {
      value = randomBytes(32).toString('base64url');
      const attributes = [`${PRE_SESSION_COOKIE}=${value}`, `Path=${COOKIE_PATH}`, 'HttpOnly', 'SameSite=Lax'];
      if (secure(req, config)) attributes.push('Secure');
      res.append('Set-Cookie', attributes.join('; '));
    }
    res.locals.sessionId = `pre:${value}`;
    res.locals.csrf = csrfToken(config.secretKeys, res.locals.sessionId);
    next();
  };
}

/**
 * Every POST (and PUT, PATCH, DELETE) of a signed-in editor carries the session's CSRF token:
 * the `_csrf` field of a form, or an `X-CSRF-Token` header from a script. A multipart upload is
 * not parsed before the route, so it may carry it in the query (`?_csrf=`) instead.
 */
export function requireCsrf(config: Pick<Config, 'secretKeys'>): RequestHandler {
  return (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const given = bodyOf(req)._csrf ?? req.get('x-csrf-token') ?? (req.is('multipart/form-data') ? req.query._csrf : undefined);
    if (!res.locals.sessionId || !csrfMatches(config.secretKeys, res.locals.sessionId, given)) {
      return next(new AppError('forbidden', 'this form is out of date or came from another site: reload the page and try again'));
    }
    next();
  };
}

/** Owners only: editors, list settings. */
export const requireOwner: RequestHandler = (_req, res, next) => {
  if (res.locals.editor?.role !== 'owner') return next(new AppError('forbidden', 'only an owner can do this'));
  next();
};

/** The signed-in editor of a desk request (every desk handler has one: `requireEditor` ran). */
export function editorOf(res: Response): EditorIdentity {
  const editor = res.locals.editor;
  if (!editor) throw new AppError('unauthorized', 'sign in to the desk first');
  return editor;
}

export function csrfOf(res: Response): string {
  return res.locals.csrf ?? '';
}
