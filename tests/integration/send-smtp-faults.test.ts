import { startCaptureServer, type CaptureServer } from '../../src/mail/capture';
import {
  addSubscribers,
  deliveryCounts,
  importFixture,
  receivedPerAddress,
  startSend,
  startSendWorld,
  waitForSendStatus,
  freePort,
} from '../helpers/send-world';

jest.setTimeout(150_000);

test('4xx answers are retried with backoff and 5xx recipients bounce, never retried', async () => {
  let temporary = true;
  let refusedConnections = 0;
  let rejected550 = 0;
  const world = await startSendWorld({
    onConnect: () => (temporary && refusedConnections++ < 5 ? { code: 421, message: 'too busy, come back later' } : undefined),
    onRcpt: (address) => {
      if (address.startsWith('hard-')) {
        rejected550++;
        return { code: 550, message: 'no such user' };
      }
      return temporary ? { code: 451, message: 'greylisted, try again' } : undefined;
    },
  });
  try {
    const good = await addSubscribers(world.db, world.list.id, 300, 'soft');
    const hard = await addSubscribers(world.db, world.list.id, 20, 'hard');
    await importFixture(world);
    await startSend(world, '2021-02');
    await new Promise((r) => setTimeout(r, 4000));
    expect(world.smtp.messages()).toHaveLength(0); // everything refused so far
    temporary = false;
    await waitForSendStatus(world.db, 'done', 120_000);

    const got = receivedPerAddress(world.smtp);
    for (const a of good) expect(got.get(a)).toBe(1);
    for (const a of hard) expect(got.has(a)).toBe(false);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 300, bounced: 20 });
    // A 5xx is asked once per address, never again.
    expect(rejected550).toBe(20);
    const statuses = await world.db
      .selectFrom('subscriptions as s')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .select(['s.status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('p.email', 'like', 'hard-%')
      .groupBy('s.status')
      .execute();
    expect(statuses.map((r) => [r.status, Number(r.n)])).toEqual([['bounced', 20]]);
    const events = await world.db.selectFrom('subscription_events').select('type').where('type', '=', 'bounced').execute();
    expect(events).toHaveLength(20);
    // Retries happened: deliveries that were greylisted carry more than one attempt.
    const retried = await world.db.selectFrom('deliveries').select('id').where('attempts', '>', 1).execute();
    expect(retried.length).toBeGreaterThan(0);
  } finally {
    await world.close();
  }
});

test('the SMTP server down for 30 s: the send waits and resumes by itself, everyone once', async () => {
  const port = await freePort();
  const world = await startSendWorld({ smtpPort: port, env: { SEND_RATE: '100' } });
  let second: CaptureServer | undefined;
  try {
    const readers = await addSubscribers(world.db, world.list.id, 600, 'down');
    await importFixture(world);
    await startSend(world, '2021-02');
    // Let some go out, then take the server away for 30 s.
    while (world.smtp.messages().length < 100) await new Promise((r) => setTimeout(r, 50));
    await world.smtp.close();
    const before = world.smtp.messages();
    await new Promise((r) => setTimeout(r, 30_000));
    second = await startCaptureServer({ port, keep: 100_000 });
    await waitForSendStatus(world.db, 'done', 100_000);

    const got = new Map<string, number>();
    for (const m of [...before, ...second.messages()]) for (const to of m.envelope.to) got.set(to, (got.get(to) ?? 0) + 1);
    for (const a of readers) expect(got.get(a)).toBeGreaterThanOrEqual(1);
    const duplicates = [...got.values()].reduce((n, c) => n + c - 1, 0);
    // Only messages in flight when the server went away can come twice (SEND_CONCURRENCY of them).
    expect(duplicates).toBeLessThanOrEqual(world.config.sendConcurrency);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 600 });
  } finally {
    await second?.close();
    await world.close();
  }
});

test('too many temporary failures in a row pause the send with a reason; resume finishes it once', async () => {
  let refusing = true;
  const world = await startSendWorld({
    env: { SEND_PAUSE_AFTER_FAILURES: '20', SEND_BATCH_SIZE: '10' },
    onRcpt: () => (refusing ? { code: 451, message: 'mailbox temporarily unavailable' } : undefined),
  });
  try {
    const readers = await addSubscribers(world.db, world.list.id, 100, 'pause');
    await importFixture(world);
    await startSend(world, '2021-02');
    await waitForSendStatus(world.db, 'paused', 60_000);
    const send = await world.db.selectFrom('sends').selectAll().executeTakeFirstOrThrow();
    expect(send.pause_reason).toMatch(/temporary SMTP failures/);
    refusing = false;
    const { resumeSend } = await import('../../src/sending/control.js');
    await resumeSend({ db: world.db, queues: world.queues }, send);
    await waitForSendStatus(world.db, 'done', 60_000);
    const got = receivedPerAddress(world.smtp);
    for (const a of readers) expect(got.get(a)).toBe(1);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 100 });
  } finally {
    await world.close();
  }
});
