/**
 * `npm run bench:send`: one whole send, end to end, as it runs in production.
 *
 *   node -r @swc-node/register scripts/bench-send.ts [--recipients 100000] [--concurrency 8] [--batch 200]
 *                                                     [--plan-only] [--compiled] [--profile] [--keep-log]
 *                                                     [--worker-flags "--max-semi-space-size=4 …"]
 *
 * - N confirmed weekly subscribers (one INSERT … SELECT), the list ml-news with a contact
 *   line, the golden fixture imported as an issue (about 70 KB of HTML a message).
 * - postfix's `smtp-sink` on a free loopback port (it accepts and discards), and ONE worker as a
 *   child process (scripts/bench-worker.ts = `broadsheet worker`) sending into it, with
 *   SEND_CONCURRENCY connections and SEND_BATCH_SIZE deliveries per batch job.
 * - The send is started as `issues send` starts it (sendAction … 'send'), then the database is
 *   polled every 200 ms. Planning time: from the send's start until planned_at; end to end:
 *   from the start until the send is done; delivered = deliveries with status 'sent' (checked
 *   against what smtp-sink counted). Peak RSS of the worker: VmHWM from /proc at the end.
 * - For comparison, postfix's `smtp-source` sends the same number of messages of the same size
 *   (a real message of this send, written to a file) with the same number of sessions into
 *   the same sink, reusing connections as the worker's pool does (-d); the ratio is
 *   Broadsheet's rate over smtp-source's.
 * - --plan-only (use with --recipients 1000000): inserts the subscribers, creates the send and
 *   runs planSend in this process, prints the time to plan, and stops without sending.
 * - --profile: the worker runs with --cpu-prof; the .cpuprofile is left in /tmp and the
 *   heaviest functions are printed.
 * - --compiled: the worker is `bin/broadsheet.js worker` (the build in dist/, as deployed)
 *   instead of scripts/bench-worker.ts under @swc-node/register, whose compiler alone takes
 *   some 70 MB of RSS; run `npm run build` first.
 *
 * Uses its own database on TEST_DATABASE_SERVER (default postgres://postgres@127.0.0.1:5432)
 * and its own key prefix on REDIS_URL (default redis://127.0.0.1:6379); both are removed at the
 * end, and the children are stopped, also on an error or Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { createDb, ensureDatabase, migrateToLatest, type Db } from '../src/db/database';
import { importIssue } from '../src/issues/repository';
import { loadTemplates } from '../src/issues/templates';
import { validateIssueFile } from '../src/issues/validate';
import { createList } from '../src/lists/repository';
import { formatAddress, stableMessageId, unsubscribeHeaders } from '../src/mail/headers';
import { createQueues, type Queues } from '../src/queues';
import { sendNow } from '../src/sending/control';
import { sendAction } from '../src/sending/editor';
import { planSend } from '../src/sending/plan';
import { sendStore } from '../src/sending/repository';
import { compileVariant } from '../src/sending/variants';
import { subscriberLink } from '../src/subscribers/tokens';
import { GOLDEN_FILE } from '../tests/fixtures/golden';
import { freePort } from '../tests/helpers/ports';

const TARGET_RATE = 1500;
const TARGET_RSS_MB = 120;
const TARGET_PLAN_1M_S = 30;
const TARGET_RATIO = 0.4;
const POLL_MS = 200;
/** The send fails the benchmark when no delivery finishes for this long. */
const STALL_MS = 60_000;

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
function num(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a whole number of at least 1, got "${args[i + 1] ?? ''}"`);
  return n;
}
const PLAN_ONLY = flag('plan-only');
const RECIPIENTS = num('recipients', PLAN_ONLY ? 1_000_000 : 100_000);
const CONCURRENCY = num('concurrency', 8);
const BATCH = num('batch', 200);
const PROFILE = flag('profile');
const COMPILED = flag('compiled');
/**
 * Node's flags for the worker: those of `npm run worker` (package.json), which compose.yaml's
 * worker service uses too, unless --worker-flags "…" names others ("" for none).
 */
const WORKER_FLAGS = (
  args.includes('--worker-flags')
    ? (args[args.indexOf('--worker-flags') + 1] ?? '')
    : (/^node((?: --[^ ]+)*) bin\/broadsheet\.js worker$/.exec(
        (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.worker ?? '',
      )?.[1] ?? '')
)
  .split(/\s+/)
  .filter(Boolean);
const SERVER = process.env.TEST_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SMTP_SINK = process.env.SMTP_SINK ?? '/usr/sbin/smtp-sink';
const SMTP_SOURCE = process.env.SMTP_SOURCE ?? '/usr/sbin/smtp-source';
const PUBLIC_URL = 'http://news.example.org';
const SECRET_KEY = 'bench-secret-key-for-links-000001';

const id = randomBytes(4).toString('hex');
const DB_NAME = `broadsheet_bench_${id}`;
const DB_URL = `${SERVER}/${DB_NAME}`;
const PREFIX = `broadsheet-bench-${id}`;
const WORK_DIR = fs.mkdtempSync(path.join(os.tmpdir(), `broadsheet-bench-send-${id}-`));

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (kb: number) => `${Math.round(kb / 1024)} MB`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => console.log(line);

// ---------------------------------------------------------------------------------------------
// Children: tracked, so that an error, Ctrl-C or a plain exit never leaves one running.

const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Asks a child to stop, and kills it if it has not within `graceMs`. */
async function stop(child: ChildProcess | undefined, graceMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

// ---------------------------------------------------------------------------------------------
// smtp-sink

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

interface Sink {
  port: number;
  child: ChildProcess;
  /** Messages the sink has received ('.' seen), from its -c counter. */
  received(): number;
}

async function startSink(): Promise<Sink> {
  if (!fs.existsSync(SMTP_SINK)) throw new Error(`${SMTP_SINK} not found (apt-get install postfix, or set SMTP_SINK)`);
  const port = await freePort();
  // -c: counters on stdout; -u: required when run as root; backlog 1000.
  const sinkArgs = ['-c', ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), `127.0.0.1:${port}`, '1000'];
  const child = track(spawn(SMTP_SINK, sinkArgs, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let received = 0;
  let tail = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('latin1')).slice(-200);
    const all = [...tail.matchAll(/mesg=(\d+)/g)];
    if (all.length) received = Number(all[all.length - 1]![1]);
  });
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') console.error(`smtp-sink exited (${code ?? signal}): ${err.trim()}`);
  });
  await waitForPort(port, 5000);
  return { port, child, received: () => received };
}

// ---------------------------------------------------------------------------------------------
// The worker

interface Worker {
  child: ChildProcess;
  logFile: string;
  profileDir: string;
  rssSamples: number[];
  /** VmHWM (peak RSS) and CPU seconds (user + system) from /proc, while it runs. */
  proc(): { hwmKb: number; rssKb: number; cpuS: number };
}

function readProc(pid: number): { hwmKb: number; rssKb: number; cpuS: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  // /proc/PID/stat: fields after the ")" of the command name; utime and stime are 14 and 15.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return { hwmKb: field('VmHWM'), rssKb: field('VmRSS'), cpuS: ticks / 100 };
}

/** CPU seconds of a process that may have exited already (then 0). */
function cpuOf(pid: number | undefined): number {
  try {
    return pid ? readProc(pid).cpuS : 0;
  } catch {
    return 0;
  }
}

/** Source files changed after the build the compiled worker would run. */
function staleBuild(root: string): string[] {
  const built = path.join(root, 'dist', 'src', 'cli.js');
  if (!fs.existsSync(built)) throw new Error('--compiled: dist/ is missing; run `npm run build` first');
  const builtAt = fs.statSync(built).mtimeMs;
  const newer: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts') && fs.statSync(p).mtimeMs > builtAt) newer.push(path.relative(root, p));
    }
  };
  walk(path.join(root, 'src'));
  return newer;
}

async function startWorker(smtpPort: number): Promise<Worker> {
  const logFile = path.join(WORK_DIR, 'worker.log');
  const profileDir = path.join(os.tmpdir(), `broadsheet-bench-send-profile-${id}`);
  const log = fs.createWriteStream(logFile);
  const root = path.join(__dirname, '..');
  // The TypeScript entry by default (the code in the tree, no build); --compiled runs the
  // built CLI as deployed (`broadsheet worker`), without the TypeScript compiler in memory.
  const entry = COMPILED ? [path.join(root, 'bin', 'broadsheet.js'), 'worker'] : ['-r', '@swc-node/register', path.join(__dirname, 'bench-worker.ts')];
  if (COMPILED) {
    const stale = staleBuild(root);
    if (stale.length) console.warn(`warning: dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}; run \`npm run build\``);
  }
  const nodeArgs = [...WORKER_FLAGS, ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...entry];
  const child = track(
    spawn(process.execPath, nodeArgs, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        DATABASE_URL: DB_URL,
        REDIS_URL,
        REDIS_PREFIX: PREFIX,
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}?tls=off`,
        PUBLIC_URL,
        SECRET_KEY,
        DATA_DIR: path.join(WORK_DIR, 'data'),
        SEND_CONCURRENCY: String(CONCURRENCY),
        SEND_BATCH_SIZE: String(BATCH),
        SEND_RATE: '0',
      },
    }),
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const rssSamples: number[] = [];
  const pid = child.pid!;
  const sampler = setInterval(() => {
    try {
      const { rssKb } = readProc(pid);
      if (rssKb > 0) rssSamples.push(rssKb); // a zombie has no VmRSS
    } catch {
      clearInterval(sampler); // gone
    }
  }, 100);
  child.once('exit', () => clearInterval(sampler));
  // Ready when it says so (pino, one JSON object a line).
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`the worker did not start within 60 s; see ${logFile}`)), 60_000);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      if (buffered.includes('broadsheet workers running')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve();
      }
      buffered = buffered.slice(-500);
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited (${code ?? signal}) before it was ready; see ${logFile}`));
    });
  });
  return { child, logFile, profileDir, rssSamples, proc: () => readProc(pid) };
}

/**
 * The functions with the most self time in a .cpuprofile, and the share of each. Native code
 * (no script) is named after the nearest JavaScript function that called it, since "(anonymous)"
 * alone says nothing; "(idle)" is time the worker waited.
 */
function profileSummary(file: string, top = 20): string[] {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[] };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const root = `${path.join(__dirname, '..')}/`;
  const label = (n: Node) => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url.replace(/^file:\/\//, '').replace(root, '')}:${f.lineNumber + 1}`;
  };
  const hitsOf = new Map<number, number>();
  for (const s of profile.samples) hitsOf.set(s, (hitsOf.get(s) ?? 0) + 1);
  const self = new Map<string, number>();
  for (const [id, hits] of hitsOf) {
    const node = nodes.get(id)!;
    let key: string;
    if (node.callFrame.url || /^\(/.test(node.callFrame.functionName)) key = node.callFrame.url ? label(node) : node.callFrame.functionName;
    else {
      let up = parent.get(id);
      while (up !== undefined && !nodes.get(up)!.callFrame.url) up = parent.get(up);
      key = `native ${node.callFrame.functionName || ''} ← ${up === undefined ? '?' : label(nodes.get(up)!)}`.replace('  ', ' ');
    }
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  const total = profile.samples.length;
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, hits]) => `${((100 * hits) / total).toFixed(1).padStart(5)} %  ${key}`);
}

// ---------------------------------------------------------------------------------------------
// Database

async function addSubscribers(db: Db, listId: string, n: number): Promise<void> {
  await sql`
    WITH people AS (
      INSERT INTO subscribers (email, name)
      SELECT 'bench-' || i || '@example.org', CASE WHEN i % 3 = 0 THEN '' ELSE '读者 ' || i END
      FROM generate_series(1, ${n}) i
      RETURNING id
    )
    INSERT INTO subscriptions (list_id, subscriber_id, status, cadence, paused, excluded_sections, consent_source, confirmed_at)
    SELECT ${listId}, id, 'active', 'weekly', false, '{}'::text[], 'bench', now()
    FROM people
  `.execute(db);
  // A real list of this size has statistics; a table filled a moment ago has none yet.
  await sql`ANALYZE subscribers`.execute(db);
  await sql`ANALYZE subscriptions`.execute(db);
}

async function sendRow(db: Db) {
  return db.selectFrom('sends').select(['id', 'status', 'pause_reason', 'started_at', 'planned_at', 'finished_at', 'planned']).executeTakeFirst();
}

async function sentCount(db: Db): Promise<number> {
  const row = await db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'sent')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function deliveryCounts(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** One message of this send exactly as the worker built it for its first recipient (batch.ts). */
async function realMessage(db: Db): Promise<Buffer> {
  const send = await db.selectFrom('sends').selectAll().executeTakeFirstOrThrow();
  const issue = await db.selectFrom('issues').selectAll().where('id', '=', send.issue_id).executeTakeFirstOrThrow();
  const list = await db.selectFrom('lists').selectAll().where('id', '=', send.list_id).executeTakeFirstOrThrow();
  const row = await db
    .selectFrom('deliveries as d')
    .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select(['d.subscription_id', 'p.email', 'p.name'])
    .where('d.send_id', '=', send.id)
    .orderBy('d.id')
    .limit(1)
    .executeTakeFirstOrThrow();
  const config = loadConfig({ NODE_ENV: 'production', PUBLIC_URL, SECRET_KEY });
  const variant = await compileVariant({ send, issue, list, publicUrl: PUBLIC_URL, templates: loadTemplates() }, []);
  const now = new Date();
  const unsubscribeUrl = subscriberLink(config, 'unsubscribe', row.subscription_id, now);
  return variant.mime.build({
    to: formatAddress(row.name ?? '', row.email),
    messageId: stableMessageId([send.id, row.subscription_id], PUBLIC_URL),
    date: now,
    headers: unsubscribeHeaders(unsubscribeUrl, list.from_address),
    values: {
      name: row.name ?? '',
      preferences_url: subscriberLink(config, 'preferences', row.subscription_id, now),
      unsubscribe_url: unsubscribeUrl,
      web_url: `${PUBLIC_URL}/lists/${encodeURIComponent(list.slug)}/archive/${encodeURIComponent(issue.slug)}`,
    },
  }).raw;
}

// ---------------------------------------------------------------------------------------------
// smtp-source

async function runSmtpSource(port: number, count: number, sessions: number, file: string): Promise<number> {
  if (!fs.existsSync(SMTP_SOURCE)) throw new Error(`${SMTP_SOURCE} not found (apt-get install postfix, or set SMTP_SOURCE)`);
  // -d: keep the connection for the next message, as the worker's pool does.
  const sourceArgs = ['-d', '-s', String(sessions), '-m', String(count), '-f', 'news@example.org', '-t', 'reader@example.org', '-F', file, `127.0.0.1:${port}`];
  const started = process.hrtime.bigint();
  const child = track(spawn(SMTP_SOURCE, sourceArgs, { stdio: ['ignore', 'ignore', 'pipe'] }));
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (code !== 0) throw new Error(`smtp-source exited with ${code}: ${err.trim()}`);
  return ms;
}

// ---------------------------------------------------------------------------------------------

interface Resources {
  db?: Db;
  queues?: Queues;
  sink?: Sink;
  worker?: Worker;
}
const res: Resources = {};
let cleaned: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await stop(res.worker?.child).catch(() => {});
    await stop(res.sink?.child, 2000).catch(() => {});
    await res.queues?.close().catch(() => {});
    // Every key of this run: the queues, the rate-limit counters.
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } catch (err) {
      console.error(`could not remove the Redis keys ${PREFIX}:*: ${(err as Error).message}`);
    } finally {
      redis.disconnect();
    }
    await res.db?.destroy().catch(() => {});
    const admin = new pg.Client({ connectionString: `${SERVER}/postgres` });
    try {
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(DB_NAME)} WITH (FORCE)`);
    } catch (err) {
      console.error(`could not drop database ${DB_NAME}: ${(err as Error).message}`);
    } finally {
      await admin.end().catch(() => {});
    }
    if (flag('keep-log') && res.worker) console.log(`kept the worker's log: ${res.worker.logFile}`);
    else fs.rmSync(WORK_DIR, { recursive: true, force: true });
  })();
  return cleaned;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the children and cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function setUp(): Promise<{ db: Db; queues: Queues; listId: string }> {
  say(
    `node ${process.version}, ${os.cpus().length} cores, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; database ${DB_NAME}, Redis prefix ${PREFIX}`,
  );
  await ensureDatabase(DB_URL);
  const db = (res.db = createDb(DB_URL, { max: 4 }));
  await migrateToLatest(db);
  const queues = (res.queues = createQueues(REDIS_URL, PREFIX, db));
  const list = await createList(db, {
    slug: 'ml-news',
    name: '机器学习月报',
    from_address: '"ML News" <news@example.org>',
    language: 'zh-CN',
    contact: 'Example Press · 1 Main Street · Berlin',
    sections: [],
  });
  const checked = await validateIssueFile(GOLDEN_FILE);
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
  await importIssue(db, { list, issue: checked.issue, baseDir: checked.baseDir, dataDir: path.join(WORK_DIR, 'data') });

  const started = Date.now();
  await addSubscribers(db, list.id, RECIPIENTS);
  say(`inserted ${RECIPIENTS} confirmed weekly subscribers in ${seconds(Date.now() - started)} (one INSERT … SELECT, then ANALYZE)`);
  return { db, queues, listId: list.id };
}

async function planOnly(db: Db, queues: Queues): Promise<void> {
  const issue = await db.selectFrom('issues').selectAll().executeTakeFirstOrThrow();
  const list = await db.selectFrom('lists').selectAll().executeTakeFirstOrThrow();
  const t0 = Date.now();
  // As `issues send` does: create the send and start it (it queues a plan job nobody takes),
  // then plan it here, as the worker's plan job would.
  const send = await sendNow({ db, queues }, issue, list, BATCH);
  const t1 = Date.now();
  const outcome = await planSend({ store: sendStore(db), queues }, send.id);
  const planMs = Date.now() - t1;
  const row = (await sendRow(db))!;
  const deliveries = Number(
    (
      await db
        .selectFrom('deliveries')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
  const batchJobs = await queues.queue('send-batch').count();
  say(`send created and started in ${seconds(t1 - t0)}; planSend: ${outcome}, status ${row.status}, ${deliveries} deliveries, ${batchJobs} batch jobs queued`);
  const ok = planMs / 1000 <= TARGET_PLAN_1M_S;
  say(
    `recipients ${RECIPIENTS} | plan ${seconds(planMs)} (${Math.round(RECIPIENTS / (planMs / 1000))} recipients/s, ` +
      `started_at → planned_at ${seconds(row.planned_at!.getTime() - row.started_at!.getTime())})`,
  );
  const scaled = RECIPIENTS === 1_000_000 ? planMs : (planMs * 1_000_000) / RECIPIENTS;
  say(`plan a million recipients  ${seconds(scaled)}${RECIPIENTS === 1_000_000 ? '' : ' (scaled linearly)'}  target ≤ ${TARGET_PLAN_1M_S} s  ${verdict(ok)}`);
  if (RECIPIENTS === 1_000_000 && !ok) process.exitCode = 1;
  if (deliveries !== RECIPIENTS) {
    console.error(`expected ${RECIPIENTS} deliveries, found ${deliveries}`);
    process.exitCode = 1;
  }
}

async function fullSend(db: Db, queues: Queues): Promise<void> {
  const sink = (res.sink = await startSink());
  const worker = (res.worker = await startWorker(sink.port));
  say(
    `smtp-sink on 127.0.0.1:${sink.port}; worker pid ${worker.child.pid} (node ${[...WORKER_FLAGS, COMPILED ? 'bin/broadsheet.js worker' : 'scripts/bench-worker.ts'].join(' ')}, SEND_CONCURRENCY ${CONCURRENCY}, SEND_BATCH_SIZE ${BATCH}), RSS when ready ${mb(worker.proc().rssKb)}`,
  );
  const workerExit = new Promise<never>((_, reject) =>
    worker.child.once('exit', (code, signal) => reject(new Error(`the worker exited (${code ?? signal}) during the send; see ${worker.logFile}`))),
  );
  workerExit.catch(() => {});
  const sinkCpu0 = cpuOf(sink.child.pid);
  const workerCpu0 = worker.proc().cpuS;

  const issue = await db.selectFrom('issues').selectAll().executeTakeFirstOrThrow();
  const list = await db.selectFrom('lists').selectAll().executeTakeFirstOrThrow();
  const t0 = Date.now();
  await sendAction({ db, queues, config: { sendBatchSize: BATCH } }, issue, list, 'send');

  // Poll every 200 ms: the send's row each time, the count of sent deliveries every 5 s.
  let lastCount = 0;
  let lastMove = Date.now();
  let lastReport = Date.now();
  let planSeen = false;
  let row: Awaited<ReturnType<typeof sendRow>>;
  for (;;) {
    row = await Promise.race([sendRow(db), workerExit]);
    if (!row) throw new Error('the send row is gone');
    if (row.planned_at && !planSeen) {
      planSeen = true;
      say(`  planned: ${row.planned} deliveries, ${seconds(row.planned_at.getTime() - t0)} after the send started`);
    }
    if (row.status === 'done') break;
    if (row.status === 'paused' || row.status === 'cancelled') throw new Error(`the send is ${row.status}: ${row.pause_reason ?? ''}`);
    if (Date.now() - lastReport >= 5000) {
      lastReport = Date.now();
      const n = await sentCount(db);
      const elapsed = (Date.now() - t0) / 1000;
      say(`  ${elapsed.toFixed(0).padStart(4)} s: ${n} sent (${Math.round(n / elapsed)}/s so far), worker RSS ${mb(worker.proc().rssKb)}`);
      if (n !== lastCount) {
        lastCount = n;
        lastMove = Date.now();
      } else if (Date.now() - lastMove > STALL_MS) {
        throw new Error(`no delivery finished for ${STALL_MS / 1000} s (status ${row.status}); see ${worker.logFile}`);
      }
    }
    await sleep(POLL_MS);
  }
  const { hwmKb, cpuS } = worker.proc();
  const workerCpu = cpuS - workerCpu0;
  const sinkCpu = cpuOf(sink.child.pid) - sinkCpu0;
  const counts = await deliveryCounts(db);
  const delivered = counts.sent ?? 0;
  // The rows' own times (set by the CLI and the worker on this machine) are exact; the
  // polling only notices them up to 200 ms later.
  const planMs = row.planned_at!.getTime() - t0;
  const sendMs = row.finished_at!.getTime() - t0;
  const rate = delivered / (sendMs / 1000);
  await sleep(300); // smtp-sink's counter lags a little
  const sinkReceived = sink.received();

  // Stop the worker now: the profile is written when it exits, and smtp-source gets both cores.
  await stop(worker.child);
  const samples = worker.rssSamples;
  const sampledPeakKb = samples.length ? Math.max(...samples) : 0;

  // smtp-source: the same count, the same size, the same number of sessions, into the same sink.
  const message = await realMessage(db);
  const file = path.join(WORK_DIR, 'message.eml');
  // smtp-source -F appends CRLF to each line it reads: the file has bare LFs.
  fs.writeFileSync(file, message.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
  const sourceMs = await runSmtpSource(sink.port, delivered, CONCURRENCY, file);
  const sourceRate = delivered / (sourceMs / 1000);
  const ratio = rate / sourceRate;

  say('');
  say(`deliveries: ${JSON.stringify(counts)}; smtp-sink counted ${sinkReceived} messages from the worker`);
  say(
    `message: ${message.length} bytes (${(message.length / 1024).toFixed(1)} KiB) as sent; ` +
      `${((delivered * message.length) / 1024 / 1024 / (sendMs / 1000)).toFixed(0)} MiB/s on the wire`,
  );
  say(
    `worker CPU ${workerCpu.toFixed(1)} s over ${seconds(sendMs)} (${((100 * workerCpu) / (sendMs / 1000)).toFixed(0)} % of one core, ` +
      `${((1e6 * workerCpu) / Math.max(1, delivered)).toFixed(0)} µs a message); smtp-sink CPU ${sinkCpu.toFixed(1)} s`,
  );
  say(`worker RSS: peak (VmHWM) ${mb(hwmKb)}, peak of the 100 ms samples ${mb(sampledPeakKb)}, last sample ${mb(samples[samples.length - 1] ?? 0)}`);
  say(`smtp-source -d -s ${CONCURRENCY} -m ${delivered} -F <${message.length} B>: ${seconds(sourceMs)}`);
  say('');
  say(
    `recipients ${RECIPIENTS} | plan ${seconds(planMs)} | send ${seconds(sendMs)} | ${Math.round(rate)} msg/s end-to-end ` +
      `(${delivered} delivered) | worker peak RSS ${mb(hwmKb)} | smtp-source ${Math.round(sourceRate)} msg/s | ratio ${ratio.toFixed(2)}`,
  );
  const rows: [string, string, string, boolean | undefined][] = [
    ['end-to-end', `${Math.round(rate)} msg/s`, `≥ ${TARGET_RATE} msg/s`, rate >= TARGET_RATE],
    ['worker peak RSS', mb(hwmKb), `≤ ${TARGET_RSS_MB} MB`, hwmKb / 1024 <= TARGET_RSS_MB],
    ['ratio to smtp-source', ratio.toFixed(2), `≥ ${TARGET_RATIO.toFixed(2)}`, ratio >= TARGET_RATIO],
    ['planning', seconds(planMs), `(a million: --plan-only, ≤ ${TARGET_PLAN_1M_S} s)`, undefined],
  ];
  for (const [what, value, target, ok] of rows) {
    say(`${what.padEnd(22)} ${value.padEnd(12)} target ${target.padEnd(12)} ${ok === undefined ? '' : verdict(ok)}`);
  }
  if (delivered !== RECIPIENTS) {
    console.error(`expected ${RECIPIENTS} delivered, found ${delivered}`);
    process.exitCode = 1;
  }
  if (rows.some(([, , , ok]) => ok === false)) process.exitCode = 1;

  if (PROFILE) {
    const profiles = fs.existsSync(worker.profileDir) ? fs.readdirSync(worker.profileDir).filter((f) => f.endsWith('.cpuprofile')) : [];
    if (!profiles.length) say(`no CPU profile was written to ${worker.profileDir}`);
    for (const p of profiles) {
      const file = path.join(worker.profileDir, p);
      say('');
      say(`worker CPU profile ${file} (open it in Chrome DevTools); self time:`);
      for (const line of profileSummary(file)) say(`  ${line}`);
    }
  }
}

async function main(): Promise<void> {
  const { db, queues } = await setUp();
  if (PLAN_ONLY) await planOnly(db, queues);
  else await fullSend(db, queues);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  })
  .finally(() => cleanup())
  .finally(() => process.exit());
