import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { isDatabaseUnavailable } from '../db/database';
import { AppError, isAppError } from '../errors';
import { log as appLog } from '../log';
import { errorPage, type ErrorPageKind } from './error-page';
import { sendPage } from './page';
import { requestLang, wantsJson } from './request';

/** Unknown paths answer like every other error: a status and a JSON message. */
export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError('not_found', `nothing at ${req.method} ${req.path}`));
};

/** What a 503 asks a client (a mail provider's one-click, a browser) to wait before trying again. */
export const RETRY_AFTER_SECONDS = 30;

// `error`, not pino's `err`: pino's serializer for `err` would rewrite the already cleaned object.
export type Log = (fields: { method: string; path: string; error: LoggedError }, msg: string) => void;
const pinoLog: Log = (fields, msg) => appLog.error(fields, msg);

/** The path segments after which a link's token comes: the reader's links and the desk's sign-in link. */
const TOKEN_AFTER = /\/(confirm|preferences|unsubscribe|export|sign-in)\/[^/?#]+/g;

/**
 * A path fit for a log line: the query string is dropped (the bounce webhook's `?secret=`, an
 * asset's `?key=`) and a link's token (confirm, preferences, unsubscribe, export, sign-in) is
 * cut, so that a log line is never a working link or a credential.
 */
export function loggablePath(req: Pick<Request, 'originalUrl'>): string {
  return req.originalUrl.replace(/[?#].*$/s, '').replace(TOKEN_AFTER, '/$1/…');
}

/**
 * What in a request must not be repeated in a log line: the values of its query string, its
 * link token, its bearer token, in the forms they may take in an error's text (as sent, and
 * decoded). Short values are left alone (replacing "1" everywhere would garble the line).
 */
function secretsOf(req: Request): string[] {
  const raw: string[] = [];
  for (const m of req.originalUrl.replace(/[?#].*$/s, '').matchAll(TOKEN_AFTER)) raw.push(m[0].slice(m[1]!.length + 2));
  const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1).replace(/#.*$/s, '') : '';
  for (const pair of query.split('&')) raw.push(pair.slice(pair.indexOf('=') + 1));
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
  if (bearer) raw.push(bearer);
  const all = new Set<string>();
  for (const value of raw) {
    all.add(value);
    try {
      all.add(decodeURIComponent(value.replace(/\+/g, ' ')));
    } catch {
      // not percent-encoded text: the raw form is enough
    }
  }
  return [...all].filter((v) => v.length >= 6).sort((a, b) => b.length - a.length);
}

/** An error as a log line holds it: its kind, message, stack and code, with the request's secrets cut out. */
export interface LoggedError {
  type: string;
  message: string;
  stack?: string;
  code?: string;
}

function loggedError(err: unknown, secrets: string[]): LoggedError {
  const scrub = (text: string) => secrets.reduce((t, secret) => t.split(secret).join('[redacted]'), text);
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  return {
    type: e.name,
    message: scrub(e.message),
    ...(e.stack ? { stack: scrub(e.stack) } : {}),
    ...(typeof code === 'string' ? { code } : {}),
  };
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
  // One structured line, like every other log line, and nothing in it the request held as a
  // secret: an error's own text may quote a URL or a value it was given.
  log({ method: req.method, path: loggablePath(req), error: loggedError(err, secretsOf(req)) }, `error on ${req.method} ${loggablePath(req)}`);
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
  const error = asAppError(req, err, answer.log ?? pinoLog);
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
export function errorHandler(log: Log = pinoLog): ErrorRequestHandler {
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
