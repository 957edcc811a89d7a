import { addSubscribers, deliveryCounts, importFixture, receivedPerAddress, startSend, startWorld, waitForSendStatus } from '../helpers/world';
import { eventually } from '../helpers/eventually';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres';

/**
 * PostgreSQL restarted in the middle of a send, for real: a private server of this test's own
 * (initdb and pg_ctl from the machine's PostgreSQL, run as the postgres user, on its own port),
 * so the restart touches nothing else.
 */
jest.setTimeout(120_000);

let postgres: PrivatePostgres;

beforeAll(async () => {
  postgres = await startPrivatePostgres();
});

afterAll(() => postgres.destroy());

/**
 * Issue 14: results that could not be written while the server was away used to be dropped
 * (a rejected promise chain in the batch job's recorder), and their rows were sent again when
 * their lease ended. Results are now kept and written when the server is back: no duplicate.
 */
test.each(['fast', 'immediate'] as const)('PostgreSQL restarted (-m %s) mid-send: no process dies, the send finishes, everyone exactly once', async (mode) => {
  const world = await startWorld({ databaseServer: postgres.server, env: { SEND_RATE: '150', SEND_BATCH_SIZE: '25' } });
  try {
    // Several batches (25 each) before and after the restart, and results waiting to be written
    // when it comes (SEND_RATE 150: a second's worth after the first 100).
    const readers = await addSubscribers(world.db, world.list.id, 300, `pg-${mode}`);
    await importFixture(world);
    await startSend(world, '2021-02');
    await eventually(() => world.smtp.messages().length >= 100, { what: '100 messages before the restart', timeoutMs: 30_000, everyMs: 10 });
    // A fast restart ends every connection (57P01 on the idle ones); an immediate one is a
    // crash of the server, with recovery from the WAL. The pool must survive both.
    postgres.restart(mode);
    const atRestart = world.smtp.messages().length;
    await waitForSendStatus(world.db, 'done', 150_000);
    expect(atRestart).toBeLessThan(300); // the restart really happened mid-send
    const got = receivedPerAddress(world.smtp);
    const skipped = readers.filter((a) => !got.has(a));
    const duplicates = [...got.values()].reduce((n, c) => n + c - 1, 0);
    expect({ skipped: skipped.length, duplicates, recipients: got.size }).toEqual({ skipped: 0, duplicates: 0, recipients: 300 });
    expect(await deliveryCounts(world.db)).toEqual({ sent: 300 });
  } finally {
    await world.close();
  }
});
