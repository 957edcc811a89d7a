import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed subscriber links. A token is four dot-separated, URL-safe parts:
 *
 *     purpose . subscription id . expiry . signature
 *     confirm . 3q2-7wAAQ…(22) . m5x1k2a0 . Hx…(43)
 *
 * - purpose: `confirm`, `preferences`, `unsubscribe` or `export`; signed, so one purpose is refused for another.
 * - subscription id: the opaque uuid as 16 bytes in base64url. Never the address.
 * - expiry: epoch milliseconds in base 36, or `0` for a link that never expires. Milliseconds
 *   (not seconds) so that "issued before the last unsubscribe" is decidable (see `issuedAt`).
 * - signature: HMAC-SHA-256 over a versioned string of the first three parts, base64url.
 *
 * The first key signs; every key verifies, so SECRET_KEY can be rotated without breaking the
 * links in mail already delivered.
 *
 * Lifetimes: confirmation 7 days (the promise in platform.md). Unsubscribe never: mail clients
 * and readers use it months later and it must always work. Preferences one year: every
 * newsletter carries a fresh one, so only a link in a year-old email has run out, and its
 * page offers to email a new link. A year bounds how long a forwarded email keeps access to
 * someone's settings. Export one hour: it hands over personal data (addresses, IPs, every
 * list), so it is only ever emailed on request, to be used at once, and a forwarded or
 * leaked one is soon worthless. Sign-in (an editor's, for the desk) fifteen minutes.
 */
export type TokenPurpose = 'confirm' | 'preferences' | 'unsubscribe' | 'export' | 'sign-in';

const DAY_MS = 24 * 60 * 60 * 1000;

/** How long a link of each purpose stays valid, in milliseconds; `null` never expires. */
export const TOKEN_LIFETIME_MS: Readonly<Record<TokenPurpose, number | null>> = Object.freeze({
  confirm: 7 * DAY_MS,
  preferences: 365 * DAY_MS,
  unsubscribe: null,
  export: 60 * 60 * 1000,
  // An editor's sign-in link (the id is the link's row, not a subscription): 15 minutes, and
  // the row makes it one use.
  'sign-in': 15 * 60 * 1000,
});

export type TokenCheck =
  | { ok: true; purpose: TokenPurpose; subscriptionId: string; expiresAt: Date | null; issuedAt: Date | null }
  /** Well signed but out of date: the caller may still offer a fresh link for this subscription. */
  | { ok: false; reason: 'expired'; subscriptionId: string; expiresAt: Date }
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'wrong_purpose' };

const SHAPE = /^(confirm|preferences|unsubscribe|export|sign-in)\.([A-Za-z0-9_-]{22})\.(0|[1-9a-z][0-9a-z]{0,11})\.([A-Za-z0-9_-]{43})$/;

function signature(key: string, payload: string): string {
  // The version and the separator make a token of this format unforgeable from any other HMAC use of the key.
  return createHmac('sha256', key).update(`broadsheet-link-v1|${payload}`).digest('base64url');
}

function uuidToBase64url(uuid: string): string {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a uuid: ${uuid}`);
  return Buffer.from(hex, 'hex').toString('base64url');
}

function base64urlToUuid(part: string): string | undefined {
  const bytes = Buffer.from(part, 'base64url');
  // base64url of 16 bytes is 22 characters whose last one carries 2 spare bits; only the
  // canonical spelling is accepted, so each token has exactly one form.
  if (bytes.length !== 16 || bytes.toString('base64url') !== part) return undefined;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function signToken(
  keys: readonly string[],
  purpose: TokenPurpose,
  subscriptionId: string,
  now: Date = new Date(),
): string {
  const key = keys[0];
  if (!key) throw new Error('no secret key to sign with');
  const lifetime = TOKEN_LIFETIME_MS[purpose];
  const expiry = lifetime === null ? '0' : (now.getTime() + lifetime).toString(36);
  const payload = `${purpose}.${uuidToBase64url(subscriptionId)}.${expiry}`;
  return `${payload}.${signature(key, payload)}`;
}

/** Checks a token for one purpose. Never throws: any string from a URL or a form may arrive here. */
export function verifyToken(
  keys: readonly string[],
  token: unknown,
  purpose: TokenPurpose,
  now: Date = new Date(),
): TokenCheck {
  if (typeof token !== 'string' || token.length > 120) return { ok: false, reason: 'malformed' };
  const m = SHAPE.exec(token);
  if (!m) return { ok: false, reason: 'malformed' };
  const [, claimed, idPart, expiryPart, given] = m as unknown as [string, TokenPurpose, string, string, string];
  const subscriptionId = base64urlToUuid(idPart);
  if (!subscriptionId) return { ok: false, reason: 'malformed' };

  const payload = `${claimed}.${idPart}.${expiryPart}`;
  const givenBytes = Buffer.from(given, 'ascii');
  let valid = false;
  // Every key is tried (no early exit), and each comparison is constant-time.
  for (const key of keys) {
    const expected = Buffer.from(signature(key, payload), 'ascii');
    if (expected.length === givenBytes.length && timingSafeEqual(expected, givenBytes)) valid = true;
  }
  if (!valid) return { ok: false, reason: 'bad_signature' };
  if (claimed !== purpose) return { ok: false, reason: 'wrong_purpose' };

  const lifetime = TOKEN_LIFETIME_MS[purpose];
  if (expiryPart === '0') {
    // A never-expiring token is only ever issued for a purpose without a lifetime.
    if (lifetime !== null) return { ok: false, reason: 'malformed' };
    return { ok: true, purpose, subscriptionId, expiresAt: null, issuedAt: null };
  }
  const expiresAt = new Date(parseInt(expiryPart, 36));
  if (now.getTime() >= expiresAt.getTime()) return { ok: false, reason: 'expired', subscriptionId, expiresAt };
  const issuedAt = lifetime === null ? null : new Date(expiresAt.getTime() - lifetime);
  return { ok: true, purpose, subscriptionId, expiresAt, issuedAt };
}

/** The absolute link a reader follows: `${publicUrl}/${purpose}/${token}`. */
export function subscriberLink(
  config: { publicUrl: string; secretKeys: readonly string[] },
  purpose: TokenPurpose,
  subscriptionId: string,
  now: Date = new Date(),
): string {
  return `${config.publicUrl}/${purpose}/${signToken(config.secretKeys, purpose, subscriptionId, now)}`;
}
