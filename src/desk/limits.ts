import type { Redis } from 'ioredis';
import { clientAndAddressLimits, type ClientAndAddressLimits } from '../subscribers/rate-limits';

/**
 * Sign-in attempts, limited in Redis so the limit holds across every HTTP process:
 *
 * - per client, 20 sign-in POSTs (asking for a link, using one) in 15 minutes: a link's token
 *   cannot be guessed, and this keeps anyone from trying, or from mailing editors in a loop;
 * - per address, 5 links an hour: over it the page answers as usual and no email goes out, so
 *   the limit does not tell whether an address is an editor's.
 */
export type SignInLimits = ClientAndAddressLimits;

export const SIGN_IN_ATTEMPTS = 20;
export const SIGN_IN_WINDOW_SECONDS = 15 * 60;
export const LINKS_PER_ADDRESS_PER_HOUR = 5;

export function createSignInLimits(redis: Redis, keyPrefix: string): SignInLimits {
  return clientAndAddressLimits(redis, {
    keyPrefix,
    client: { key: 'desk-client', points: SIGN_IN_ATTEMPTS, seconds: SIGN_IN_WINDOW_SECONDS },
    address: { key: 'desk-address', points: LINKS_PER_ADDRESS_PER_HOUR, seconds: 60 * 60 },
    unavailableMessage: 'the desk is briefly unavailable, try again in a moment',
  });
}
