import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatProblems, validateIssueFile } from '../../src/issues/validate';
import { importIssue } from '../../src/issues/repository';
import type { Issue } from '../../src/issues/types';
import { createList } from '../../src/lists/repository';
import { GOLDEN_DIR, GOLDEN_FILE } from '../fixtures/golden';
import { createTestDb, type TestDb } from '../helpers/db';

/**
 * Issue 13, finding 2: an issue's assets that are symbolic links (to a file, or a folder on the
 * way) or not regular files are refused by `validate` and by `issues import`, with a line naming
 * the path; nothing they point to is copied under DATA_DIR. Real files, real PostgreSQL.
 */

let t: TestDb;
let work: string;

beforeAll(async () => {
  t = await createTestDb();
  await createList(t.db, { slug: 'ml-news', name: 'ML', from_address: 'news@example.org', contact: 'Example Press' });
});

afterAll(async () => {
  await t?.drop();
});

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-symlink-'));
});

afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

/** A copy of the golden issue's folder, and a secret outside it. */
function issueFolder(): { dir: string; file: string; secret: string } {
  const dir = path.join(work, 'issue');
  fs.cpSync(GOLDEN_DIR, dir, { recursive: true });
  const secretDir = path.join(work, 'private');
  fs.mkdirSync(secretDir);
  const secret = path.join(secretDir, 'dalle.png');
  fs.writeFileSync(secret, 'SECRET KEY MATERIAL');
  return { dir, file: path.join(dir, path.basename(GOLDEN_FILE)), secret };
}

async function tryImport(file: string, dataDir: string) {
  const checked = await validateIssueFile(file);
  // Imported even if validation refused it, to show that the import holds on its own.
  const issue = checked.ok ? checked.issue : (JSON.parse(fs.readFileSync(file, 'utf8')) as Issue);
  return importIssue(t.db, { list: (await t.db.selectFrom('lists').selectAll().executeTakeFirstOrThrow())!, issue, baseDir: path.dirname(file), dataDir });
}

function filesUnder(dir: string): string[] {
  return fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]) : [];
}

test('a symlinked image file is refused by validate and by import, naming the path', async () => {
  const { dir, file, secret } = issueFolder();
  fs.rmSync(path.join(dir, 'images/dalle.png'));
  fs.symlinkSync(secret, path.join(dir, 'images/dalle.png'));

  const checked = await validateIssueFile(file);
  expect(checked.ok).toBe(false);
  const text = formatProblems(checked.ok ? [] : checked.problems);
  expect(text).toMatch(/images\/dalle\.png is a symbolic link/);

  const dataDir = path.join(work, 'data');
  await expect(tryImport(file, dataDir)).rejects.toThrow(/images\/dalle\.png is a symbolic link/);
  expect(filesUnder(dataDir).filter((f) => f.endsWith('dalle.png'))).toEqual([]);
  expect(await t.db.selectFrom('issues').select('id').execute()).toHaveLength(0);
});

test('a symlinked folder on the way is refused too', async () => {
  const { dir, file, secret } = issueFolder();
  fs.renameSync(path.join(dir, 'images'), path.join(work, 'real-images'));
  fs.copyFileSync(secret, path.join(work, 'real-images', 'dalle.png'));
  fs.symlinkSync(path.join(work, 'real-images'), path.join(dir, 'images'));

  const checked = await validateIssueFile(file);
  expect(checked.ok).toBe(false);
  expect(formatProblems(checked.ok ? [] : checked.problems)).toMatch(/images is a symbolic link/);
  const dataDir = path.join(work, 'data');
  await expect(tryImport(file, dataDir)).rejects.toThrow(/is a symbolic link/);
  expect(filesUnder(dataDir)).toEqual([]);
});

test('a fifo in place of an image is not a regular file: refused', async () => {
  const { dir, file } = issueFolder();
  fs.rmSync(path.join(dir, 'images/dalle.png'));
  const { execFileSync } = await import('node:child_process');
  execFileSync('mkfifo', [path.join(dir, 'images/dalle.png')]);
  const checked = await validateIssueFile(file);
  expect(checked.ok).toBe(false);
  expect(formatProblems(checked.ok ? [] : checked.problems)).toMatch(/images\/dalle\.png is not a regular file|file not found: images\/dalle\.png/);
});
