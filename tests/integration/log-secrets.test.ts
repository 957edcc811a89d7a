import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import express from 'express';
import { Redis } from 'ioredis';
import { errorHandler, type Log } from '../../src/http/errors';
import { signToken } from '../../src/subscribers/tokens';
import { createTestDb, type TestDb } from '../helpers/db';
import { deleteKeys } from '../helpers/redis-keys';
import { stopProcess } from '../helpers/cli';
import { eventually } from '../helpers/eventually';
import { freePort } from '../helpers/ports';

/**
 * Issue 13, finding 5: no secret, token or signed link ever reaches a log line. The real
 * server (`broadsheet serve`, compiled: `npm run build` first) logs at debug level into pipes
 * this test reads; it is sent the webhook's secret in a query string with bodies that fail,
 * reader links with good and bad tokens, a desk sign-in link, and every line it writes is
 * searched for them.
 */
const BIN = path.resolve(__dirname, '../../bin/broadsheet.js');
const run = promisify(execFile);

const WEBHOOK_SECRET = `whsec-${randomBytes(12).toString('hex')}`;
const SECRET_KEY = `key-${randomBytes(16).toString('hex')}`;
const SNS_TOKEN = `snstoken-${randomBytes(12).toString('hex')}`;

let t: TestDb;
let tmp: string;
let env: NodeJS.ProcessEnv;
let server: ChildProcess;
let logged = '';
let base: string;

beforeAll(async () => {
  t = await createTestDb();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'broadsheet-log-secrets-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'debug',
    PORT: String(port),
    PUBLIC_URL: base,
    DATABASE_URL: t.url,
    REDIS_PREFIX: `bs-log-secrets-${randomBytes(4).toString('hex')}`,
    DATA_DIR: path.join(tmp, 'data'),
    SECRET_KEY,
    BOUNCE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    SMTP_URL: '',
  };
  server = spawn('node', [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  server.stderr!.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  await eventually(async () => (await fetch(`${base}/healthz`)).ok, { timeoutMs: 30_000, everyMs: 200, what: 'the server' });
}, 60_000);

afterAll(async () => {
  await stopProcess(server);
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  await deleteKeys(redis, env.REDIS_PREFIX!);
  redis.disconnect();
  await fs.rm(tmp, { recursive: true, force: true });
  await t.drop();
});

const webhook = (body: string, type = 'application/json') =>
  fetch(`${base}/webhooks/bounces?secret=${WEBHOOK_SECRET}`, { method: 'POST', headers: { 'content-type': type }, body });

test('the server logs the failures of requests that carry secrets and tokens, without them', async () => {
  // A body that fails inside the webhook (a NUL that only JSON.parse reveals reaches PostgreSQL):
  // a 500, logged with its error, whose request URL held the secret.
  const failed = await webhook(JSON.stringify({ type: 'bounce', email: 'a\u0000@example.org' }), 'text/plain');
  expect(failed.status).toBe(500);
  // Bodies that are refused (401, 400) with the secret in the URL.
  expect((await webhook('{not json', 'text/plain')).status).toBe(400);
  expect((await webhook(JSON.stringify({ type: 'nonsense' }))).status).toBe(400);
  expect((await fetch(`${base}/webhooks/bounces?secret=${WEBHOOK_SECRET}x`, { method: 'POST' })).status).toBe(401);
  // An SNS subscription confirmation: its SubscribeURL carries SNS's token.
  const subscribeUrl = `https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:1:bounces&Token=${SNS_TOKEN}`;
  const confirmation = await webhook(
    JSON.stringify({
      Type: 'SubscriptionConfirmation',
      MessageId: randomUUID(),
      TopicArn: 'arn:aws:sns:eu-west-1:1:bounces',
      SubscribeURL: subscribeUrl,
      SigningCertURL: 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem',
    }),
    'text/plain',
  );
  expect(confirmation.status).toBe(200);

  // Reader links: well signed (for a subscription that does not exist) and forged, GET and one-click POST.
  const tokens = [
    signToken([SECRET_KEY], 'unsubscribe', randomUUID()),
    signToken([SECRET_KEY], 'preferences', randomUUID()),
    signToken([SECRET_KEY], 'confirm', randomUUID()),
    `forged-${randomBytes(10).toString('hex')}`,
  ];
  for (const token of tokens) {
    for (const route of ['unsubscribe', 'confirm', 'preferences', 'export']) {
      await (await fetch(`${base}/${route}/${token}?utm_source=${token}`)).text();
    }
    await (await fetch(`${base}/unsubscribe/${token}`, { method: 'POST', body: 'List-Unsubscribe=One-Click' })).text();
    await (await fetch(`${base}/unsubscribe/${token}/nothing-here`)).text();
  }

  // A desk sign-in link, as `editors add` prints it: opened, then posted without the form's token.
  const added = await run('node', [BIN, 'editors', 'add', 'owner@example.org', '--role', 'owner'], { env });
  const signIn = /https?:\/\/\S+\/admin\/sign-in\/(\S+)/.exec(added.stdout);
  expect(signIn).not.toBeNull();
  const signInToken = signIn![1]!;
  expect((await fetch(`${base}/admin/sign-in/${signInToken}`)).status).toBe(200);
  await (await fetch(`${base}/admin/sign-in/${signInToken}`, { method: 'POST', redirect: 'manual' })).text();
  await (await fetch(`${base}/admin/sign-in/forged${signInToken.slice(6)}`)).text();
  await (await fetch(`${base}/admin?next=${signInToken}`, { redirect: 'manual' })).text();

  // The failure was logged (as one JSON line, with where it happened) …
  await eventually(() => logged.includes('error on POST /webhooks/bounces'), { what: 'the error line of the failed webhook' });
  const errorLine = logged.split('\n').find((l) => l.includes('error on POST /webhooks/bounces'))!;
  expect(JSON.parse(errorLine)).toMatchObject({
    level: 50,
    method: 'POST',
    path: '/webhooks/bounces',
    error: { type: 'error', message: expect.stringContaining('0x00') },
  });
  // … and the SNS URL is where the log line says, for the operator.
  const snsLine = logged.split('\n').find((l) => l.includes('SNS subscription confirmation'))!;
  expect(snsLine).toContain(path.join(env.DATA_DIR!, 'sns-subscribe-url.txt'));
  expect(await fs.readFile(path.join(env.DATA_DIR!, 'sns-subscribe-url.txt'), 'utf8')).toBe(`${subscribeUrl}\n`);

  // No line holds a secret, a token or a working link.
  for (const secret of [WEBHOOK_SECRET, SNS_TOKEN, signInToken, ...tokens]) expect(logged).not.toContain(secret);
  expect(logged).not.toMatch(/\/(unsubscribe|confirm|preferences|export|sign-in)\/(?!…)[\w.-]{8,}/);
  expect(logged).not.toContain('?secret=');
}, 120_000);

test("an error's own text is logged with the request's query values and link token cut out", async () => {
  // A handler whose error quotes the URL it was given (as a library's error may): the real
  // error handler logs it, and the secrets are gone from the message and the stack.
  const lines: Parameters<Log>[] = [];
  const app = express();
  app.get('/unsubscribe/:token', (req) => {
    throw new Error(`could not handle ${req.originalUrl} for ${req.params.token} (auth ${req.get('authorization')})`);
  });
  app.use(errorHandler((fields, msg) => lines.push([fields, msg])));
  const listener = app.listen(0);
  await new Promise((resolve) => listener.once('listening', resolve));
  try {
    const { port } = listener.address() as { port: number };
    const token = `tok${randomBytes(10).toString('hex')}`;
    const res = await fetch(`http://127.0.0.1:${port}/unsubscribe/${token}?secret=sekrit%2Fvalue&n=1`, {
      headers: { authorization: 'Bearer bearer-secret-1' },
    });
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain(token);
  } finally {
    listener.close();
  }
  expect(lines).toHaveLength(1);
  const [fields, msg] = lines[0]!;
  expect(msg).toBe('error on GET /unsubscribe/…');
  expect(fields.path).toBe('/unsubscribe/…');
  expect(fields.error.message).toBe('could not handle /unsubscribe/[redacted]?secret=[redacted]&n=1 for [redacted] (auth Bearer [redacted])');
  const text = JSON.stringify(lines);
  for (const secret of ['tok', 'sekrit', 'bearer-secret-1']) expect(text).not.toMatch(new RegExp(`${secret}[0-9a-f%/]`));
});

test('a malformed service URL is quoted without its password', async () => {
  for (const [name, value] of [
    ['SMTP_URL', 'smtp://mailer:hunter2-pw@mail host:587'],
    ['DATABASE_URL', 'postgres://app:hunter2-pw@db host/broadsheet'],
    ['REDIS_URL', 'redis://:hunter2-pw@redis host:6379'],
  ] as const) {
    const r = await run('node', [BIN, 'migrate'], { env: { ...process.env, [name]: value } }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${name} must be a URL, got "${value.split('://')[0]}://…@`);
    expect(r.stderr).not.toContain('hunter2');
  }
});
