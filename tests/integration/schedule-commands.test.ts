import http from 'node:http';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { List } from '../../src/db/schema';
import { errorHandler } from '../../src/http/errors';
import { validateIssueFile } from '../../src/issues/validate';
import type { Issue } from '../../src/issues/types';
import { createList } from '../../src/lists/repository';
import { scheduleApi } from '../../src/schedules/routes';
import { requireAdminToken } from '../../src/http/admin-auth';
import { smallIssue } from '../helpers/world';
import { createTestDb, type TestDb } from '../helpers/db';
import { broadsheetHere } from '../helpers/cli';

/**
 * `issues schedule | unschedule`, `digest draft` and the admin API's schedule routes, against
 * the real database: the CLI parsed by the real program, in this process.
 */

let test: TestDb;
let tmp: string;
let list: List;

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const r = await broadsheetHere(args, { NODE_ENV: 'test', DATABASE_URL: test.url, DATA_DIR: path.join(tmp, 'data'), ...env });
  return { code: r.code, out: r.stdout.trimEnd(), err: r.stderr.trimEnd() };
}

async function addIssue(issue: Issue, done?: Date) {
  const row = await test.db
    .insertInto('issues')
    .values({ list_id: list.id, slug: issue.slug, kind: issue.kind ?? 'weekly', date: issue.date, title: issue.title, content: JSON.stringify(issue) })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (done) {
    await test.db
      .insertInto('sends')
      .values({ issue_id: row.id, list_id: list.id, cadence: 'weekly', status: 'done', scheduled_at: done, started_at: done, batch_size: 100 })
      .execute();
  }
}

beforeAll(async () => {
  test = await createTestDb();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bs-sched-cli-'));
  list = await createList(test.db, {
    slug: 'ml-news',
    name: 'ML News',
    from_address: 'news@example.org',
    timezone: 'Asia/Shanghai',
    weekly_slot: 'mon 09:00',
    monthly_slot: '1 09:00',
    contact: 'Example Press',
  });
  const withImage = smallIssue('w1', '2021-02-01', {
    sections: [
      { id: 'papers', title: 'Papers', items: [{ title: 'DALL·E', url: 'https://openai.com/dall-e/', image: { src: 'images/dalle.png', alt: 'DALL·E' } }] },
    ],
  });
  await addIssue(withImage, new Date('2021-02-01T01:00:00Z'));
  await addIssue(smallIssue('w2', '2021-02-08'), new Date('2021-02-08T01:00:00Z'));
  await addIssue(smallIssue('future', '2099-01-05'));
});

afterAll(async () => {
  await test?.drop();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('broadsheet digest draft', () => {
  it("prints a valid digest issue of the month's sent weeklies", async () => {
    const r = await cli(['digest', 'draft', '--list', 'ml-news', '--month', '2021-02'], { PUBLIC_URL: 'https://news.example.org' });
    expect(r).toMatchObject({ code: 0 });
    const digest = JSON.parse(r.out) as Issue;
    expect([digest.kind, digest.slug, digest.covers]).toEqual(['digest', 'digest-2021-02', ['w1', 'w2']]);
    // The weekly's image, at its public URL: valid wherever the draft is saved.
    expect(digest.sections[0]!.items[0]!.image?.src).toBe('https://news.example.org/assets/ml-news/w1/images/dalle.png');
    const file = path.join(tmp, 'digest.json');
    await fs.writeFile(file, r.out);
    const checked = await validateIssueFile(file);
    expect(checked.ok ? 'valid' : checked.problems).toBe('valid');
  });

  it('says so when the month has nothing sent, and refuses a bad month', async () => {
    expect(await cli(['digest', 'draft', '--list', 'ml-news', '--month', '2021-03'])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/nothing to digest/),
    });
    expect(await cli(['digest', 'draft', '--list', 'ml-news', '--month', 'march'])).toMatchObject({ code: 1, err: expect.stringMatching(/not a month/) });
  });
});

describe('broadsheet issues schedule / unschedule', () => {
  it("schedules at a time in the list's zone, moves it, unschedules it", async () => {
    const at = await cli(['issues', 'schedule', 'future', '--list', 'ml-news', '--at', '2099-01-05T09:00']);
    expect(at).toMatchObject({ code: 0, out: 'scheduled ml-news/future for Mon 2099-01-05 09:00 Asia/Shanghai' });
    const next = await cli(['issues', 'schedule', 'future', '--list', 'ml-news', '--next']);
    expect(next.out).toMatch(/^rescheduled ml-news\/future for \w{3} \d{4}-\d{2}-\d{2} 09:00 Asia\/Shanghai/);
    expect(await cli(['issues', 'unschedule', 'future', '--list', 'ml-news'])).toMatchObject({ code: 0, out: expect.stringMatching(/draft again/) });
    expect(await cli(['issues', 'schedule', 'future', '--list', 'ml-news'])).toMatchObject({ code: 1, err: expect.stringMatching(/--next .* or --at/) });
    expect(await cli(['issues', 'schedule', 'w1', '--list', 'ml-news', '--next'])).toMatchObject({ code: 1, err: expect.stringMatching(/sent already/) });
  });
});

describe('admin API: /api/v1/lists/:slug/issues/:issue/schedule', () => {
  let server: http.Server;
  let base: string;
  const auth = { authorization: 'Bearer admin-token-for-tests' };

  beforeAll(async () => {
    const app = express();
    app.use(express.json());
    // The one admin check the app puts in front of /api/v1, then the schedule routes on their own clock.
    app.use(
      '/api/v1',
      requireAdminToken('admin-token-for-tests'),
      scheduleApi({ db: test.db, config: { sendBatchSize: 100 }, clock: () => new Date('2098-12-30T00:00:00Z') }),
    );
    app.use(errorHandler());
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/lists/ml-news/issues`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const put = (issue: string, body: unknown, headers: Record<string, string> = auth) =>
    fetch(`${base}/${issue}/schedule`, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('needs the admin token', async () => {
    expect((await put('future', { next: true }, {})).status).toBe(401);
  });

  it('PUT schedules (201) and moves (200); DELETE unschedules (204), then 404', async () => {
    const created = await put('future', { next: true });
    expect(created.status).toBe(201);
    // 30 December 2098 is a Tuesday; the next Monday 09:00 in Shanghai is 5 January 2099, 01:00Z.
    expect(await created.json()).toEqual({ schedule: { status: 'scheduled', scheduledAt: '2099-01-05T01:00:00.000Z', cadence: 'weekly' } });
    const moved = await put('future', { at: '2099-01-06T10:00:00+08:00' });
    expect([moved.status, (await moved.json()).schedule.scheduledAt]).toEqual([200, '2099-01-06T02:00:00.000Z']);
    expect((await fetch(`${base}/future/schedule`, { method: 'DELETE', headers: auth })).status).toBe(204);
    const again = await fetch(`${base}/future/schedule`, { method: 'DELETE', headers: auth });
    expect([again.status, (await again.json()).error.code]).toEqual([404, 'not_found']);
  });

  it('answers 409 for a sent issue and 400 for a bad body', async () => {
    const sent = await put('w1', { next: true });
    expect([sent.status, (await sent.json()).error.code]).toEqual([409, 'conflict']);
    expect((await put('future', { at: 'tomorrow' })).status).toBe(400);
    expect((await put('future', {})).status).toBe(400);
  });
});
