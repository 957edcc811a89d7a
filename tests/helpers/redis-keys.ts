import type { Redis } from 'ioredis';

/** Every key under `prefix:` (queues, rate limits, throttle), so a run leaves Redis as it found it; bounded when Redis is away. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const work = (async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  })();
  await Promise.race([work.catch(() => {}), new Promise((r) => setTimeout(r, 3000).unref())]);
}
