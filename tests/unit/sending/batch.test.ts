/**
 * The batch job's rules, against the send store in memory and a mailer that answers as told:
 * no PostgreSQL, Redis or SMTP server is needed (or reachable) here. The same rules against
 * the real services: tests/integration/send*.test.ts.
 */
import { loadConfig } from '../../../src/config';
import type { IssueRow, List } from '../../../src/db/schema';
import { log } from '../../../src/log';
import type { Mailer } from '../../../src/mail/transport';
import { duplicatesAfterKillBound, RetryLater, sendBatch, unwrittenLimit, type BatchDeps } from '../../../src/sending/batch';
import type { Variant } from '../../../src/sending/variants';
import { MemoryStore } from './memory-store';

const issue = {
  id: 'issue-1',
  list_id: 'list-1',
  slug: '2021-02',
  updated_at: new Date(0),
  content: { sections: [{ id: 'papers' }, { id: 'tools' }] },
} as unknown as IssueRow;
const list = { id: 'list-1', slug: 'ml-news', from_address: '"ML News" <news@example.org>' } as unknown as List;

/** A variant whose message is just the recipient line: what the job writes per recipient is what is tested. */
const variant = {
  key: 'weekly:',
  mime: { build: (r: { to: string }) => ({ raw: Buffer.from(`To: ${r.to}\r\n\r\nhello\r\n`), eightBit: false }) },
} as unknown as Variant;

type Answer = 'ok' | { code: number; command?: string } | 'refused';

function smtp(answer: (to: string) => Answer = () => 'ok', delayMs = 0) {
  const sent: string[] = [];
  const asked: string[] = [];
  const mailer: Mailer = {
    send: async () => ({ messageId: '', response: '' }),
    capabilities: async () => ({ eightBitMime: true, smtpUtf8: true }),
    async sendRaw(envelope) {
      asked.push(envelope.to);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const a = answer(envelope.to);
      if (a === 'refused') throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNREFUSED' });
      if (a !== 'ok') throw Object.assign(new Error(`${a.code} no`), { responseCode: a.code, command: a.command ?? 'RCPT TO', response: `${a.code} no` });
      sent.push(envelope.to);
      return { messageId: 'x', response: '250 ok' };
    },
    close() {},
  };
  return { mailer, sent, asked };
}

const config = loadConfig({
  NODE_ENV: 'test',
  SEND_CONCURRENCY: '3',
  PUBLIC_URL: 'http://news.example.org',
  SEND_FLUSH_MS: '10',
  WORKER_HEARTBEAT_SECONDS: '1',
});

const requeued: { sendId: string; batch: number }[] = [];
beforeEach(() => void requeued.splice(0));

function deps(store: MemoryStore, mailer: Mailer, extra: Partial<BatchDeps> = {}): BatchDeps {
  return {
    config,
    store,
    queues: { addBulk: async (_kind: string, jobs: unknown[]) => void requeued.push(...(jobs as { sendId: string; batch: number }[])) },
    workerId: 'me',
    mailer,
    throttle: async () => {},
    variants: { get: async () => variant },
    templates: {} as BatchDeps['templates'],
    compileMjml: async () => {
      throw new Error('the batch job must not compile MJML itself here');
    },
    log,
    checkEveryMs: 5,
    ...extra,
  };
}

test('every sendable recipient of the batch gets one message; the rows say sent; the last batch finishes the send', async () => {
  const store = new MemoryStore(issue, list);
  const readers = store.subscribe(10);
  store.plan(readers);
  const { mailer, sent } = smtp();
  const result = await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 });
  expect(result).toMatchObject({ sent: 10, bounced: 0, suppressed: 0, temporary: 0, failed: 0 });
  expect(sent.sort()).toEqual(readers.map((r) => r.email).sort());
  expect(store.counts()).toEqual({ sent: 10 });
  expect(store.send.status).toBe('done');
});

test('only the rows of its own batch: ids in [batch × size, (batch + 1) × size)', async () => {
  const store = new MemoryStore(issue, list, { batch_size: 4 });
  store.plan(store.subscribe(10));
  const { mailer, sent } = smtp();
  await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 1 });
  expect(sent).toHaveLength(4);
  expect(store.deliveries.filter((d) => d.status === 'sent').map((d) => d.id)).toEqual([4, 5, 6, 7]);
  expect(store.send.status).toBe('sending'); // other batches are still pending
});

test('suppression at claim: unsubscribed, bounced, paused, other cadence and deleted subscriptions get nothing', async () => {
  const store = new MemoryStore(issue, list);
  const fine = store.subscribe(3);
  const gone = [
    ...store.subscribe(1, { status: 'unsubscribed' }),
    ...store.subscribe(1, { status: 'bounced' }),
    ...store.subscribe(1, { paused: true }),
    ...store.subscribe(1, { cadence: 'monthly' }),
  ];
  const deleted = store.subscribe(1);
  store.plan([...fine, ...gone, ...deleted]);
  store.subscriptions.delete(deleted[0]!.id); // forgotten after planning
  const { mailer, sent } = smtp();
  const result = await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 });
  expect(sent.sort()).toEqual(fine.map((r) => r.email).sort());
  expect(result.suppressed).toBe(5);
  expect(store.counts()).toEqual({ sent: 3, suppressed: 5 });
  expect(store.send.status).toBe('done');
});

test('no empty email: a reader who left out every section of the issue gets nothing; one who kept a section gets it', async () => {
  const store = new MemoryStore(issue, list);
  const fine = [
    ...store.subscribe(1),
    ...store.subscribe(1, { excluded_sections: ['papers'] }),
    ...store.subscribe(1, { excluded_sections: ['tools', 'other'] }),
  ];
  const empty = store.subscribe(1, { excluded_sections: ['tools', 'papers'] });
  store.plan([...fine, ...empty]);
  const { mailer, sent } = smtp();
  const result = await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 });
  expect(sent.sort()).toEqual(fine.map((r) => r.email).sort());
  expect(result.suppressed).toBe(1);
  expect(store.counts()).toEqual({ sent: 3, suppressed: 1 });
});

test('suppression during the send: a reader who unsubscribes while the batch runs gets nothing more', async () => {
  const store = new MemoryStore(issue, list);
  const readers = store.subscribe(30);
  store.plan(readers);
  const last = readers.at(-1)!;
  const { mailer, sent } = smtp(() => 'ok', 3);
  const running = sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 });
  last.status = 'unsubscribed';
  const result = await running;
  expect(sent).not.toContain(last.email);
  expect(result.suppressed).toBe(1);
  expect(store.deliveries.at(-1)!.status).toBe('suppressed');
});

test('a 5xx bounces the address once (subscription marked bounced), never retried; a 4xx stays pending with an attempt counted and the job asks to be retried', async () => {
  const store = new MemoryStore(issue, list);
  const readers = store.subscribe(6);
  store.plan(readers);
  const hard = readers[1]!.email;
  const soft = readers[4]!.email;
  const { mailer, asked } = smtp((to) => (to === hard ? { code: 550 } : to === soft ? { code: 451 } : 'ok'));
  await expect(sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 })).rejects.toBeInstanceOf(RetryLater);
  expect(store.counts()).toEqual({ sent: 4, bounced: 1, pending: 1 });
  expect(store.bounced).toEqual([readers[1]!.id]);
  expect(store.subscriptions.get(readers[1]!.id)!.status).toBe('bounced');
  const pending = store.deliveries[4]!;
  expect(pending).toMatchObject({ status: 'pending', attempts: 1, leased_until: null });
  expect(pending.smtp_response).toMatch(/451/);

  // The retry asks only the one that is still pending; now it is accepted.
  const again = smtp();
  const result = await sendBatch(deps(store, again.mailer), { sendId: 'send-1', batch: 0 });
  expect(again.asked).toEqual([soft]);
  expect(result.sent).toBe(1);
  expect(asked.filter((a) => a === hard)).toHaveLength(1);
  expect(store.send.status).toBe('done');
});

test('a 5xx to AUTH is our configuration, not the reader: temporary, not a bounce', async () => {
  const store = new MemoryStore(issue, list);
  store.plan(store.subscribe(1));
  const { mailer } = smtp(() => ({ code: 535, command: 'AUTH PLAIN' }));
  await expect(sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 })).rejects.toBeInstanceOf(RetryLater);
  expect(store.counts()).toEqual({ pending: 1 });
  expect(store.bounced).toEqual([]);
});

test('a delivery that failed temporarily ten times is given up as failed', async () => {
  const store = new MemoryStore(issue, list);
  store.plan(store.subscribe(1));
  store.deliveries[0]!.attempts = 9;
  const { mailer } = smtp(() => ({ code: 452 }));
  const result = await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 });
  expect(result.failed).toBe(1);
  expect(store.counts()).toEqual({ failed: 1 });
});

test('pause: the batch stops within a check, sends nothing more, and releases the rows it did not try', async () => {
  const store = new MemoryStore(issue, list);
  store.plan(store.subscribe(40));
  let n = 0;
  const { mailer, sent } = smtp(() => {
    if (++n === 6) store.send = { ...store.send, status: 'paused', pause_reason: 'paused by the editor' };
    return 'ok';
  }, 2);
  const result = await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 });
  expect(sent.length).toBeLessThan(40);
  expect(result.sent).toBe(sent.length);
  const pending = store.deliveries.filter((d) => d.status === 'pending');
  expect(pending.length).toBe(40 - sent.length);
  for (const d of pending) expect(d).toMatchObject({ leased_until: null, leased_by: null });
  expect(store.send.status).toBe('paused');
  // Nothing is claimed while paused.
  const after = smtp();
  expect(await sendBatch(deps(store, after.mailer), { sendId: 'send-1', batch: 0 })).toMatchObject({ skipped: 'send is paused' });
  expect(after.asked).toEqual([]);
});

test('leases: rows held by a live worker are left alone; rows of a worker that stopped beating are taken over before their lease ends', async () => {
  const store = new MemoryStore(issue, list);
  store.plan(store.subscribe(6));
  const lease = store.now + 60_000;
  for (const d of store.deliveries.slice(0, 3)) Object.assign(d, { leased_until: lease, leased_by: 'alive' });
  for (const d of store.deliveries.slice(3)) Object.assign(d, { leased_until: lease, leased_by: 'killed' });
  store.workers.set('alive', store.now);
  store.workers.set('killed', store.now - config.workerGoneAfterMs - 1);
  const { mailer, sent } = smtp();
  await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 });
  expect(sent.sort()).toEqual(['r-000004@example.org', 'r-000005@example.org', 'r-000006@example.org']);
  expect(store.counts()).toEqual({ sent: 3, pending: 3 });
  // The repair sees the same: only the live worker's rows are not to be queued again.
  store.workers.set('killed', store.now);
  expect(await store.unsentBatches(store.send, config.workerGoneAfterMs)).toEqual([]);
});

test('results the store cannot take (a database restart) are retried until written; the job does not end before, and nothing is sent twice', async () => {
  const store = new MemoryStore(issue, list);
  const readers = store.subscribe(12);
  store.plan(readers);
  store.failWrites = 4;
  const { mailer, sent } = smtp(() => 'ok', 1);
  await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 });
  expect(store.writes).toBeGreaterThan(4);
  expect(store.counts()).toEqual({ sent: 12 });
  expect(sent).toHaveLength(12);
  expect(new Set(sent).size).toBe(12);
  // Run again (a retry of the job, a repair): nothing is pending, nothing goes out again.
  const again = smtp();
  await sendBatch(deps(store, again.mailer), { sendId: 'send-1', batch: 0 });
  expect(again.asked).toEqual([]);
});

test('a slow database holds the sender back: never more than SEND_CONCURRENCY + unwrittenLimit results unwritten, so a kill -9 re-sends at most that', async () => {
  // 1,000 a second and results every 10 ms: 20 unwritten at most, while each write takes 30 ms.
  const rated = { ...config, sendRate: 1000, sendFlushMs: 10 };
  const limit = unwrittenLimit(rated);
  expect(limit).toBe(20);
  const store = new MemoryStore(issue, list);
  store.plan(store.subscribe(100));
  store.writeDelayMs = 30;
  const { mailer, sent } = smtp();
  let most = 0;
  const sendRaw = mailer.sendRaw.bind(mailer);
  mailer.sendRaw = async (envelope, raw, messageId) => {
    const answer = await sendRaw(envelope, raw, messageId);
    most = Math.max(most, sent.length - (store.counts().sent ?? 0));
    return answer;
  };
  await sendBatch(deps(store, mailer, { config: rated }), { sendId: 'send-1', batch: 0 });
  expect(store.counts()).toEqual({ sent: 100 });
  expect(most).toBeGreaterThan(limit / 2); // the limit was reached, not just never approached
  expect(most).toBeLessThanOrEqual(rated.sendConcurrency + limit);
  expect(duplicatesAfterKillBound({ ...rated, sendBatchSize: 100 })).toBe(2 * (rated.sendConcurrency + limit));
});

describe('the circuit breaker', () => {
  test('temporary failures in a row open the circuit: the batch stops, frees its untried rows, and its job comes back for the probe', async () => {
    const store = new MemoryStore(issue, list);
    store.plan(store.subscribe(60));
    const { mailer, asked } = smtp(() => 'refused');
    const err = await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryLater);
    expect((err as RetryLater).retryInMs).toBe(config.circuit.firstBackoffMs);
    expect(asked.length).toBeGreaterThanOrEqual(config.circuit.openAfter);
    expect(asked.length).toBeLessThan(config.circuit.openAfter + config.sendConcurrency);
    expect(store.send.failing_since).not.toBeNull();
    expect(store.send.retry_at!.getTime()).toBeGreaterThan(Date.now());
    expect(store.send.last_error).toMatch(/ECONNREFUSED/);
    expect(store.send.status).toBe('sending'); // waiting is not paused
    expect(store.deliveries.filter((d) => d.status === 'pending' && d.leased_until !== null)).toEqual([]);
  });

  test('while the circuit waits, a batch job claims nothing and asks SMTP nothing', async () => {
    const store = new MemoryStore(issue, list, { failing_since: new Date(), retry_at: new Date(Date.now() + 60_000), backoff_ms: 5000 });
    store.plan(store.subscribe(5));
    const { mailer, asked } = smtp();
    expect(await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 })).toMatchObject({ sent: 0, skipped: expect.stringMatching(/waits/) });
    expect(asked).toEqual([]);
    expect(store.deliveries.every((d) => d.leased_until === null)).toBe(true);
  });

  test('a failed probe is one message; the next wait is twice as long', async () => {
    const since = new Date(Date.now() - 10_000);
    const store = new MemoryStore(issue, list, { failing_since: since, retry_at: new Date(Date.now() - 1), backoff_ms: 5000, last_error: '421' });
    store.plan(store.subscribe(20));
    const { mailer, asked } = smtp(() => ({ code: 421, command: 'CONN' }));
    const err = await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 0 }).catch((e: unknown) => e);
    expect(asked).toHaveLength(1);
    expect((err as RetryLater).retryInMs).toBe(10_000);
    expect(store.send).toMatchObject({ failing_since: since, backoff_ms: 10_000, status: 'sending' });
  });

  test('a probe that goes through closes the circuit, queues every batch again and sends the rest at full speed', async () => {
    const store = new MemoryStore(issue, list, {
      batch_size: 10,
      failing_since: new Date(Date.now() - 10_000),
      retry_at: new Date(Date.now() - 1),
      backoff_ms: 5000,
    });
    store.plan(store.subscribe(30));
    const { mailer, sent } = smtp();
    const result = await sendBatch(deps(store, mailer), { sendId: 'send-1', batch: 1 });
    expect(result.sent).toBe(10);
    expect(sent).toHaveLength(10);
    expect(store.send).toMatchObject({ failing_since: null, retry_at: null, backoff_ms: 0 });
    expect(requeued.map((j) => j.batch)).toEqual([0, 1, 2]);
  });

  test('two jobs wake for the same probe: only one sends it', async () => {
    const store = new MemoryStore(issue, list, {
      batch_size: 10,
      failing_since: new Date(Date.now() - 10_000),
      retry_at: new Date(Date.now() - 1),
      backoff_ms: 5000,
    });
    store.plan(store.subscribe(20));
    const { mailer, asked } = smtp(() => ({ code: 451 }));
    const results = await Promise.allSettled([0, 1].map((batch) => sendBatch(deps(store, mailer), { sendId: 'send-1', batch })));
    expect(asked).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(results.find((r) => r.status === 'fulfilled')).toMatchObject({ value: { skipped: expect.stringMatching(/probing/) } });
  });

  test('a greylisting server (one 451 in twenty recipients, once each) opens no circuit', async () => {
    const store = new MemoryStore(issue, list);
    const readers = store.subscribe(100);
    store.plan(readers);
    const once = new Set<string>();
    const answer = (to: string): Answer => (Number(/-(\d+)@/.exec(to)![1]) % 20 === 7 && !once.has(to) ? (once.add(to), { code: 451 }) : 'ok');
    const first = smtp(answer);
    await expect(sendBatch(deps(store, first.mailer), { sendId: 'send-1', batch: 0 })).rejects.toBeInstanceOf(RetryLater);
    expect(store.send.failing_since).toBeNull();
    expect(store.counts()).toEqual({ sent: 95, pending: 5 });
    const again = smtp(answer);
    await sendBatch(deps(store, again.mailer), { sendId: 'send-1', batch: 0 });
    expect(store.counts()).toEqual({ sent: 100 });
    expect(store.send.status).toBe('done');
  });
});
