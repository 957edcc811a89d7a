import { signToken, subscriberLink, TOKEN_LIFETIME_MS, verifyToken } from '../../../src/subscribers/tokens';

const KEY = 'first-secret-key-0123456789';
const OLD = 'older-secret-key-9876543210';
const ID = '3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b';
const DAY = 24 * 60 * 60 * 1000;

test('a token names purpose, subscription and expiry, is URL-safe and round-trips', () => {
  const now = new Date('2026-03-01T10:00:00Z');
  const token = signToken([KEY], 'confirm', ID, now);
  expect(token).toMatch(/^confirm\.[A-Za-z0-9_-]{22}\.[0-9a-z]+\.[A-Za-z0-9_-]{43}$/);
  expect(encodeURIComponent(token)).toBe(token);
  expect(verifyToken([KEY], token, 'confirm', now)).toEqual({
    ok: true,
    purpose: 'confirm',
    subscriptionId: ID,
    expiresAt: new Date(now.getTime() + 7 * DAY),
    issuedAt: now,
  });
});

test('confirmation links expire after 7 days, preference links after a year, data links after an hour, sign-in links after 15 minutes, unsubscribe links never', () => {
  const now = new Date('2026-03-01T10:00:00Z');
  const later = (ms: number) => new Date(now.getTime() + ms);
  const confirm = signToken([KEY], 'confirm', ID, now);
  expect(verifyToken([KEY], confirm, 'confirm', later(7 * DAY - 1)).ok).toBe(true);
  expect(verifyToken([KEY], confirm, 'confirm', later(7 * DAY))).toEqual({
    ok: false,
    reason: 'expired',
    subscriptionId: ID,
    expiresAt: later(7 * DAY),
  });
  const prefs = signToken([KEY], 'preferences', ID, now);
  expect(verifyToken([KEY], prefs, 'preferences', later(364 * DAY)).ok).toBe(true);
  expect(verifyToken([KEY], prefs, 'preferences', later(366 * DAY))).toMatchObject({ ok: false, reason: 'expired' });
  const unsub = signToken([KEY], 'unsubscribe', ID, now);
  expect(unsub.split('.')[2]).toBe('0');
  expect(verifyToken([KEY], unsub, 'unsubscribe', later(20 * 365 * DAY))).toMatchObject({ ok: true, expiresAt: null });
  const data = signToken([KEY], 'export', ID, now);
  expect(verifyToken([KEY], data, 'export', later(60 * 60_000 - 1)).ok).toBe(true);
  expect(verifyToken([KEY], data, 'export', later(60 * 60_000))).toMatchObject({ ok: false, reason: 'expired' });
  expect(verifyToken([KEY], prefs, 'export')).toMatchObject({ ok: false, reason: 'wrong_purpose' });
  expect(TOKEN_LIFETIME_MS).toEqual({ confirm: 7 * DAY, preferences: 365 * DAY, unsubscribe: null, export: 60 * 60_000, 'sign-in': 15 * 60_000 });
});

test('a token of one purpose is refused for another, even with the purpose rewritten', () => {
  const unsub = signToken([KEY], 'unsubscribe', ID);
  expect(verifyToken([KEY], unsub, 'confirm')).toEqual({ ok: false, reason: 'wrong_purpose' });
  expect(verifyToken([KEY], unsub, 'preferences')).toEqual({ ok: false, reason: 'wrong_purpose' });
  const relabelled = unsub.replace(/^unsubscribe\./, 'preferences.');
  expect(verifyToken([KEY], relabelled, 'preferences')).toEqual({ ok: false, reason: 'bad_signature' });
});

test('tampered, truncated, foreign and junk tokens are refused without throwing', () => {
  const token = signToken([KEY], 'preferences', ID);
  const [purpose, id, expiry, sig] = token.split('.') as [string, string, string, string];
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  // Another subscription id with the same signature.
  expect(verifyToken([KEY], [purpose, flip(id, 3), expiry, sig].join('.'), 'preferences').ok).toBe(false);
  // A later expiry.
  const laterExpiry = (parseInt(expiry, 36) + DAY).toString(36);
  expect(verifyToken([KEY], [purpose, id, laterExpiry, sig].join('.'), 'preferences')).toEqual({ ok: false, reason: 'bad_signature' });
  // A changed signature, a truncated token, one signed with a key we do not hold.
  expect(verifyToken([KEY], [purpose, id, expiry, flip(sig, 10)].join('.'), 'preferences')).toEqual({ ok: false, reason: 'bad_signature' });
  expect(verifyToken([KEY], token.slice(0, -1), 'preferences')).toEqual({ ok: false, reason: 'malformed' });
  expect(verifyToken([KEY], token.slice(0, 40), 'preferences')).toEqual({ ok: false, reason: 'malformed' });
  expect(verifyToken([KEY], signToken(['someone-elses-key-000000'], 'preferences', ID), 'preferences')).toEqual({ ok: false, reason: 'bad_signature' });
  // An "expires never" token for a purpose that must expire cannot be made without the key,
  // and even a signed one is refused.
  expect(verifyToken([KEY], [purpose, id, '0', sig].join('.'), 'preferences').ok).toBe(false);
  for (const junk of [undefined, null, 42, {}, '', '....', 'x'.repeat(500), `${token}.extra`, token.toUpperCase()]) {
    expect(verifyToken([KEY], junk, 'preferences').ok).toBe(false);
  }
});

test('the first key signs and every key verifies, so SECRET_KEY can be rotated', () => {
  const old = signToken([OLD], 'unsubscribe', ID);
  expect(verifyToken([KEY, OLD], old, 'unsubscribe').ok).toBe(true);
  expect(verifyToken([KEY], old, 'unsubscribe').ok).toBe(false);
  const fresh = signToken([KEY, OLD], 'unsubscribe', ID);
  expect(verifyToken([KEY], fresh, 'unsubscribe').ok).toBe(true);
  expect(verifyToken([OLD], fresh, 'unsubscribe').ok).toBe(false);
});

test('a link carries the token in its path and never the address', () => {
  const link = subscriberLink({ publicUrl: 'https://news.example.org', secretKeys: [KEY] }, 'unsubscribe', ID);
  expect(link).toMatch(/^https:\/\/news\.example\.org\/unsubscribe\/unsubscribe\.[A-Za-z0-9_-]+\.0\.[A-Za-z0-9_-]{43}$/);
  expect(link).not.toContain('@');
  expect(link).not.toContain(ID);
});
