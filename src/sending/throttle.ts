import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/** Waits for permission to hand one message to SMTP. */
export type Throttle = () => Promise<void>;

/**
 * SEND_RATE messages a second across every worker of the deployment: the counter is in Redis,
 * so three workers share one budget instead of each taking the whole of it. 0 = no limit.
 */
export function createThrottle(redis: Redis, prefix: string, perSecond: number): Throttle {
  if (perSecond <= 0) return async () => {};
  const limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:send-rate`, points: perSecond, duration: 1 });
  return async function take() {
    for (;;) {
      try {
        await limiter.consume('all', 1);
        return;
      } catch (res) {
        // Redis unreachable: the error is not a RateLimiterRes; sending without the cap could
        // break the relay's limits, so wait and ask again.
        const wait = res instanceof RateLimiterRes ? res.msBeforeNext : 1000;
        await new Promise((r) => setTimeout(r, Math.max(5, wait)));
      }
    }
  };
}
