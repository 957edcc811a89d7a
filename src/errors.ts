/**
 * The one error type of Broadsheet. Code raises `AppError` for anything a user or a caller
 * did wrong (bad input, unknown list, expired token); the HTTP error middleware turns it into
 * a status and `{ error: { code, message } }`, and the CLI into one line and an exit code.
 * Anything that is not an AppError is a bug and is reported as `internal` without details.
 */
export type ErrorCode =
  | 'invalid_input' // 400
  | 'invalid_issue' // 400 (details: the list of problems)
  | 'unauthorized' // 401
  | 'forbidden' // 403
  | 'not_found' // 404
  | 'conflict' // 409
  | 'gone' // 410
  | 'payload_too_large' // 413
  | 'rate_limited' // 429
  | 'unavailable' // 503
  | 'internal'; // 500

const STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  invalid_issue: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return STATUS[this.code];
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
