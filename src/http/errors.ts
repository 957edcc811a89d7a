import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { isDatabaseUnavailable } from '../db/database';
import { AppError, isAppError } from '../errors';
import { errorPage, type ErrorPageKind } from './error-page';
import { sendPage } from './page';
import { requestLang, wantsJson } from './request';

/** Unknown paths answer like every other error: a status and a JSON message. */
export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError('not_found', `nothing at ${req.method} ${req.path}`));
};

/** What a 503 asks a client (a mail provider's one-click, a browser) to wait before trying again. */
export const RETRY_AFTER_SECONDS = 30;

export type Log = (msg: string, err: unknown) => void;
const consoleLog: Log = (m, e) => console.error(m, e);

/**
 * A path fit for a log line: a link token (confirm, preferences, unsubscribe, export, sign-in)
 * is cut, so that a log line is never a working link.
 */
export function loggablePath(req: Request): string {
  return req.originalUrl.replace(/\/(confirm|preferences|unsubscribe|export|sign-in)\/[^/?]+/g, '/$1/…').replace(/\?.*$/, '');
}

/**
 * Any thrown value as an AppError. AppErrors keep their code and message; body-parser's errors
 * (oversized body, malformed JSON) become 413 / 400 with a message; anything else is a bug:
 * logged here, answered as a bare 500 without a stack trace.
 */
function asAppError(req: Request, err: unknown, log: Log): AppError {
  if (isAppError(err)) return err;
  const e = err as { type?: unknown; status?: unknown; message?: unknown } | undefined;
  if (e?.type === 'entity.too.large') return new AppError('payload_too_large', 'the request body is too large');
  if (e?.type === 'entity.parse.failed') return new AppError('invalid_input', `malformed JSON: ${String(e.message)}`);
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new AppError('invalid_input', String(e.message ?? 'bad request'));
  if (isDatabaseUnavailable(err)) return new AppError('unavailable', 'the database is not answering; please try again in a minute');
  log(`error on ${req.method} ${loggablePath(req)}`, err);
  return new AppError('internal', 'something went wrong on our side');
}

export interface ErrorAnswer {
  format: 'json' | 'html';
  /** Which page an `invalid_input` gets: on a link's page, the fault is the link. */
  invalidInput?: ErrorPageKind;
  /** How an HTML error is laid out (the desk has its own frame); the reader layout by default. */
  render?: (res: Response, status: number, kind: ErrorPageKind, error: AppError) => void;
  log?: Log;
}

function pageKind(error: AppError, invalidInput: ErrorPageKind): ErrorPageKind {
  switch (error.code) {
    case 'invalid_input':
      return invalidInput;
    case 'not_found':
    case 'rate_limited':
    case 'forbidden':
    case 'unavailable':
      return error.code;
    default:
      return error.status >= 500 ? 'internal' : 'bad_request';
  }
}

/**
 * The one place an error becomes an HTTP answer: JSON `{ error: { code, message, details? } }`
 * for API clients, a page with the same status for browsers. Never a stack trace.
 */
export function sendError(req: Request, res: Response, err: unknown, answer: ErrorAnswer): void {
  const error = asAppError(req, err, answer.log ?? consoleLog);
  if (res.headersSent) return;
  // A service that is down for a moment says when to come back (RFC 9110 15.6.4).
  if (error.status === 503) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
  if (answer.format === 'html') {
    const kind = pageKind(error, answer.invalidInput ?? 'bad_request');
    if (answer.render) return answer.render(res, error.status, kind, error);
    const lang = requestLang(req);
    return sendPage(res, error.status, lang, errorPage(lang, kind));
  }
  const body: { error: { code: string; message: string; details?: unknown } } = { error: { code: error.code, message: error.message } };
  if (error.details !== undefined) body.error.details = error.details;
  // An error answer is about this one request: never cached, never sniffed into a page.
  res.status(error.status).set('Cache-Control', 'no-store').json(body);
}

/** The app's last middleware: whatever reached it is answered as JSON. */
export function errorHandler(log: Log = consoleLog): ErrorRequestHandler {
  return (err, req, res, _next) => sendError(req, res, err, { format: 'json', log });
}

/** A router's last middleware for routes that are pages: their errors are pages too. */
export function pageErrors(answer: Omit<ErrorAnswer, 'format'> = {}): ErrorRequestHandler {
  return (err, req, res, _next) => sendError(req, res, err, { ...answer, format: 'html' });
}

/**
 * A router's last middleware where one URL serves both browsers and API clients: JSON for a
 * JSON body or a client that prefers it, a page otherwise.
 */
export function jsonOrPageErrors(answer: Omit<ErrorAnswer, 'format'> = {}): ErrorRequestHandler {
  return (err, req, res, _next) => sendError(req, res, err, { ...answer, format: wantsJson(req) ? 'json' : 'html' });
}

type Handler = (req: Request, res: Response) => Promise<void>;

/**
 * An HTML route on a router whose other routes may answer JSON: whatever goes wrong becomes a
 * page with the right status.
 */
export function page(handler: Handler, answer: Omit<ErrorAnswer, 'format'> = {}) {
  return async (req: Request, res: Response, _next: NextFunction): Promise<void> => {
    try {
      await handler(req, res);
    } catch (err) {
      sendError(req, res, err, { ...answer, format: 'html' });
    }
  };
}
