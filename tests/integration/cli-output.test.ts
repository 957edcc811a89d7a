import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { formatEta, progressBar } from '../../src/cli/progress';
import { GOLDEN_FILE } from '../fixtures/golden';
import { BIN, broadsheetHere, broadsheetProcess as broadsheet, type CliResult as Result } from '../helpers/cli';
import { eventually } from '../helpers/eventually';
import { startWorld, type World } from '../helpers/world';

/**
 * What the `broadsheet` command prints, as an editor or a script sees it: the compiled binary
 * (`npm run build` first), run by a shell where a pipe is part of the test. What only sets a
 * test up, or is about a command's words rather than its process, runs in this process
 * (broadsheetHere: the same runCli).
 */
const run = promisify(execFile);

/**
 * `broadsheet ARGS | READER` through bash: the exit code is broadsheet's own (PIPESTATUS), the
 * stderr is broadsheet's, the stdout is what the reader let through.
 */
async function piped(args: string, reader: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const script = `node ${JSON.stringify(BIN)} ${args} | ${reader}; exit \${PIPESTATUS[0]}`;
  try {
    const { stdout, stderr } = await run('bash', ['-c', script], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'broadsheet-cli-output-'));
});
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

test('--version prints the version of package.json', async () => {
  const { version } = JSON.parse(await fs.readFile(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };
  // The binary finds package.json from dist/; the short flag is the same option of the same parser.
  expect(await broadsheet(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  expect(await broadsheetHere(['-V'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
});

test('output piped into a reader that stops early ends quietly: no EPIPE, no stack trace', async () => {
  // `head -n 0` goes away before reading anything: every write of broadsheet meets a closed pipe.
  for (const args of ['--help', 'issues --help']) {
    const r = await piped(args, 'head -n 0');
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  }
  const r = await piped('--help', 'head -1');
  expect(r).toMatchObject({ code: 0, stdout: 'Usage: broadsheet [options] [command]\n', stderr: '' });
});

test('the progress bars never show `ETA NFs`: an unknown time left is a dash', async () => {
  expect([formatEta('INF'), formatEta('NULL'), formatEta(Infinity), formatEta(NaN)]).toEqual(['–', '–', '–', '–']);
  expect([formatEta(0), formatEta(42), formatEta(125), formatEta(7260)]).toEqual(['0s', '42s', '2m05s', '2h01m']);

  // The bar itself, drawn by cli-progress on a terminal: nothing has moved yet, so its ETA is 'INF'.
  const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  let drawn = '';
  terminal.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
  const bar = progressBar('sending [{bar}] {value}/{total} | ETA {eta_formatted}', terminal);
  bar.start(1000, 10);
  bar.update(10);
  bar.update(10);
  bar.render();
  bar.stop();
  expect(drawn).toContain('10/1000 | ETA –');
  expect(drawn).not.toMatch(/NFs|LLs/);
});

describe('with a database', () => {
  let world: World;
  let t: World['test'];
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    // The workers run in this process (the send test's: they plan the send), and its SMTP server
    // turns every connection away, so nothing is ever sent. The world's queue prefix is this
    // file's own: the sends and confirmations it queues are nobody else's.
    world = await startWorld({ list: false, onConnect: () => ({ code: 421, message: 'not today' }) });
    t = world.test;
    env = { DATABASE_URL: t.url, REDIS_PREFIX: world.prefix, DATA_DIR: world.dataDir };
    const created = await broadsheetHere(
      ['lists', 'create', 'ml-news', '--name', 'ML News', '--from', 'ML News <news@example.org>', '--contact', 'Example Press · 1 Main Street'],
      env,
    );
    expect(created.code).toBe(0);
  }, 60_000);
  afterAll(() => world?.close());

  test('subscribers import exits 1 when a line was rejected and 0 when all are good, printing the report either way', async () => {
    const good = path.join(tmp, 'good.csv');
    await fs.writeFile(good, 'email,name\nada@example.org,Ada\ngrace@example.org,Grace\n');
    const allGood = await broadsheet(['subscribers', 'import', good, '--list', 'ml-news', '--confirmed'], env);
    expect(allGood.code).toBe(0);
    expect(allGood.stdout).toContain('2 rows: imported 2, updated 0, unchanged 0, skipped 0, bad 0');
    expect(allGood.stdout).toContain('The file was processed.');
    expect(allGood.stderr).toBe('');

    const mixed = path.join(tmp, 'mixed.csv');
    await fs.writeFile(
      mixed,
      Buffer.concat([
        Buffer.from('email,name\nlin@example.org,Lin\nnot-an-address,Nobody\nlatin1@example.org,Zo'),
        Buffer.from([0xeb]),
        Buffer.from(`\nnul@example.org,A\u0000B\nhuge@example.org,"${'x'.repeat(70 * 1024)}\nmay@example.org,May\n`),
      ]),
    );
    const r = await broadsheet(['subscribers', 'import', mixed, '--list', 'ml-news', '--confirmed'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('6 rows: imported 2, updated 0, unchanged 0, skipped 0, bad 4');
    expect(r.stdout).toContain('  line 3: invalid email "not-an-address"');
    expect(r.stdout).toContain('  line 4: not valid UTF-8 text (save the file as "CSV UTF-8"); the line was left out');
    expect(r.stdout).toContain('  line 5: contains a NUL character (a zero byte), which no address or name holds; the line was left out');
    expect(r.stdout).toMatch(/^ {2}line 6: longer than 64 KB .*the line was left out$/m);
    expect(r.stderr).toBe(`error: ${mixed}: 4 lines rejected (listed above); the other rows are imported\n`);
    // The good rows around them are kept.
    const emails = await t.db.selectFrom('subscribers').select('email').orderBy('email').execute();
    expect(emails.map((e) => e.email)).toEqual(['ada@example.org', 'grace@example.org', 'lin@example.org', 'may@example.org']);
  }, 60_000);

  test('lists and exports piped into head end quietly', async () => {
    for (const [args, reader] of [
      ['lists list', 'head -n 0'],
      ['subscribers export --list ml-news', 'head -n 0'],
      ['subscribers export --list ml-news', 'head -1'],
    ] as const) {
      const r = await piped(args, reader, env);
      expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
      expect(r.code).toBe(0);
      if (reader === 'head -1') expect(r.stdout).toBe('email,name,cadence,status,created_at,confirmed_at\n');
    }
  }, 60_000);

  test('send --wait on a terminal never shows `ETA NFs`; a cancelled send says "cancelled"', async () => {
    const readers = path.join(tmp, 'readers.csv');
    await fs.writeFile(readers, 'email,cadence\nw1@example.org,weekly\nw2@example.org,weekly\n');
    expect((await broadsheetHere(['subscribers', 'import', readers, '--list', 'ml-news', '--confirmed'], env)).code).toBe(0);
    expect((await broadsheetHere(['issues', 'import', GOLDEN_FILE, '--list', 'ml-news'], env)).code).toBe(0);
    const slug = (JSON.parse(await fs.readFile(GOLDEN_FILE, 'utf8')) as { slug: string }).slug;
    // The world's workers plan the send, but its SMTP server turns every connection away: nothing
    // is sent, so on a terminal (script(1) gives --wait one) the bar has no rate to divide by and
    // its time left is unknown until the send is cancelled.
    const waiting = spawn('script', ['-qfec', `node ${JSON.stringify(BIN)} issues send ${slug} --list ml-news --wait`, '/dev/null'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let terminal = '';
    waiting.stdout.on('data', (chunk: Buffer) => (terminal += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => waiting.once('exit', resolve));
    try {
      await eventually(() => terminal.includes('ETA'), { timeoutMs: 30_000, everyMs: 100, what: 'the progress bar' });
      expect(terminal).toContain(`sending: ${slug}`);
      const r = await broadsheetHere(['issues', 'cancel', slug, '--list', 'ml-news'], env);
      expect(await exited).toBe(0); // --wait ends when the send does, drawing the bar a last time
      expect(terminal).toMatch(/sending \[.*\] 0% \| 0\/\d+ \| 0\.0 msg\/s \| ETA –/);
      expect(terminal).not.toMatch(/NFs|LLs/);
      expect(terminal).toMatch(/^status {5}cancelled/m);
      checkCancelled(r, slug);
    } finally {
      waiting.kill('SIGKILL');
    }
  }, 60_000);

  function checkCancelled(r: Result, slug: string) {
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`cancelled: ${slug}`);
    expect(r.stdout).toMatch(/^status {5}cancelled/m);
    expect(r.stdout + r.stderr).not.toMatch(/cancel(?!led)[a-z]*d\b|canceled/);
  }
});
