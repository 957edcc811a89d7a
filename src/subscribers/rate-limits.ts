import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors';
import { emailHash } from './repository';

/** A budget per client and one per address, kept in Redis so they hold across every HTTP process. */
export interface ClientAndAddressLimits {
  /** Takes one request from the client's budget; `retryAfterSeconds` when there is none left. */
  takeClient(ip: string | undefined): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;
  /** Takes one from the address's budget; false when it has had its share. */
  takeAddress(email: string): Promise<boolean>;
}

export interface Budget {
  /** The Redis key part after `${keyPrefix}:rl:`. */
  key: string;
  points: number;
  seconds: number;
}

/**
 * The one way a limit per client and per address is set up (the subscribe form here, the desk's
 * sign-in in desk/limits.ts). Addresses are keyed by their hash: Redis never holds the address
 * itself. Without Redis nothing can be limited, so nothing is sent: a take then throws
 * `unavailable` (with `unavailableMessage`) rather than let a flood through.
 */
export function clientAndAddressLimits(
  redis: Redis,
  options: { keyPrefix: string; client: Budget; address: Budget; unavailableMessage: string },
): ClientAndAddressLimits {
  const limiter = (b: Budget) =>
    new RateLimiterRedis({ storeClient: redis, keyPrefix: `${options.keyPrefix}:rl:${b.key}`, points: b.points, duration: b.seconds });
  const perClient = limiter(options.client);
  const perAddress = limiter(options.address);
  const unavailable = (err: unknown) => {
    console.error(`rate limits unavailable (${options.client.key}, ${options.address.key})`, err);
    return new AppError('unavailable', options.unavailableMessage);
  };
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

/**
 * Limits on what anonymous requests can make Broadsheet do.
 *
 * - Per client: `subscribeRatePerIp` requests a minute to anything that can send an email
 *   (subscribe, a new confirmation link, a preferences link). Over it, the client gets 429:
 *   that says nothing about any address.
 * - Per address: at most 3 such emails an hour, whatever the clients. Over it, the request
 *   is answered exactly as usual and no email goes out, so the limit cannot be used to learn
 *   whether an address is known.
 */
export type SubscribeLimits = ClientAndAddressLimits;

export const EMAILS_PER_ADDRESS_PER_HOUR = 3;

export function createSubscribeLimits(redis: Redis, options: { subscribeRatePerIp: number; keyPrefix?: string }): SubscribeLimits {
  return clientAndAddressLimits(redis, {
    keyPrefix: options.keyPrefix ?? 'broadsheet',
    client: { key: 'client', points: options.subscribeRatePerIp, seconds: 60 },
    address: { key: 'address', points: EMAILS_PER_ADDRESS_PER_HOUR, seconds: 60 * 60 },
    unavailableMessage: 'the service is briefly unavailable, try again in a moment',
  });
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
