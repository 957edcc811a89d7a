import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createThrottle } from '../../src/sending/throttle';
import { importFixture, startSend, startWorld } from '../helpers/world';

jest.setTimeout(60_000);

test('SEND_RATE is one budget for every worker: two throttles on one Redis share it', async () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  try {
    const prefix = `bs-throttle-${randomBytes(4).toString('hex')}`;
    const a = createThrottle(redis, prefix, 40);
    const b = createThrottle(redis, prefix, 40);
    const started = Date.now();
    // 120 messages at 40 a second between two workers: the third second's budget is needed.
    await Promise.all([...Array.from({ length: 60 }, () => a()), ...Array.from({ length: 60 }, () => b())]);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1500);
    expect(took).toBeLessThan(6000);
    // 0 means no limit.
    const free = createThrottle(redis, prefix, 0);
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 500 }, () => free()));
    expect(Date.now() - t0).toBeLessThan(200);
  } finally {
    redis.disconnect();
  }
});

test('a list without a contact line cannot send, and the error names the command that sets it', async () => {
  const world = await startWorld();
  try {
    await world.db.updateTable('lists').set({ contact: '' }).execute();
    world.list = { ...world.list, contact: '' };
    await importFixture(world);
    await expect(startSend(world, '2021-02')).rejects.toThrow(/no contact line.*broadsheet lists update ml-news --contact/);
    expect(await world.db.selectFrom('sends').selectAll().execute()).toHaveLength(0);
  } finally {
    await world.close();
  }
});
