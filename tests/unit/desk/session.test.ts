import type { Request, Response } from 'express';
import { clearSessionCookie, readCookie, setSessionCookie } from '../../../src/desk/session';
import { csrfMatches, csrfToken } from '../../../src/editors/service';

function fakeReq(secure: boolean, cookie?: string): Request {
  return { secure, get: (name: string) => (name.toLowerCase() === 'cookie' ? cookie : undefined) } as unknown as Request;
}

function fakeRes(): Response & { cookies: string[] } {
  const cookies: string[] = [];
  return { cookies, append: (_name: string, value: string) => cookies.push(value) } as unknown as Response & { cookies: string[] };
}

test('the session cookie is HttpOnly and SameSite=Lax, scoped to /admin, and Secure under https', () => {
  const plain = fakeRes();
  setSessionCookie(fakeReq(false), plain, { publicUrl: 'http://localhost:3000' }, { token: 'abc' });
  expect(plain.cookies).toEqual(['broadsheet_desk=abc; Path=/admin; HttpOnly; SameSite=Lax']);

  const behindProxy = fakeRes();
  setSessionCookie(fakeReq(false), behindProxy, { publicUrl: 'https://news.example.org' }, { token: 'abc' });
  expect(behindProxy.cookies).toEqual(['broadsheet_desk=abc; Path=/admin; HttpOnly; SameSite=Lax; Secure']);

  const direct = fakeRes();
  clearSessionCookie(fakeReq(true), direct, { publicUrl: 'http://localhost:3000' });
  expect(direct.cookies).toEqual(['broadsheet_desk=; Path=/admin; HttpOnly; SameSite=Lax; Max-Age=0; Secure']);
});

test('a cookie is read by its exact name', () => {
  expect(readCookie(fakeReq(false, 'a=1; broadsheet_desk_pre=2; broadsheet_desk=3'), 'broadsheet_desk')).toBe('3');
  expect(readCookie(fakeReq(false, 'xbroadsheet_desk=3'), 'broadsheet_desk')).toBeUndefined();
  expect(readCookie(fakeReq(false), 'broadsheet_desk')).toBeUndefined();
});

test('a CSRF token belongs to one session and one key, and anything else is refused', () => {
  const keys = ['k'.repeat(32)];
  const token = csrfToken(keys, 'session-1');
  expect(csrfMatches(keys, 'session-1', token)).toBe(true);
  expect(csrfMatches(keys, 'session-2', token)).toBe(false);
  expect(csrfMatches(['j'.repeat(32)], 'session-1', token)).toBe(false);
  expect(csrfMatches(keys, 'session-1', undefined)).toBe(false);
  expect(csrfMatches(keys, 'session-1', [token])).toBe(false);
  expect(csrfMatches(keys, 'session-1', token.slice(1))).toBe(false);
});
