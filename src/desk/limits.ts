import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors';
import { clientKey } from '../subscribers/rate-limits';
import { emailHash } from '../subscribers/repository';

/**
 * Sign-in attempts, limited in Redis so the limit holds across every HTTP process:
 *
 * - per client, 20 sign-in POSTs (asking for a link, using one) in 15 minutes: a link's token
 *   cannot be guessed, and this keeps anyone from trying, or from mailing editors in a loop;
 * - per address, 5 links an hour: over it the page answers as usual and no email goes out, so
 *   the limit does not tell whether an address is an editor's.
 */
export interface SignInLimits {
  /** One attempt from the client's budget, or how long to wait when it has none left. */
  takeClient(ip: string | undefined): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;
  takeAddress(email: string): Promise<boolean>;
}

export const SIGN_IN_ATTEMPTS = 20;
export const SIGN_IN_WINDOW_SECONDS = 15 * 60;
export const LINKS_PER_ADDRESS_PER_HOUR = 5;

function unavailable(err: unknown): AppError {
  console.error('sign-in limits unavailable', err);
  return new AppError('unavailable', 'the desk is briefly unavailable, try again in a moment');
}

export function createSignInLimits(redis: Redis, keyPrefix: string): SignInLimits {
  const perClient = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${keyPrefix}:rl:desk-client`,
    points: SIGN_IN_ATTEMPTS,
    duration: SIGN_IN_WINDOW_SECONDS,
  });
  const perAddress = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${keyPrefix}:rl:desk-address`,
    points: LINKS_PER_ADDRESS_PER_HOUR,
    duration: 60 * 60,
  });
  return {
    async takeClient(ip) {
      try {
        await perClient.consume(clientKey(ip));
        return { ok: true };
      } catch (err) {
        if (err instanceof RateLimiterRes) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) };
        throw unavailable(err);
      }
    },
    async takeAddress(email) {
      try {
        await perAddress.consume(emailHash(email));
        return true;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
        throw unavailable(err);
      }
    },
  };
}
