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
 * Lifetimes: confirmation 7 days (docs/promises.md, "Links and tokens"). Unsubscribe never: mail clients
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

function signature(key: string, payload: string, version = 'broadsheet-link-v1'): string {
  // The version and the separator make a token of this format unforgeable from any other HMAC use of the key.
  return createHmac('sha256', key).update(`${version}|${payload}`).digest('base64url');
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

export function signToken(keys: readonly string[], purpose: TokenPurpose, subscriptionId: string, now: Date = new Date()): string {
  const key = keys[0];
  if (!key) throw new Error('no secret key to sign with');
  const lifetime = TOKEN_LIFETIME_MS[purpose];
  const expiry = lifetime === null ? '0' : (now.getTime() + lifetime).toString(36);
  const payload = `${purpose}.${uuidToBase64url(subscriptionId)}.${expiry}`;
  return `${payload}.${signature(key, payload)}`;
}

/** Checks a token for one purpose. Never throws: any string from a URL or a form may arrive here. */
export function verifyToken(keys: readonly string[], token: unknown, purpose: TokenPurpose, now: Date = new Date()): TokenCheck {
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

// ---------------------------------------------------------------------------------------
// Tokens inside an address (inbound mail, BOUNCE_DOMAIN): `bounce+<token>@…` as each
// newsletter's envelope sender (VERP), `unsubscribe+<token>@…` as List-Unsubscribe's mailto.
// A local part holds at most 64 octets and some mail systems lower-case it, so these are
// short and lower-case only, signed with the same keys as links under their own version:
//
//     bounce:      <delivery id, base 36> . <expiry, epoch seconds, base 36> . <signature>
//     unsubscribe: <subscription id, 32 hex digits> . <signature>
//
// The signature is the HMAC cut to 80 bits in base 32 (16 characters): forging one means
// guessing 2^80 values through an SMTP listener that refuses a wrong one at RCPT and limits
// how fast anyone may try.

export type MailTokenPurpose = 'bounce' | 'unsubscribe';

/**
 * How long a bounce address is answered: DSNs come within days (a queue gives up after five),
 * complaints from feedback loops within weeks. After that the delivery rows may be gone too
 * (DELIVERY_RETENTION_DAYS). An unsubscribe address, like the link, never expires.
 */
export const BOUNCE_TOKEN_LIFETIME_MS = 90 * DAY_MS;

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function mailSignature(key: string, payload: string): string {
  const mac = createHmac('sha256', key).update(`broadsheet-mail-v1|${payload}`).digest();
  let out = '';
  // 80 bits, 5 at a time.
  for (let bit = 0; bit < 80; bit += 5) {
    const byte = bit >> 3;
    const shift = bit & 7;
    const two = ((mac[byte]! << 8) | mac[byte + 1]!) >> (11 - shift);
    out += BASE32[two & 31];
  }
  return out;
}

export function signMailToken(keys: readonly string[], purpose: 'bounce', deliveryId: number, now?: Date): string;
export function signMailToken(keys: readonly string[], purpose: 'unsubscribe', subscriptionId: string): string;
export function signMailToken(keys: readonly string[], purpose: MailTokenPurpose, id: number | string, now: Date = new Date()): string {
  const key = keys[0];
  if (!key) throw new Error('no secret key to sign with');
  const payload =
    purpose === 'bounce'
      ? `${Number(id).toString(36)}.${Math.floor((now.getTime() + BOUNCE_TOKEN_LIFETIME_MS) / 1000).toString(36)}`
      : String(id).replace(/-/g, '').toLowerCase();
  return `${payload}.${mailSignature(key, `${purpose}.${payload}`)}`;
}

export type MailTokenCheck =
  | { ok: true; purpose: 'bounce'; deliveryId: number }
  | { ok: true; purpose: 'unsubscribe'; subscriptionId: string }
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

const BOUNCE_SHAPE = /^([0-9a-z]{1,13})\.([0-9a-z]{1,10})\.([a-z2-7]{16})$/;
const UNSUBSCRIBE_SHAPE = /^([0-9a-f]{32})\.([a-z2-7]{16})$/;

/** Checks the token part of an inbound address. Never throws: anyone can send mail to any address. */
export function verifyMailToken(keys: readonly string[], purpose: MailTokenPurpose, token: string, now: Date = new Date()): MailTokenCheck {
  if (typeof token !== 'string' || token.length > 64) return { ok: false, reason: 'malformed' };
  const lower = token.toLowerCase();
  const m = (purpose === 'bounce' ? BOUNCE_SHAPE : UNSUBSCRIBE_SHAPE).exec(lower);
  if (!m) return { ok: false, reason: 'malformed' };
  const payload = lower.slice(0, lower.lastIndexOf('.'));
  const given = Buffer.from(lower.slice(lower.lastIndexOf('.') + 1), 'ascii');
  let valid = false;
  for (const key of keys) {
    const expected = Buffer.from(mailSignature(key, `${purpose}.${payload}`), 'ascii');
    if (timingSafeEqual(expected, given)) valid = true;
  }
  if (!valid) return { ok: false, reason: 'bad_signature' };
  if (purpose === 'unsubscribe') {
    const hex = m[1]!;
    return { ok: true, purpose, subscriptionId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` };
  }
  if (parseInt(m[2]!, 36) * 1000 <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, purpose, deliveryId: parseInt(m[1]!, 36) };
}
