/**
 * Imports a generated CSV of a million subscribers and prints the rate and the memory used.
 * The point is that memory stays flat: the import streams the file and writes it in batches,
 * so peak RSS should not grow with the number of rows.
 *
 *   npm run bench:import -- [--rows 1000000] [--pending] [--again] [--export] [--keep]
 *
 * It runs compiled (tsc, then node dist/scripts/bench-import.js), as the CLI runs in
 * production: @swc-node/register alone takes 118 MB of RSS, more than the import itself, and
 * would hide what the import does to memory.
 * --pending imports without --confirmed (a confirmation job per row goes to Redis),
 * --again imports the same file a second time (every row unchanged), --export streams the
 * list back out as CSV, --keep leaves the CSV and the database in place.
 * Uses its own database on TEST_DATABASE_SERVER (default postgres://postgres@127.0.0.1:5432)
 * and its own queue prefix on REDIS_URL.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { createDb, ensureDatabase, migrateToLatest } from '../src/db/database';
import { createListFromInput } from '../src/lists/service';
import { createQueues } from '../src/queues';
import { exportSubscribers } from '../src/subscribers/export';
import { importSubscribers, type ImportReport } from '../src/subscribers/import/pipeline';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const rowsArg = args[args.indexOf('--rows') + 1];
const ROWS = args.includes('--rows') && rowsArg ? Number(rowsArg) : 1_000_000;
const SERVER = process.env.TEST_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const FILE = `/tmp/broadsheet-bench-import-${ROWS}.csv`;

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
/** maxRSS is in kilobytes. */
const peak = () => mb(process.resourceUsage().maxRSS * 1024);

async function generate(file: string, rows: number): Promise<void> {
  const out = fs.createWriteStream(file);
  out.write('email,name,cadence,status\n');
  for (let i = 0; i < rows; i++) {
    // One row in a thousand is bad, one in two hundred repeats an earlier address in other case,
    // so the report and duplicate paths are part of what is measured.
    let line: string;
    if (i % 1000 === 999) line = `not-an-address-${i},Bad Row,,`;
    else if (i % 200 === 199) line = `Reader${i - 100}@Example.com,"Repeat, ${i}",,`;
    else line = `reader${i}@example.com,"Reader ${i}",${i % 5 === 0 ? 'monthly' : 'weekly'},`;
    if (!out.write(line + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

interface Run {
  seconds: number;
  report: ImportReport;
  rssSamples: number[];
  /** process.memoryUsage() at the sample with the highest RSS: where that memory was. */
  top: NodeJS.MemoryUsage | undefined;
  /** CPU seconds used by this process and by the database's PostgreSQL backends. */
  cpu: { node: number; postgres: number };
}

/**
 * CPU seconds of every PostgreSQL backend connected to `dbName` (their process titles name
 * it): on a machine shared with other work, wall-clock rows/s says as much about the
 * neighbours as about the import, CPU time per row does not.
 */
function postgresCpuSeconds(dbName: string): number {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${dbName} `)) continue;
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / tick; // utime, stime
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

async function timedImport(dbName: string, run: () => Promise<ImportReport>): Promise<Run> {
  const rssSamples: number[] = [];
  let top: NodeJS.MemoryUsage | undefined;
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    rssSamples.push(usage.rss);
    if (!top || usage.rss > top.rss) top = usage;
  }, 1000);
  const started = process.hrtime.bigint();
  const nodeBefore = process.cpuUsage();
  const pgBefore = postgresCpuSeconds(dbName);
  try {
    const report = await run();
    const node = process.cpuUsage(nodeBefore);
    return {
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
      report,
      rssSamples,
      top,
      cpu: { node: (node.user + node.system) / 1e6, postgres: postgresCpuSeconds(dbName) - pgBefore },
    };
  } finally {
    clearInterval(timer);
  }
}

function describeRun(label: string, run: Run): void {
  const { report, seconds, rssSamples, top, cpu } = run;
  const samples = rssSamples.length ? rssSamples : [process.memoryUsage().rss];
  const pick = (f: number) => mb(samples[Math.min(samples.length - 1, Math.floor(f * samples.length))]!);
  console.log(
    `${label}: ${report.rows} rows in ${seconds.toFixed(1)} s = ${Math.round(report.rows / seconds)} rows/s ` +
      `(imported ${report.imported}, updated ${report.updated}, unchanged ${report.unchanged}, skipped ${report.skipped}, bad ${report.bad}, ` +
      `confirmations queued ${report.confirmationsQueued})`,
  );
  console.log(`  RSS during the import at 10% / 50% / 90% of the time: ${pick(0.1)} / ${pick(0.5)} / ${pick(0.9)}; peak RSS so far ${peak()}`);
  if (top) {
    console.log(
      `  at the highest sample: V8 heap ${mb(top.heapUsed)} used of ${mb(top.heapTotal)}, external ${mb(top.external)} (array buffers ${mb(top.arrayBuffers)})`,
    );
  }
  // The import's PostgreSQL time is spread over its connections (two by default), so the
  // bound that counts is all of its CPU time shared by the machine's cores.
  const allCores = (report.rows * os.cpus().length) / (cpu.node + cpu.postgres);
  console.log(
    `  CPU: node ${cpu.node.toFixed(1)} s, PostgreSQL ${cpu.postgres.toFixed(1)} s (${os.loadavg()[0]!.toFixed(1)} load average on ${os.cpus().length} cores); ` +
      `node and PostgreSQL sharing ${os.cpus().length} cores allow ${Math.round(allCores)} rows/s`,
  );
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${ROWS} rows`);
  const genStart = Date.now();
  // In a child process: writing a million lines leaves tens of MB of garbage in the heap,
  // which would count against the import's RSS in this one.
  execFileSync(process.execPath, [...process.execArgv, __filename, '--generate', '--rows', String(ROWS)], { stdio: 'inherit' });
  console.log(
    `generated ${FILE}: ${mb(fs.statSync(FILE).size)} in ${((Date.now() - genStart) / 1000).toFixed(1)} s; RSS ${mb(process.memoryUsage().rss)}, peak RSS ${peak()}`,
  );

  const dbName = `broadsheet_bench_${randomBytes(4).toString('hex')}`;
  const url = `${SERVER}/${dbName}`;
  await ensureDatabase(url);
  const db = createDb(url, { max: 4 });
  await migrateToLatest(db);
  const queues = createQueues(REDIS_URL, `broadsheet-bench-${randomBytes(4).toString('hex')}`, db);
  try {
    await createListFromInput(db, { slug: 'bench', name: 'Bench', from: 'Bench <bench@example.com>', contact: 'Bench, 1 Main Street' });
    console.log(`database ${dbName} ready; RSS before the import ${mb(process.memoryUsage().rss)}, peak RSS ${peak()}`);

    const confirmed = !flag('pending');
    const first = await timedImport(dbName, () => importSubscribers(db, queues, 'bench', fs.createReadStream(FILE), { confirmed }));
    describeRun(`import${confirmed ? ' --confirmed' : ''}`, first);
    console.log(
      `  first bad lines: ${first.report.badLines
        .slice(0, 2)
        .map((l) => `line ${l.line}: ${l.reason}`)
        .join('; ')}`,
    );

    if (flag('again')) {
      const again = await timedImport(dbName, () => importSubscribers(db, queues, 'bench', fs.createReadStream(FILE), { confirmed }));
      describeRun('same file again', again);
    }

    if (flag('export')) {
      const started = Date.now();
      let bytes = 0;
      await pipeline(
        exportSubscribers(db, (await db.selectFrom('lists').select('id').where('slug', '=', 'bench').executeTakeFirstOrThrow()).id),
        new Writable({
          write(chunk: Buffer, _enc, done) {
            bytes += chunk.length;
            done();
          },
        }),
      );
      console.log(`export: ${mb(bytes)} of CSV in ${((Date.now() - started) / 1000).toFixed(1)} s; peak RSS ${peak()}`);
    }

    console.log(`peak RSS of the whole run (process.resourceUsage().maxRSS): ${peak()}`);
  } finally {
    await queues.systemMail.obliterate({ force: true });
    await queues.close();
    await db.destroy();
    if (!flag('keep')) {
      const admin = new pg.Client({ connectionString: `${SERVER}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
      await admin.end();
      fs.rmSync(FILE, { force: true });
    } else {
      console.log(`kept ${FILE} and database ${dbName}`);
    }
  }
}

(flag('generate') ? generate(FILE, ROWS) : main()).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
