import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { createApp } from '../../src/app';
import { GOLDEN_FILE } from '../fixtures/golden';
import { broadsheetHere, broadsheetProcess, type CliResult } from '../helpers/cli';
import { addSubscribers, deliveryCounts, receivedPerAddress, startWorld, type World } from '../helpers/world';
import { eventually } from '../helpers/eventually';

/**
 * The editor's side of sending, for real: the `broadsheet` command against the test's database
 * and Redis prefix, with the workers in this process; the admin API and the bounce webhook over
 * HTTP. `send --wait` is the compiled binary in a process of its own, as an editor runs it (it
 * waits for the send and exits with it); the other commands run in this process through the
 * same runCli (a process each cost a Node start, 0.8 s of CPU for the import, and `issues test`
 * a second load of MJML; digest-draft-round-trip runs the import as a process).
 */
jest.setTimeout(120_000);

const TOKEN = 'admin-token-for-the-send-tests';
const SECRET = 'webhook-secret-for-the-send-tests';

let world: World;
let server: http.Server;
let base: string;

beforeAll(async () => {
  world = await startWorld({ env: { ADMIN_TOKEN: TOKEN, BOUNCE_WEBHOOK_SECRET: SECRET } });
  server = http.createServer(createApp({ config: world.config, db: world.db, redis: world.redis, queues: world.queues }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await world.close();
});

/** `broadsheet ARGS` on the world's database and queues: in a process of its own, or (`here`) in this one. */
async function broadsheet(args: string[], where: 'process' | 'here' = 'here'): Promise<CliResult> {
  const env = {
    NODE_ENV: 'test',
    DATABASE_URL: world.test.url,
    REDIS_PREFIX: world.prefix,
    DATA_DIR: world.dataDir,
    PUBLIC_URL: world.config.publicUrl,
    SECRET_KEY: 'test-secret-key-for-links-0001',
  };
  return where === 'process' ? broadsheetProcess(args, env) : broadsheetHere(args, env);
}

test('CLI: import, test, send --wait, status; a sent issue is immutable and is not sent twice', async () => {
  const readers = await addSubscribers(world.db, world.list.id, 40, 'cli');
  const imported = await broadsheet(['issues', 'import', GOLDEN_FILE, '--list', 'ml-news']);
  expect(imported).toMatchObject({ code: 0 });
  expect(imported.stdout).toMatch(/imported weekly issue 2021-02/);
  // Its images are stored under DATA_DIR, and not public while it is a draft (issue 13).
  const image = `${base}/assets/ml-news/2021-02/images/dalle.png`;
  expect((await fetch(image)).status).toBe(404);
  expect((await broadsheet(['issues', 'list', '--list', 'ml-news'])).stdout).toMatch(/^2021-02\tweekly\t2021-02-28\tdraft\t/m);

  const test = await broadsheet(['issues', 'test', '2021-02', '--list', 'ml-news', '--to', 'editor@example.org']);
  expect(test).toMatchObject({ code: 0 });
  const testMail = await simpleParser(world.smtp.messages().find((m) => m.envelope.to.includes('editor@example.org'))!.raw);
  expect(testMail.subject).toMatch(/^\[TEST\] /);
  expect(testMail.text).toContain(`${world.config.publicUrl}/lists/ml-news/preferences`);

  const sent = await broadsheet(['issues', 'send', '2021-02', '--list', 'ml-news', '--wait'], 'process');
  expect(sent).toMatchObject({ code: 0 });
  expect(sent.stdout).toMatch(/status\s+done/);
  expect(sent.stdout).toMatch(/40 sent, 0 pending/);
  const got = receivedPerAddress(world.smtp);
  for (const a of readers) expect(got.get(a)).toBe(1);
  // Sent: its images are served where the email points.
  const res = await fetch(image);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('image/png');

  const again = await broadsheet(['issues', 'send', '2021-02', '--list', 'ml-news']);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/already sent/);
  const reimport = await broadsheet(['issues', 'import', GOLDEN_FILE, '--list', 'ml-news']);
  expect(reimport.code).toBe(1);
  expect(reimport.stderr).toMatch(/sent issue cannot be changed/);
  expect((await broadsheet(['issues', 'status', '2021-02', '--list', 'ml-news'])).stdout).toMatch(/status\s+done/);
  expect(receivedPerAddress(world.smtp).get(readers[0]!)).toBe(1);
});

test('admin API: import as JSON, send (once), status; the bounce webhook stops mail to an address', async () => {
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const issue = {
    format: 1,
    list: 'ml-news',
    slug: 'api-week',
    title: 'API week',
    date: '2021-03-07',
    sections: [{ id: 'news', title: 'News', items: [{ title: 'A story', url: 'https://example.org/story' }] }],
  };
  expect((await fetch(`${base}/api/v1/lists/ml-news/issues`, { method: 'POST', headers: auth, body: JSON.stringify(issue) })).status).toBe(201);
  const unauthenticated = await fetch(`${base}/api/v1/lists/ml-news/issues/api-week/send`, { method: 'POST' });
  expect(unauthenticated.status).toBe(401);

  const readers = await addSubscribers(world.db, world.list.id, 30, 'api');
  // A complaint before the send: that reader gets nothing.
  const hook = await fetch(`${base}/webhooks/bounces?secret=${SECRET}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'complaint', email: readers[0] }),
  });
  expect(await hook.json()).toEqual({ received: 1, changed: 1 });
  expect((await fetch(`${base}/webhooks/bounces?secret=wrong`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(
    401,
  );

  await world.db.updateTable('sends').set({ status: 'done' }).execute(); // the CLI test's send is over
  const send = await fetch(`${base}/api/v1/lists/ml-news/issues/api-week/send`, { method: 'POST', headers: auth });
  expect(send.status).toBe(202);
  const again = await fetch(`${base}/api/v1/lists/ml-news/issues/api-week/send`, { method: 'POST', headers: auth });
  expect(again.status).toBe(409);
  const status = await eventually(
    async () => {
      const now = await (await fetch(`${base}/api/v1/lists/ml-news/issues/api-week/status`, { headers: auth })).json();
      return now.status === 'done' && now;
    },
    { timeoutMs: 30_000, what: 'the API send done', everyMs: 100 },
  );
  expect(status.deliveries.sent).toBe(29 + 40); // the 40 CLI readers are weekly too
  const got = receivedPerAddress(world.smtp);
  expect(got.has(readers[0]!)).toBe(false);
  for (const a of readers.slice(1)) expect(got.get(a)).toBe(1);
  const events = await world.db.selectFrom('subscription_events').select(['type', 'data']).where('type', '=', 'complained').execute();
  expect(events).toHaveLength(1);
  expect(await deliveryCounts(world.db)).toMatchObject({ sent: 40 + 69 });
});
