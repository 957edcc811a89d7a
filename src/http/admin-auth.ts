import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * `Authorization: Bearer $ADMIN_TOKEN` on every admin API request. Without ADMIN_TOKEN the
 * API is closed (401 saying so) rather than open: a server started without it must not hand
 * out its subscriber list.
 *
 * Both sides are hashed before comparing so that timingSafeEqual sees equal lengths and the
 * comparison time says nothing about the token, not even its length.
 */
export function requireAdminToken(adminToken: string | undefined): RequestHandler {
  const expected = adminToken ? digest(adminToken) : undefined;
  return (req, res, next) => {
    res.setHeader('WWW-Authenticate', 'Bearer realm="broadsheet"');
    if (!expected) {
      return next(new AppError('unauthorized', 'the admin API is disabled: ADMIN_TOKEN is not configured on the server'));
    }
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return next(new AppError('unauthorized', 'missing admin token: send "Authorization: Bearer $ADMIN_TOKEN"'));
    if (!timingSafeEqual(digest(match[1]!), expected)) return next(new AppError('unauthorized', 'invalid admin token'));
    res.removeHeader('WWW-Authenticate');
    next();
  };
}
