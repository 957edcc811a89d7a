import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors';
import { emailHash } from './repository';

/**
 * Limits on what anonymous requests can make Broadsheet do. They live in Redis so that they
 * hold across every HTTP process of a deployment.
 *
 * - Per client: `subscribeRatePerIp` requests a minute to anything that can send an email
 *   (subscribe, a new confirmation link, a preferences link). Over it, the client gets 429:
 *   that says nothing about any address.
 * - Per address: at most 3 such emails an hour, whatever the clients. Over it, the request
 *   is answered exactly as usual and no email goes out, so the limit cannot be used to learn
 *   whether an address is known.
 */
export interface SubscribeLimits {
  /** Takes one request from the client's budget; `retryAfterSeconds` when there is none left. */
  takeClient(ip: string | undefined): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;
  /** Takes one email from the address's budget; false when it has had its share this hour. */
  takeAddress(email: string): Promise<boolean>;
}

export const EMAILS_PER_ADDRESS_PER_HOUR = 3;

export function createSubscribeLimits(redis: Redis, options: { subscribeRatePerIp: number; keyPrefix?: string }): SubscribeLimits {
  const prefix = options.keyPrefix ?? 'broadsheet';
  const perClient = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:rl:client`,
    points: options.subscribeRatePerIp,
    duration: 60,
  });
  const perAddress = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:rl:address`,
    points: EMAILS_PER_ADDRESS_PER_HOUR,
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
        // Keyed by the address's hash: Redis never holds the address itself.
        await perAddress.consume(emailHash(email));
        return true;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
        throw unavailable(err);
      }
    },
  };
}

/**
 * An IPv6 client usually controls a whole /64, so it counts as one client; an IPv4 address
 * mapped into IPv6 counts as the IPv4 address it is.
 */
export function clientKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = ip.includes('::') ? 8 - headGroups.length - tailGroups.length : 0;
  const groups = [...headGroups, ...Array<string>(Math.max(0, missing)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

function unavailable(err: unknown): AppError {
  // Without Redis nothing can be limited, so nothing is sent: refuse rather than let a flood through.
  console.error('rate limits unavailable', err);
  return new AppError('unavailable', 'the service is briefly unavailable, try again in a moment');
}
