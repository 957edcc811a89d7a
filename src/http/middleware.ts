import net from 'node:net';
import type { RequestHandler } from 'express';
import type { Config } from '../config';
import { AppError } from '../errors';

/**
 * Rules every request or answer of the HTTP app follows, whatever the route: applied once in
 * `app.ts` rather than remembered by each handler.
 */

/**
 * `nosniff` on everything (a JSON error or a CSV must never be run as a script or page), and
 * HSTS when the site is served over https: a browser that saw it once never falls back to
 * plain http for the links in our mail.
 */
export function securityHeaders(config: Pick<Config, 'publicUrl'>): RequestHandler {
  const httpsSite = config.publicUrl.startsWith('https:');
  return (req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (req.secure || httpsSite) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
    next();
  };
}

/** For answers that hold personal data or live state: never kept by a browser or a proxy cache. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

/** Runs `middleware` except for paths matching `pattern`. */
export function unless(pattern: RegExp, middleware: RequestHandler): RequestHandler {
  return (req, res, next) => (pattern.test(req.path) ? next() : middleware(req, res, next));
}

function hasNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 8 || value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([k, v]) => k.includes('\u0000') || hasNul(v, depth + 1));
}

/**
 * PostgreSQL text cannot hold a NUL byte: one that reached a query failed it as a 500. No
 * field of ours has a use for it, so any request carrying one in its path, query or parsed
 * body is refused here, before a route sees it.
 */
export const refuseNulBytes: RequestHandler = (req, _res, next) => {
  if (/%00/.test(req.originalUrl) || hasNul(req.query) || hasNul(req.body)) {
    return next(new AppError('invalid_input', 'the request contains a NUL character, which no field accepts'));
  }
  next();
};

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return plain === '::1' || (net.isIPv4(plain) && plain.startsWith('127.'));
}

/**
 * Answers only requests from this machine: the connection comes from loopback and so does the
 * client address a trusted proxy reports (a proxy on loopback forwarding the internet is not
 * "this machine"). Anything else gets a 404, as if the route did not exist.
 */
export const loopbackOnly: RequestHandler = (req, _res, next) => {
  if (isLoopback(req.socket.remoteAddress) && isLoopback(req.ip)) return next();
  next(new AppError('not_found', `nothing at ${req.method} ${req.path}`));
};
