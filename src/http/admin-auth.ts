import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /**
       * Who is calling the admin API, named on the events of what they change: an editor's
       * address for their own token, 'api' for ADMIN_TOKEN.
       */
      actor?: string;
    }
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Finds the editor a bearer token belongs to (their address), if it is one of theirs. */
export type EditorTokenLookup = (bearer: string) => Promise<string | undefined>;

/**
 * `Authorization: Bearer TOKEN` on every admin API request: ADMIN_TOKEN, or an editor's own
 * token made on the desk. Without ADMIN_TOKEN only editors' tokens open the API; with neither
 * it answers 401 saying ADMIN_TOKEN is not configured, rather than being open: a server started
 * without it must not hand out its subscriber list.
 *
 * ADMIN_TOKEN is compared by hash, so that timingSafeEqual sees equal lengths and the time taken
 * says nothing about the token, not even its length; editors' tokens are looked up by hash.
 */
export function requireAdminToken(adminToken: string | undefined, editorToken?: EditorTokenLookup): RequestHandler {
  const expected = adminToken ? digest(adminToken) : undefined;
  return async (req, res, next) => {
    res.setHeader('WWW-Authenticate', 'Bearer realm="broadsheet"');
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const bearer = match?.[1];
    if (bearer !== undefined && expected && timingSafeEqual(digest(bearer), expected)) {
      res.locals.actor = 'api';
    } else {
      const editor = bearer !== undefined && editorToken ? await editorToken(bearer) : undefined;
      if (editor) {
        res.locals.actor = editor;
      } else if (!expected) {
        return next(new AppError('unauthorized', "the admin API is disabled: ADMIN_TOKEN is not configured on the server (or send an editor's API token)"));
      } else if (bearer === undefined) {
        return next(new AppError('unauthorized', 'missing admin token: send "Authorization: Bearer $ADMIN_TOKEN"'));
      } else {
        return next(new AppError('unauthorized', 'invalid admin token'));
      }
    }
    res.removeHeader('WWW-Authenticate');
    next();
  };
}
