import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  addSubscribers,
  deliveryCounts,
  importFixture,
  receivedPerAddress,
  startSend,
  startSendWorld,
  waitForSendStatus,
} from '../helpers/send-world';

/**
 * PostgreSQL restarted in the middle of a send, for real: a private server of this test's own
 * (initdb and pg_ctl from the machine's PostgreSQL, run as the postgres user, on its own port),
 * so the restart touches nothing else.
 */
jest.setTimeout(180_000);

const BIN = fs.existsSync('/usr/lib/postgresql')
  ? path.join('/usr/lib/postgresql', fs.readdirSync('/usr/lib/postgresql').sort().at(-1)!, 'bin')
  : '';

let dir: string;
let port: number;

function asPostgres(command: string): void {
  // initdb refuses to run as root; as another user the server runs as that user.
  const asRoot = process.getuid?.() === 0;
  const r = asRoot ? spawnSync('su', ['postgres', '-c', command], { encoding: 'utf8' }) : spawnSync('sh', ['-c', command], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command}: ${r.stderr || r.stdout}`);
}

beforeAll(async () => {
  if (!BIN) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-pg-'));
  fs.chmodSync(dir, 0o777);
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres', dir]);
  asPostgres(`${BIN}/initdb -D ${dir}/data -A trust -U postgres >/dev/null`);
  asPostgres(`${BIN}/pg_ctl -D ${dir}/data -o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1" -l ${dir}/log -w start >/dev/null`);
});

afterAll(() => {
  try {
    asPostgres(`${BIN}/pg_ctl -D ${dir}/data -m immediate -w stop >/dev/null`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Issue 14: results that could not be written while the server was away used to be dropped
 * (a rejected promise chain in the batch job's recorder), and their rows were sent again when
 * their lease ended. Results are now kept and written when the server is back: no duplicate.
 */
test.each(['fast', 'immediate'] as const)('PostgreSQL restarted (-m %s) mid-send: no process dies, the send finishes, everyone exactly once', async (mode) => {
  const world = await startSendWorld({ databaseServer: `postgres://postgres@127.0.0.1:${port}`, env: { SEND_RATE: '150', SEND_BATCH_SIZE: '25' } });
  try {
    const readers = await addSubscribers(world.db, world.list.id, 800, `pg-${mode}`);
    await importFixture(world);
    await startSend(world, '2021-02');
    while (world.smtp.messages().length < 200) await new Promise((r) => setTimeout(r, 50));
    // A fast restart ends every connection (57P01 on the idle ones); an immediate one is a
    // crash of the server, with recovery from the WAL. The pool must survive both.
    asPostgres(`${BIN}/pg_ctl -D ${dir}/data -m ${mode} -w restart -o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1" >/dev/null`);
    const atRestart = world.smtp.messages().length;
    await waitForSendStatus(world.db, 'done', 150_000);
    expect(atRestart).toBeLessThan(800); // the restart really happened mid-send
    const got = receivedPerAddress(world.smtp);
    const skipped = readers.filter((a) => !got.has(a));
    const duplicates = [...got.values()].reduce((n, c) => n + c - 1, 0);
    expect({ skipped: skipped.length, duplicates, recipients: got.size }).toEqual({ skipped: 0, duplicates: 0, recipients: 800 });
    expect(await deliveryCounts(world.db)).toEqual({ sent: 800 });
  } finally {
    await world.close();
  }
});
