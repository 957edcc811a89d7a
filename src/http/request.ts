import type { Request } from 'express';
import type { List } from '../db/schema';
import { pickLanguage, type Lang } from '../i18n';

/**
 * What every router reads off a request, in one place: the parsed body, a path parameter,
 * the language to answer in, JSON or a page, and the client facts an event records.
 */

/** The parsed body as a record; anything else (none, an array, a string) reads as empty. */
export function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

/** A path parameter as a string ('' when absent), so handlers never see `undefined`. */
export function param(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}

/** The catalogue language of a list's pages. */
export function listLang(list: Pick<List, 'language'>): Lang {
  return pickLanguage(list.language);
}

/** For pages without a list (an unknown list, a bad link): the browser's preference. */
export function requestLang(req: Request): Lang {
  return pickLanguage(req.acceptsLanguages('en', 'zh-CN', 'zh') || 'en');
}

/** A JSON body, or a client that prefers JSON to a page, gets JSON back (errors included). */
export function wantsJson(req: Request): boolean {
  return Boolean(req.is('application/json')) || req.accepts(['html', 'json']) === 'json';
}

/** The client facts recorded with a consent or a change: address and user agent. */
export function metaOf(req: Request): { ip: string | undefined; userAgent: string | undefined } {
  return { ip: req.ip, userAgent: req.get('user-agent') };
}

/** A form or JSON field that must be a string, or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A repeated form field (checkboxes): one value arrives as a string, several as an array. */
export function arrayOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
