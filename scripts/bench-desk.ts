/**
 * The desk with a million subscribers: how long the home page and a subscriber search take.
 *
 *   npm run bench:desk -- [--rows 1000000] [--requests 40] [--keep | --database NAME]
 *
 * Makes its own database (on TEST_DATABASE_SERVER, default postgres://postgres@127.0.0.1:5432)
 * with one list of `--rows` subscribers (three in four weekly, one in ten not active), a sent
 * weekly issue whose send has a delivery row for every weekly reader, and a scheduled one; an
 * event for every subscription and 2,000 readers who left after the send;
 * then serves the real app on a loopback port, signs an editor in by link as a browser does,
 * and times GET /admin and GET /admin/subscribers?q=… over HTTP (warm, one request at a
 * time), and the search query itself. Targets: home < 200 ms, search < 50 ms. The desk's other
 * pages that read counts (a list's page, its issues, the send-now confirmation, a finished
 * send's page with its report, a search within a list) are timed too, with fewer requests.
 * `--keep` keeps the database; `--database NAME` times again against a kept one (no rows made).
 * The load average is printed before and after: the machine is shared.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { createDb, ensureDatabase, migrateToLatest } from '../src/db/database';
import { addEditor } from '../src/editors/service';
import { importIssue } from '../src/issues/repository';
import { validateIssueFile } from '../src/issues/validate';
import { createList } from '../src/lists/repository';
import { createQueues } from '../src/queues';
import { searchSubscribers } from '../src/subscribers/search';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : fallback);
const ROWS = option('rows', 1_000_000);
const REQUESTS = option('requests', 40);
const REUSE = args.includes('--database') ? args[args.indexOf('--database') + 1] : undefined;
const KEEP = args.includes('--keep') || REUSE !== undefined;
const load = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(', ');
const SERVER = process.env.TEST_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return `p50 ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms (${s.length} requests)`;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function cookies(res: Response, jar: Map<string, string>): string {
  for (const h of res.headers.getSetCookie()) {
    const pair = h.split(';')[0]!;
    jar.set(pair.slice(0, pair.indexOf('=')), pair);
  }
  return [...jar.values()].join('; ');
}

async function main() {
  const name = REUSE ?? `broadsheet_bench_desk_${randomBytes(4).toString('hex')}`;
  const url = `${SERVER}/${name}`;
  await ensureDatabase(url);
  const db = createDb(url, { max: 10 });
  await migrateToLatest(db);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const prefix = `bs-bench-desk-${randomBytes(4).toString('hex')}`;
  const queues = createQueues(REDIS_URL, prefix, db);
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({ ...process.env, NODE_ENV: 'test', PUBLIC_URL: base, SECRET_KEY: 'bench-secret-key-0000000000001', DATABASE_URL: url });

  async function makeRows() {
    console.log(`database ${name}: ${ROWS.toLocaleString('en')} subscribers…`);
    const t0 = performance.now();
    const list = await createList(db, {
      slug: 'ml-news',
      name: 'ML News',
      from_address: '"ML News" <news@example.org>',
      contact: 'Example Press · 1 Main Street · Berlin',
      timezone: 'Europe/Berlin',
      weekly_slot: 'mon 09:00',
      monthly_slot: '1 09:00',
      sections: [],
    });
    // Addresses that start in many ways, as real ones do: a search prefix matches a few hundred.
    await sql`
        INSERT INTO subscribers (email, name)
        SELECT substr(md5(i::text), 1, 6) || '.' || i || '@example.org', '' FROM generate_series(1, ${ROWS}) i`.execute(db);
    await sql`
        INSERT INTO subscriptions (list_id, subscriber_id, status, cadence, consent_source, confirmed_at)
        SELECT ${list.id}, id,
               (CASE WHEN random() < 0.9 THEN 'active' WHEN random() < 0.5 THEN 'pending' ELSE 'unsubscribed' END),
               (CASE WHEN random() < 0.75 THEN 'weekly' ELSE 'monthly' END), 'bench', now()
        FROM subscribers`.execute(db);
    const checked = await validateIssueFile('tests/fixtures/golden/issue.json');
    if (!checked.ok) throw new Error('the golden issue does not validate');
    const { issue } = await importIssue(db, { list, issue: checked.issue, baseDir: checked.baseDir, dataDir: config.dataDir });
    const { issue: next } = await importIssue(db, {
      list,
      issue: { ...checked.issue, slug: '2021-03', date: '2021-03-07' },
      baseDir: checked.baseDir,
      dataDir: config.dataDir,
    });
    const send = await db
      .insertInto('sends')
      .values({
        issue_id: issue.id,
        list_id: list.id,
        cadence: 'weekly',
        status: 'done',
        scheduled_at: new Date(),
        started_at: new Date(),
        finished_at: new Date(),
        batch_size: 500,
        planned_at: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await sql`
        INSERT INTO deliveries (send_id, subscription_id, status, smtp_response, finished_at)
        SELECT ${send.id}, id, 'sent', '250 2.0.0 Ok: queued as ' || substr(md5(id::text), 1, 10), now()
        FROM subscriptions WHERE status = 'active' AND cadence = 'weekly'`.execute(db);
    // The event log as a real list has it (one event a subscription at the least), and readers
    // who left after the send: the send's report looks for those.
    await sql`
        INSERT INTO subscription_events (subscription_id, type, created_at)
        SELECT id, 'confirmed', now() - interval '30 days' FROM subscriptions`.execute(db);
    await sql`
        INSERT INTO subscription_events (subscription_id, type)
        SELECT id, 'unsubscribed' FROM subscriptions WHERE status = 'active' AND cadence = 'weekly' LIMIT 2000`.execute(db);
    await db
      .insertInto('sends')
      .values({ issue_id: next.id, list_id: list.id, cadence: 'weekly', status: 'scheduled', scheduled_at: new Date(Date.now() + 86400_000), batch_size: 500 })
      .execute();
    await sql`ANALYZE`.execute(db);
    console.log(`  made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  try {
    if (!REUSE) await makeRows();
    console.log(`load average before timing (1, 5, 15 min): ${load()} on ${os.cpus().length} cores`);

    server.on('request', createApp({ config, db, redis, queues }));
    const { link } = await addEditor({ db, config }, { email: `bench-${randomBytes(3).toString('hex')}@example.org`, role: 'owner' });
    const jar = new Map<string, string>();
    const signIn = await fetch(link, { headers: { accept: 'text/html' } });
    let cookie = cookies(signIn, jar);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await signIn.text())?.[1] ?? '';
    const signed = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, accept: 'text/html' },
      body: `_csrf=${encodeURIComponent(csrf)}`,
      redirect: 'manual',
    });
    cookie = cookies(signed, jar);
    const get = async (path: string) => {
      const res = await fetch(`${base}${path}`, { headers: { cookie, accept: 'text/html' } });
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      await res.text();
    };

    const prefixes = ['a', 'b3', 'c0f', 'ff1', '0a1b', '9e', 'd41d8c', 'zz'];
    for (let i = 0; i < 5; i++) {
      await get('/admin');
      await get(`/admin/subscribers?q=${prefixes[i % prefixes.length]}`);
    }
    const home: number[] = [];
    const searchPage: number[] = [];
    const searchQuery: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const q = prefixes[i % prefixes.length]!;
      home.push(await timed(() => get('/admin')));
      searchPage.push(await timed(() => get(`/admin/subscribers?q=${q}`)));
      searchQuery.push(await timed(() => searchSubscribers(db, q)));
    }
    console.log(
      `subscribers ${ROWS.toLocaleString('en')}, deliveries of the last send ${(
        await db
          .selectFrom('deliveries')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n.toLocaleString('en')}`,
    );
    console.log(`home page           GET /admin                    ${stats(home)}  (target < 200 ms)`);
    console.log(`subscriber search   GET /admin/subscribers?q=…    ${stats(searchPage)}  (target < 50 ms)`);
    console.log(`  the search query alone (searchSubscribers)      ${stats(searchQuery)}`);

    // The other pages that show counts, fewer times each.
    const sent = await db.selectFrom('sends').select('id').where('status', '=', 'done').executeTakeFirstOrThrow();
    const scheduled = await db
      .selectFrom('sends as s')
      .innerJoin('issues as i', 'i.id', 's.issue_id')
      .select('i.slug')
      .where('s.status', '=', 'scheduled')
      .executeTakeFirstOrThrow();
    const others: Array<[string, string]> = [
      ['a list', '/admin/lists/ml-news'],
      ['its issues', '/admin/lists/ml-news/issues'],
      ['send-now confirmation', `/admin/lists/ml-news/issues/${scheduled.slug}/send`],
      ['search within the list', '/admin/subscribers?list=ml-news&q=b3'],
      ['a finished send (report)', `/admin/sends/${sent.id}`],
    ];
    const few = Math.max(3, Math.ceil(REQUESTS / 4));
    for (const [label, path] of others) {
      // The first view apart: a finished send's page groups its SMTP answers on the first one.
      const first = await timed(() => get(path));
      const ms: number[] = [];
      for (let i = 0; i < few; i++) ms.push(await timed(() => get(path)));
      console.log(`${label.padEnd(26)}${stats(ms)}; first view ${first.toFixed(1)} ms`);
    }
    console.log(`load average after (1, 5, 15 min): ${load()}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await queues.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await db.destroy();
    if (!KEEP) {
      const admin = new pg.Client({ connectionString: `${SERVER}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await admin.end();
    } else console.log(`kept database ${name}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
