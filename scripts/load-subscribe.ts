/**
 * Load check for the subscribe endpoint (not a timed test): starts the real HTTP app on
 * loopback with a database and queue prefix of its own, drives `POST /lists/load/subscribe`
 * with wrk (a new address on every request, so each one is a real new subscription with a
 * queued confirmation), prints requests/s and latency percentiles, and cleans up.
 *
 *   node -r @swc-node/register scripts/load-subscribe.ts [--duration 10] [--connections 50] [--threads 2]
 *
 * The per-client limit is raised for the run (everything comes from 127.0.0.1); the
 * per-address limit still applies and costs one Redis round trip per request, as in
 * production. The worker is not started: this measures the HTTP side, and the confirmations
 * are left queued (their count is printed) and then removed.
 * Needs `wrk` (Debian: apt-get install -y wrk), PostgreSQL and Redis.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { createDb, ensureDatabase, migrateToLatest } from '../src/db/database';
import { createList } from '../src/lists/repository';
import { createQueues } from '../src/queues';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

// Each wrk thread numbers its own requests, so every request subscribes a new address.
const LUA = `
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  thread_id = id
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
end
function request()
  counter = counter + 1
  local body = string.format('{"email":"load-%s-%d-%d@example.org","cadence":"weekly"}', RUN, thread_id, counter)
  return wrk.format(nil, nil, nil, body)
end
`;

async function main(): Promise<void> {
  const duration = option('duration', 10);
  const connections = option('connections', 50);
  const threads = option('threads', 2);
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is a problem.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('wrk is not installed (apt-get install -y wrk)');
  }

  const run = randomBytes(4).toString('hex');
  const server = process.env.TEST_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432';
  const databaseUrl = `${server}/broadsheet_load_${run}`;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `bs-load-${run}`;

  await ensureDatabase(databaseUrl);
  const db = createDb(databaseUrl, { max: 20 });
  await migrateToLatest(db);
  await createList(db, { slug: 'load', name: 'Load check', from_address: 'load@example.org' });

  const httpServer = http.createServer();
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const port = (httpServer.address() as AddressInfo).port;
  const config = loadConfig({
    NODE_ENV: 'production',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    SECRET_KEY: randomBytes(24).toString('hex'),
    SUBSCRIBE_RATE_PER_IP: '100000000',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
  });
  const redis = new Redis(redisUrl);
  const queues = createQueues(redisUrl, prefix, db);
  httpServer.on('request', createApp({ config, db, redis, queues }));
  // Keep-alive connections stay open between wrk requests.
  httpServer.keepAliveTimeout = 60_000;

  const luaFile = path.join(os.tmpdir(), `load-subscribe-${run}.lua`);
  fs.writeFileSync(luaFile, `RUN = "${run}"\n${LUA}`);
  const url = `http://127.0.0.1:${port}/lists/load/subscribe`;
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${duration}s`, '--latency', '-s', luaFile, url];
  console.log(`$ wrk ${args.join(' ')}`);

  let output = '';
  try {
    output = await new Promise<string>((resolve, reject) => {
      const wrk = spawn('wrk', args);
      let text = '';
      wrk.stdout.on('data', (c: Buffer) => (text += c.toString()));
      wrk.stderr.on('data', (c: Buffer) => process.stderr.write(c));
      wrk.on('error', reject);
      wrk.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}`))));
    });
    console.log(output.trimEnd());

    const rps = /Requests\/sec:\s+([\d.]+)/.exec(output)?.[1];
    const p50 = /^\s+50%\s+(\S+)/m.exec(output)?.[1];
    const p99 = /^\s+99%\s+(\S+)/m.exec(output)?.[1];
    const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? '0';
    const { n: subscriptions } = await db
      .selectFrom('subscriptions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const queued = (await queues.systemMail.getJobCounts()).waiting;
    console.log('');
    console.log(
      `subscribe: ${rps} requests/s, p50 ${p50}, p99 ${p99} (${connections} connections, ${threads} threads, ${duration} s, loopback, ${os.cpus().length} CPUs)`,
    );
    console.log(`non-2xx answers: ${non2xx}; pending subscriptions created: ${subscriptions}; confirmations queued: ${queued}`);
  } finally {
    fs.rmSync(luaFile, { force: true });
    await new Promise<void>((resolve) => {
      httpServer.closeAllConnections();
      httpServer.close(() => resolve());
    });
    await queues.systemMail.obliterate({ force: true });
    await queues.close();
    // One rate-limit key per address subscribed: deleted in batches.
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
    redis.disconnect();
    await db.destroy();
    const admin = new pg.Client({ connectionString: `${server}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(`broadsheet_load_${run}`)} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
