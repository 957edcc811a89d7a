/**
 * Planning's rules against the send store in memory and a queue that only records: no
 * PostgreSQL or Redis here (tests/integration/send*.test.ts prove the SQL).
 */
import type { IssueRow, List } from '../../../src/db/schema';
import { planSend } from '../../../src/sending/plan';
import { MemoryStore } from './memory-store';

const issue = { id: 'issue-1', list_id: 'list-1' } as unknown as IssueRow;
const list = { id: 'list-1' } as unknown as List;

function queue() {
  const queued: { sendId: string; batch: number }[] = [];
  return { queued, queues: { addBulk: async (_kind: string, jobs: unknown[]) => void queued.push(...(jobs as { sendId: string; batch: number }[])) } };
}

test('one row per active, unpaused subscriber of the cadence, in chunks; then sending, with one job per batch', async () => {
  const store = new MemoryStore(issue, list, { status: 'planning', planned_at: null, batch_size: 4 });
  const readers = store.subscribe(10);
  store.subscribe(2, { cadence: 'monthly' });
  store.subscribe(1, { status: 'pending' });
  store.subscribe(1, { paused: true });
  store.subscribe(1, { status: 'unsubscribed' });
  const { queued, queues } = queue();
  expect(await planSend({ store, queues }, 'send-1')).toBe('planned');
  expect(store.deliveries.map((d) => d.subscription_id)).toEqual(readers.map((r) => r.id));
  expect(store.send).toMatchObject({ status: 'sending', planned: 10 });
  expect(store.send.planned_at).not.toBeNull();
  expect(queued).toEqual([0, 1, 2].map((batch) => ({ sendId: 'send-1', batch })));
});

test('planning interrupted after a chunk resumes where it stopped, and never writes a row twice', async () => {
  const store = new MemoryStore(issue, list, { status: 'planning', planned_at: null });
  store.subscribe(7);
  await store.planChunk(store.send); // a worker planned one chunk and died
  expect(store.deliveries).toHaveLength(3);
  const { queues } = queue();
  await planSend({ store, queues }, 'send-1');
  expect(store.deliveries).toHaveLength(7);
  expect(new Set(store.deliveries.map((d) => d.subscription_id)).size).toBe(7);
  expect(store.send.planned).toBe(7);
});

test('nobody to send to: the send is done at once and no job is queued', async () => {
  const store = new MemoryStore(issue, list, { status: 'planning', planned_at: null });
  store.subscribe(2, { cadence: 'monthly' });
  const { queued, queues } = queue();
  expect(await planSend({ store, queues }, 'send-1')).toBe('planned');
  expect(store.send.status).toBe('done');
  expect(queued).toEqual([]);
});

test('a send paused or cancelled before planning ends is left as it is', async () => {
  const store = new MemoryStore(issue, list, { status: 'paused', planned_at: null });
  store.subscribe(3);
  const { queued, queues } = queue();
  expect(await planSend({ store, queues }, 'send-1')).toBe('not planning');
  expect(store.deliveries).toHaveLength(0);
  expect(queued).toEqual([]);
  expect(await planSend({ store, queues }, 'no-such-send')).toBe('not planning');
});
