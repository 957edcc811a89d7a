import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, isAppError } from '../errors';

/** Unknown paths answer like every other error: a status and a JSON message. */
export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError('not_found', `nothing at ${req.method} ${req.path}`));
};

/**
 * The one place an error becomes an HTTP answer. AppErrors keep their code and message;
 * body-parser's errors (oversized body, malformed JSON) become 413 / 400 with a message;
 * anything else is a bug: logged here, answered as a bare 500 without a stack trace.
 * Pages that want HTML errors render them themselves before reaching this.
 */
export function errorHandler(log: (msg: string, err: unknown) => void = (m, e) => console.error(m, e)): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let appError: AppError;
    if (isAppError(err)) {
      appError = err;
    } else if (err?.type === 'entity.too.large') {
      appError = new AppError('payload_too_large', 'the request body is too large');
    } else if (err?.type === 'entity.parse.failed') {
      appError = new AppError('invalid_input', `malformed JSON: ${String(err.message)}`);
    } else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      appError = new AppError('invalid_input', String(err.message ?? 'bad request'));
    } else {
      log(`error on ${req.method} ${req.originalUrl}`, err);
      appError = new AppError('internal', 'something went wrong on our side');
    }
    if (res.headersSent) return;
    const body: { error: { code: string; message: string; details?: unknown } } = {
      error: { code: appError.code, message: appError.message },
    };
    if (appError.details !== undefined) body.error.details = appError.details;
    // An error answer is about this one request: never cached, never sniffed into a page.
    res.status(appError.status).set('Cache-Control', 'no-store').json(body);
  };
}
