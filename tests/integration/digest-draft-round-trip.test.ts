import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import express from 'express';
import { assetRoutes } from '../../src/archive/assets';
import type { Issue } from '../../src/issues/types';
import { broadsheetHere } from '../helpers/cli';
import { createTestDb, type TestDb } from '../helpers/db';

/**
 * `broadsheet digest draft LIST MONTH > any/folder/d.json && broadsheet validate any/folder/d.json
 * && broadsheet issues import any/folder/d.json`, as an editor types it: the compiled binary
 * (`npm run build` first), run from a folder outside the project, with DATA_DIR in yet another
 * folder, over two sent weeklies that share a story with an image. The first test runs that
 * line as typed; the others draft in a process (a redirect or a pipe is what they are about) and
 * validate and import in this one (the same runCli, with the file's full path: a process each
 * was 0.5 to 0.7 s of CPU, and the first test already shows them from the editor's folder).
 */

const BIN = path.resolve(__dirname, '../../bin/broadsheet.js');
const IMAGE = path.resolve(__dirname, '../fixtures/golden/images/art-detection.png');
const OTHER_IMAGE = path.resolve(__dirname, '../fixtures/golden/images/charactergan.png');
const run = promisify(execFile);

let t: TestDb;
let home: string; // where the editor works: outside the project
let dataDir: string; // where the server keeps assets: elsewhere again
let env: NodeJS.ProcessEnv;

async function sh(command: string, extra: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run('sh', ['-c', command], { cwd: home, env: { ...env, ...extra } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const broadsheet = (args: string, extra: NodeJS.ProcessEnv = {}) => sh(`node ${BIN} ${args}`, extra);

function weekly(slug: string, date: string, items: Issue['sections'][number]['items']): Issue {
  return { format: 1, list: 'ml-news', slug, title: `Week ${slug}`, date, sections: [{ id: 'papers', title: 'Papers', items }] };
}

const SHARED_URL = 'https://example.com/shared-story';

beforeAll(async () => {
  t = await createTestDb();
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'bs-editor-'));
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bs-data-'));
  env = { ...process.env, DATABASE_URL: t.url, DATA_DIR: dataDir, REDIS_PREFIX: `bs-draft-${path.basename(home)}`, PUBLIC_URL: 'http://localhost:3999' };
  delete env.INIT_CWD;

  // The setup runs the same commands in this process (a process each is what the tests below
  // are about, not this): the list, then two weeklies written in their own folders, each with
  // its images, imported by the CLI.
  const created = await broadsheetHere(
    [
      ...['lists', 'create', 'ml-news', '--name', 'ML News', '--from', 'ML News <news@example.org>', '--contact', 'Example Press'],
      ...['--timezone', 'Europe/Berlin', '--weekly', 'mon 09:00', '--monthly', '1 09:00'],
    ],
    env,
  );
  expect(created).toMatchObject({ code: 0 });

  const w1 = weekly('w1', '2021-02-01', [
    { title: 'Shared story', url: SHARED_URL, image: { src: 'images/shared.png', alt: 'the chart' }, summary: 'First telling.' },
    { title: 'Only in w1', url: 'https://example.com/one' },
  ]);
  const w2 = weekly('w2', '2021-02-08', [
    { title: 'Only in w2', url: 'https://example.com/two', image: { src: 'pics/two.png', alt: 'two' } },
    // The same story again, updated, without its picture this time.
    { title: 'Shared story, updated', url: `${SHARED_URL}/#update`, summary: 'Second telling.' },
  ]);
  for (const [issue, image, rel] of [
    [w1, IMAGE, 'images/shared.png'],
    [w2, OTHER_IMAGE, 'pics/two.png'],
  ] as const) {
    const dir = path.join(home, 'weeklies', issue.slug);
    await fs.mkdir(path.join(dir, path.dirname(rel)), { recursive: true });
    await fs.copyFile(image, path.join(dir, rel));
    await fs.writeFile(path.join(dir, 'issue.json'), JSON.stringify(issue));
    expect(await broadsheetHere(['issues', 'import', path.join(dir, 'issue.json')], env)).toMatchObject({ code: 0 });
  }
  // Both went out (what a finished send leaves in its row; sending them is other tests' work).
  const list = await t.db.selectFrom('lists').select('id').where('slug', '=', 'ml-news').executeTakeFirstOrThrow();
  for (const slug of ['w1', 'w2']) {
    const issue = await t.db.selectFrom('issues').select('id').where('slug', '=', slug).executeTakeFirstOrThrow();
    await t.db
      .insertInto('sends')
      .values({ issue_id: issue.id, list_id: list.id, cadence: 'weekly', status: 'done', scheduled_at: new Date(), started_at: new Date(), batch_size: 100 })
      .execute();
  }
}, 120_000);

afterAll(async () => {
  await t?.drop();
  await fs.rm(home, { recursive: true, force: true });
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function storedDigest(slug: string): Promise<Issue> {
  const row = await t.db.selectFrom('issues').select('content').where('slug', '=', slug).executeTakeFirstOrThrow();
  return row.content as unknown as Issue;
}

function expectSharedStoryFirstAndOnce(digest: Issue) {
  const items = digest.sections.flatMap((s) => s.items);
  expect(items.map((i) => i.title)).toEqual(['Shared story, updated', 'Only in w1', 'Only in w2']);
  expect(items[0]!.image?.alt).toBe('the chart');
}

test('with an http PUBLIC_URL the images are copied beside the draft: draft, validate and import succeed from any folder', async () => {
  const draft = await broadsheet('digest draft ml-news 2021-02 > any/folder/d.json', {});
  // The shell makes no folder for a redirect: the editor's folder exists, as it would.
  expect(draft.code).not.toBe(0);
  await fs.mkdir(path.join(home, 'any/folder'), { recursive: true });
  const drafted = await broadsheet('digest draft ml-news 2021-02 > any/folder/d.json');
  expect(drafted).toMatchObject({ code: 0 });
  expect(drafted.stderr).toMatch(/copied 2 images/);

  const validated = await broadsheet('validate any/folder/d.json');
  expect(validated).toMatchObject({ code: 0, stderr: '' });
  const imported = await broadsheet('issues import any/folder/d.json');
  expect(imported).toMatchObject({ code: 0 });
  expect(imported.stdout).toMatch(/imported digest issue digest-2021-02/);

  const digest = await storedDigest('digest-2021-02');
  expectSharedStoryFirstAndOnce(digest);
  // Resolvable: the file the email's URL names (the digest's own asset folder) is the weekly's image.
  const src = digest.sections[0]!.items[0]!.image!.src;
  expect(src).toBe('d-images/w1/images/shared.png');
  const stored = await fs.readFile(path.join(dataDir, 'assets', 'ml-news', 'digest-2021-02', src));
  expect(stored.equals(await fs.readFile(IMAGE))).toBe(true);
  const other = digest.sections[0]!.items[2]!.image!.src;
  expect((await fs.readFile(path.join(dataDir, 'assets', 'ml-news', 'digest-2021-02', other))).equals(await fs.readFile(OTHER_IMAGE))).toBe(true);
}, 120_000);

test('with an https PUBLIC_URL the images are the weeklies’ public URLs, and the server serves them', async () => {
  const https = { PUBLIC_URL: 'https://news.example.org' };
  await fs.mkdir(path.join(home, 'elsewhere'), { recursive: true });
  const drafted = await broadsheet('digest draft --list ml-news --month 2021-02 > elsewhere/curated.json', https);
  expect(drafted).toMatchObject({ code: 0 });
  // A curated digest under a slug of the editor's choosing.
  const file = path.join(home, 'elsewhere/curated.json');
  const content = JSON.parse(await fs.readFile(file, 'utf8')) as Issue;
  await fs.writeFile(file, JSON.stringify({ ...content, slug: 'february' }));
  expect(await broadsheetHere(['validate', file], { ...env, ...https })).toMatchObject({ code: 0 });
  expect(await broadsheetHere(['issues', 'import', file], { ...env, ...https })).toMatchObject({ code: 0 });

  const digest = await storedDigest('february');
  expectSharedStoryFirstAndOnce(digest);
  const src = digest.sections[0]!.items[0]!.image!.src;
  expect(src).toBe('https://news.example.org/assets/ml-news/w1/images/shared.png');

  // The URL's path, asked of the asset route the server mounts, over this DATA_DIR.
  const app = express();
  app.use(assetRoutes({ db: t.db, config: { dataDir, secretKeys: ['k'] } }));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${new URL(src).pathname}`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(await fs.readFile(IMAGE))).toBe(true);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}, 120_000);

test('piped into another program, the draft says how to get images that validate', async () => {
  const piped = await broadsheet('digest draft ml-news 2021-02 | cat');
  expect(piped.code).toBe(0);
  expect(JSON.parse(piped.stdout).sections[0].items[0].image.src).toBe('w1/images/shared.png');
  expect(piped.stderr).toMatch(/redirect the draft to a file \(or give --out FILE\)/);
  // --out does what a redirect does where the system cannot name stdout's file (macOS).
  await fs.mkdir(path.join(home, 'out'), { recursive: true });
  expect(await broadsheet('digest draft ml-news 2021-02 --out out/x.json | cat')).toMatchObject({ code: 0, stdout: '' });
  expect(JSON.parse(await fs.readFile(path.join(home, 'out/x.json'), 'utf8')).sections[0].items[0].image.src).toBe('x-images/w1/images/shared.png');
  expect(await broadsheetHere(['validate', path.join(home, 'out/x.json')], env)).toMatchObject({ code: 0 });
}, 60_000);
