import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { GOLDEN_FILE } from '../fixtures/golden';
import { BIN, broadsheetHere, broadsheetProcess } from '../helpers/cli';
import { createTestDb, type TestDb } from '../helpers/db';
import { eventually } from '../helpers/eventually';
import { freePort } from '../helpers/ports';

// What is about the process runs the compiled binary, as a user would after `npm ci` (`npm
// test` compiles first), so that paths that differ between src/ and dist/ (templates, schema)
// are exercised too, and the exit status and stderr are the process's own: an invalid file,
// render, a user error and `start`. The commands' own behaviour (lists, editors, the
// database's list in render) runs in this process through the same runCli: a process each
// was 0.3 to 0.8 s.

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'broadsheet-cli-'));
});
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

test('validate: the golden issue is valid', async () => {
  // Here: the render test below is the process that reads the schema (and templates) from dist/.
  const r = await broadsheetHere(['validate', GOLDEN_FILE]);
  expect(r).toMatchObject({ code: 0 });
  expect(r.stdout).toMatch(/valid/);
});

test('validate: every problem on its own line with its JSON pointer, exit 1, no stack trace', async () => {
  const file = path.join(tmp, 'bad.json');
  const issue = {
    format: 1,
    list: 'ml-news',
    slug: 'Bad Slug',
    title: 't',
    date: '2021-02-30',
    sections: [{ id: 'a', title: 'A', items: [{ title: 'x', url: 'ftp://x', summary: '[a](javascript:alert(1))' }] }],
  };
  await fs.writeFile(file, JSON.stringify(issue));
  const r = await broadsheetProcess(['validate', file]);
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toEqual([
    expect.stringMatching(/^\/slug: /),
    expect.stringMatching(/^\/date: /),
    expect.stringMatching(/^\/sections\/0\/items\/0\/url: /),
    expect.stringMatching(/^\/sections\/0\/items\/0\/summary: .*javascript:/),
  ]);
  expect(r.stderr).not.toMatch(/\n\s+at /);
});

test('validate: malformed JSON names line and column', async () => {
  const file = path.join(tmp, 'broken.json');
  await fs.writeFile(file, '{\n  "format": 1,\n  "list": ]\n}');
  const r = await broadsheetHere(['validate', file]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/line 3, column 11/);
});

test('render writes MJML, HTML and text with the Chinese text intact', async () => {
  const out = path.join(tmp, 'out');
  const r = await broadsheetProcess(['render', GOLDEN_FILE, '--out', out]);
  expect(r.code).toBe(0);
  const html = await fs.readFile(path.join(out, 'index.html'), 'utf8');
  const text = await fs.readFile(path.join(out, 'index.txt'), 'utf8');
  const mjml = await fs.readFile(path.join(out, 'index.mjml'), 'utf8');
  expect(mjml).toMatch(/^<mjml/);
  expect(html).toContain('lang="zh-CN"');
  expect(html).toContain('机器学习');
  expect(text).toContain('机器学习');
  expect(Buffer.byteLength(html)).toBeLessThan(102 * 1024);
});

describe('with a database', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(() => t.drop());

  test('lists create asks for a contact line; lists update changes any setting', async () => {
    const env = { DATABASE_URL: t.url };
    const base = ['lists', 'create', 'cli-news', '--name', 'CLI News', '--from', 'CLI News <news@example.org>'];
    const missing = await broadsheetHere(base, env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--contact/);
    expect((await broadsheetHere([...base, '--contact', 'CLI Press · 1 Main Street', '--weekly', 'mon 09:00'], env)).code).toBe(0);

    const updated = await broadsheetHere(
      ['lists', 'update', 'cli-news', '--contact', 'CLI Press · 2 Side Street', '--no-weekly', '--section', 'papers:Papers', '--name', 'CLI Weekly News'],
      env,
    );
    expect(updated.code).toBe(0);
    expect(updated.stdout).toContain('contact   CLI Press · 2 Side Street');
    expect(updated.stdout).toContain('schedule  weekly (none)');
    expect(updated.stdout).toContain('sections  papers (Papers)');
    // What visitors read: a description and a line per cadence, set and cleared like the rest.
    const described = await broadsheetHere(
      ['lists', 'update', 'cli-news', '--description', 'Papers, *read* for you.', '--weekly-description', 'Five papers every Monday'],
      env,
    );
    expect(described.code).toBe(0);
    expect(described.stdout).toContain('about     Papers, *read* for you.');
    expect(described.stdout).toContain('weekly    Five papers every Monday');
    const cleared = await broadsheetHere(['lists', 'update', 'cli-news', '--no-description'], env);
    expect(cleared.stdout).toContain('about     (no description)');
    expect(cleared.stdout).toContain('weekly    Five papers every Monday');
    expect((await broadsheetHere(['lists', 'update', 'cli-news'], env)).stderr).toMatch(/^error: nothing to change/);
  }, 90_000);

  test('editors add prints a one-time sign-in link and queues its email; list; remove keeps the last owner', async () => {
    // A queue prefix of this test's own: the sign-in email is queued, and must not land in anyone else's queue.
    const env = { DATABASE_URL: t.url, REDIS_PREFIX: `bs-cli-${path.basename(tmp)}`, PUBLIC_URL: 'https://news.example.org' };
    const added = await broadsheetHere(['editors', 'add', 'Owner@Example.org', '--role', 'owner'], env);
    expect(added).toMatchObject({ code: 0 });
    expect(added.stdout).toMatch(
      /^added Owner@Example\.org \(owner\)\nsign-in link \(one use, 15 minutes; also emailed\): https:\/\/news\.example\.org\/admin\/sign-in\/sign-in\.[\w.-]+\n$/,
    );
    expect((await broadsheetHere(['editors', 'add', 'owner@example.org'], env)).stderr).toMatch(/^error: owner@example\.org is an editor already/);
    expect((await broadsheetHere(['editors', 'add', 'ed@example.org', '--role', 'chief'], env)).code).not.toBe(0);
    expect((await broadsheetHere(['editors', 'add', 'ed@example.org'], env)).code).toBe(0);
    const listed = await broadsheetHere(['editors', 'list'], env);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t').slice(0, 2)),
    ).toEqual([
      ['Owner@Example.org', 'owner'],
      ['ed@example.org', 'editor'],
    ]);
    expect((await broadsheetHere(['editors', 'remove', 'owner@example.org'], env)).stderr).toMatch(/^error: Owner@Example\.org is the last owner/);
    expect((await broadsheetHere(['editors', 'remove', 'ed@example.org'], env)).stdout).toBe('removed ed@example.org\n');
    expect((await broadsheetHere(['editors', 'remove', 'ed@example.org'], env)).stderr).toMatch(/^error: no editor ed@example\.org/);
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const keys = await redis.keys(`${env.REDIS_PREFIX}:*`);
    expect(keys.some((k) => k.includes('editor-mail'))).toBe(true);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }, 90_000);

  test("render takes the list's name and contact line from the database, and says when it cannot", async () => {
    await broadsheetHere(['lists', 'create', 'ml-news', '--name', '机器学习月报', '--from', 'ML <ml@example.org>', '--contact', 'Example Press · Berlin'], {
      DATABASE_URL: t.url,
    });
    const out = path.join(tmp, 'with-db');
    const r = await broadsheetHere(['render', GOLDEN_FILE, '--out', out], { DATABASE_URL: t.url });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('placeholder');
    const html = await fs.readFile(path.join(out, 'index.html'), 'utf8');
    expect(html).toContain('你订阅了「机器学习月报」的每周版');
    expect(html).toContain('Example Press · Berlin');

    const offline = path.join(tmp, 'offline');
    const o = await broadsheetHere(['render', GOLDEN_FILE, '--out', offline], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/broadsheet' });
    expect(o.code).toBe(0);
    expect(o.stderr).toMatch(/^note: the database could not be read .*placeholders/m);
    const offlineHtml = await fs.readFile(path.join(offline, 'index.html'), 'utf8');
    expect(offlineHtml).toContain('[list name]');
    expect(offlineHtml).not.toMatch(/>ml-news<|「ml-news」/);
  }, 90_000);

  test('a user error is one line on stderr and exit 1', async () => {
    const r = await broadsheetProcess(['subscribers', 'export', '--list', 'no-such-list'], { DATABASE_URL: t.url });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: .*no-such-list/);
  });
});

describe('broadsheet start', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(() => t.drop());

  test('serves, runs the workers and captures the confirmation email in /dev/outbox', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      PORT: String(port),
      PUBLIC_URL: base,
      DATABASE_URL: t.url,
      // A Redis database of its own, so no other process's jobs are picked up.
      REDIS_URL: 'redis://127.0.0.1:6379/7',
      SMTP_URL: '',
    };
    const list = await broadsheetHere(
      ['lists', 'create', 'smoke', '--name', 'Smoke', '--from', 'Smoke <smoke@example.org>', '--contact', 'Smoke, 1 Main Street'],
      env,
    );
    expect(list.code).toBe(0);
    const child = spawn('node', [BIN, 'start'], { env, stdio: 'pipe' });
    try {
      await waitFor(async () => (await fetch(`${base}/healthz`)).ok);
      // A new address each run: the confirmation-email limit per address lives in Redis.
      const email = `smoke-${Date.now()}@example.org`;
      const res = await fetch(`${base}/lists/smoke/subscribe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email }),
      });
      expect(res.status).toBe(202);
      await waitFor(async () => (await (await fetch(`${base}/dev/outbox`)).text()).includes(email));
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});

const waitFor = (check: () => Promise<boolean>, timeoutMs = 15_000) => eventually(check, { timeoutMs });
