import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestDb, type TestDb } from '../helpers/db';

/**
 * Issue 13, finding 6: `broadsheet serve` on a port already in use exits non-zero with
 * "port N is in use" right after it tries to listen, instead of logging "listening" and
 * running without serving. The real CLI (bin/broadsheet.js) against real PostgreSQL and Redis.
 */
jest.setTimeout(60_000);

const BIN = path.resolve(__dirname, '../../bin/broadsheet.js');
let t: TestDb;
let taken: net.Server;
let dataDir: string;

beforeAll(async () => {
  t = await createTestDb();
  taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, r));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-port-'));
});

afterAll(async () => {
  await new Promise((r) => taken.close(r));
  await t?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('serve on a port in use: exit code 1 and "port N is in use", never "listening"', async () => {
  const port = (taken.address() as net.AddressInfo).port;
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      SECRET_KEY: 'test-secret-key-for-links-0001',
      DATABASE_URL: t.url,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_PREFIX: `bs-port-${randomBytes(4).toString('hex')}`,
      DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, 30_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  expect(output).toContain(`port ${port} is in use`);
  expect(output).not.toMatch(/listening/);
  expect(code).toBe(1);
});
