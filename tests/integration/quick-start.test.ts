import { exec, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { GOLDEN_FILE } from '../fixtures/golden';
import { broadsheetHere, stopProcess } from '../helpers/cli';
import { createTestDb, type TestDb } from '../helpers/db';
import { deleteKeys } from '../helpers/redis-keys';
import { eventually } from '../helpers/eventually';
import { freePort } from '../helpers/ports';

/**
 * The README's quick start, run as a new user runs it, in the order written, on a database,
 * a queue prefix and a DATA_DIR of this test's own (the compiled CLI: `npm run build` first).
 * And the two things a new user trips on next: the outbox is in memory, and DATA_DIR must be
 * the same for the CLI and the server.
 */
const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/broadsheet.js');
const sh = promisify(exec);

let t: TestDb;
let tmp: string;
let env: NodeJS.ProcessEnv;
let server: ChildProcess;
let serverStderr = '';
let base: string;

beforeAll(async () => {
  t = await createTestDb();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'broadsheet-quick-start-'));
  const port = await freePort();
  base = `http://localhost:${port}`;
  env = {
    ...process.env,
    NODE_ENV: 'development',
    PORT: String(port),
    PUBLIC_URL: base,
    DATABASE_URL: t.url,
    REDIS_PREFIX: `bs-quick-start-${randomBytes(4).toString('hex')}`,
    DATA_DIR: path.join(tmp, 'data'),
    SMTP_URL: '',
  };
}, 30_000);

afterAll(async () => {
  await stopProcess(server);
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  await deleteKeys(redis, env.REDIS_PREFIX!);
  redis.disconnect();
  await fs.rm(tmp, { recursive: true, force: true });
  await t.drop();
});

/** The commands of the quick start's shell blocks, in order: continuation lines joined, comments dropped. */
async function quickStart(): Promise<{ commands: string[]; text: string }> {
  const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Quick start');
  const text = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const commands = [...text.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return { commands, text };
}

test('the quick start runs in the order written, and opens nothing (`open` is macOS only)', async () => {
  const { commands, text } = await quickStart();
  expect(text).not.toMatch(/^\s*(open|xdg-open) /m);
  expect(commands[0]).toBe('npm ci && npm start');
  expect(commands.some((c) => c.startsWith('npx broadsheet lists create'))).toBe(true);
  for (const command of commands) {
    if (command === 'npm ci && npm start') {
      // `npm ci` has run (this is its checkout); `npm start` is the compiled `broadsheet start`,
      // left running as the quick start leaves it.
      server = spawn('node', [BIN, 'start'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      server.stderr!.setEncoding('utf8').on('data', (chunk: string) => (serverStderr += chunk));
      // A server that does not answer says why: whether it exited, and what it wrote.
      await eventually(async () => (await fetch(`${base}/healthz`)).ok, { timeoutMs: 30_000, what: 'npm start' }).catch((err: Error) => {
        const exited = server.exitCode ?? server.signalCode;
        throw new Error(`${err.message}; ${exited === null ? 'still running' : `exited (${exited})`}; it wrote: ${serverStderr.slice(-2000)}`);
      });
      continue;
    }
    const r = await sh(command.replace(/^npx broadsheet /, `node ${JSON.stringify(BIN)} `), { cwd: ROOT, env }).catch(
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect({ command, code: 'code' in r ? r.code : 0, stderr: r.stderr.replace(/^warning: BOUNCE_DOMAIN.*\n/m, '') }).toMatchObject({ command, code: 0 });
  }

  // The addresses it names, on this test's port: the form of the list made in it, and the outbox.
  const urls = [...text.matchAll(/http:\/\/localhost:3000(\/[^\s)>]*)/g)].map((m) => m[1]!);
  const form = urls.find((u) => /^\/lists\/[^/]+$/.test(u));
  expect(form).toBeDefined();
  expect(urls).toContain('/dev/outbox');
  expect((await fetch(`${base}${form}`)).status).toBe(200);
  const email = `quick-start-${randomBytes(4).toString('hex')}@example.org`;
  const subscribed = await fetch(`${base}${form}/subscribe`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({ email, cadence: 'weekly' }).toString(),
  });
  expect(subscribed.status).toBe(200);
  const outbox = await eventually(
    async () => {
      const page = await (await fetch(`${base}/dev/outbox`)).text();
      return page.includes(email) && page;
    },
    { timeoutMs: 20_000, what: 'the confirmation email in the outbox' },
  );
  // What the outbox keeps across restarts, said where it is read.
  expect(outbox).toContain('A restart empties the outbox');
}, 180_000);

test('issues import says where the running server keeps images when its own DATA_DIR is another', async () => {
  if (!server) throw new Error('the quick start test starts the server');
  const elsewhere = path.join(tmp, 'elsewhere');
  // What the command says, in this process (the same runCli): a process each was 0.8 s of CPU.
  const other = await broadsheetHere(['issues', 'import', GOLDEN_FILE, '--list', 'ml-news'], { ...env, DATA_DIR: elsewhere });
  expect(other.code).toBe(0);
  expect(other.stderr).toContain(`keeps issue images in DATA_DIR=${env.DATA_DIR}, but this command uses ${elsewhere}: images written here are not served`);
  // The same DATA_DIR, written another way (relative to the working directory): nothing to say.
  const same = await broadsheetHere(['issues', 'import', GOLDEN_FILE, '--list', 'ml-news'], { ...env, DATA_DIR: path.relative(process.cwd(), env.DATA_DIR!) });
  expect(same.code).toBe(0);
  expect(same.stderr).not.toContain('DATA_DIR');
}, 60_000);
