import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Assets of an issue that has not been sent are not public: `/assets/{list}/{issue}/…`
 * answers 404 for them. A test email of a draft still needs its images, so its asset URLs
 * carry a key in an extra path segment, `/assets/{list}/{issue}/~{expiry}.{signature}/file`,
 * signed with the first SECRET_KEY over the list and the issue and valid for 30 days: long
 * enough to review the draft, short enough that a forwarded test email stops showing them.
 */
const LIFETIME_MS = 30 * 24 * 60 * 60 * 1000;
const SHAPE = /^~([0-9a-z]{1,12})\.([A-Za-z0-9_-]{43})$/;

function signature(key: string, listSlug: string, issueSlug: string, expiry: string): string {
  return createHmac('sha256', key).update(`broadsheet-asset-v1|${listSlug}|${issueSlug}|${expiry}`).digest('base64url');
}

/** The path segment a test email's asset URLs carry for an unsent issue. */
export function assetKey(keys: readonly string[], listSlug: string, issueSlug: string, now: Date = new Date()): string {
  const expiry = (now.getTime() + LIFETIME_MS).toString(36);
  return `~${expiry}.${signature(keys[0]!, listSlug, issueSlug, expiry)}`;
}

/** Whether a path segment is a valid, unexpired key for this issue's assets. Never throws. */
export function isAssetKey(keys: readonly string[], listSlug: string, issueSlug: string, segment: string, now: Date = new Date()): boolean {
  const m = SHAPE.exec(segment);
  if (!m) return false;
  const [, expiry, given] = m as unknown as [string, string, string];
  if (parseInt(expiry, 36) <= now.getTime()) return false;
  const givenBytes = Buffer.from(given, 'ascii');
  let valid = false;
  for (const key of keys) {
    const expected = Buffer.from(signature(key, listSlug, issueSlug, expiry), 'ascii');
    if (expected.length === givenBytes.length && timingSafeEqual(expected, givenBytes)) valid = true;
  }
  return valid;
}
