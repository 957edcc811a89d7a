import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DateTime } from 'luxon';
import type { List } from '../../src/db/schema';
import type { Issue } from '../../src/issues/types';
import { createList } from '../../src/lists/repository';
import { smallIssue } from '../helpers/world';
import { createTestDb, type TestDb } from '../helpers/db';
import { broadsheetHere } from '../helpers/cli';

/**
 * The automatic digest is visible (issue 13): `issues list` shows the coming monthly digest,
 * generated or curated, with when it goes in the list's zone and how many weeklies it covers;
 * `issues status digest-YYYY-MM` says the same before the slot. And every time the CLI prints
 * is in the list's zone, with the zone named. The real program against the real database, at
 * today's date (the expected slot is worked out here with luxon, not with Broadsheet's code).
 */

const ZONE = 'Asia/Tokyo'; // +09:00 all year: no daylight saving to reason about
let db: TestDb;
let tmp: string;
let list: List;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await broadsheetHere(args, { NODE_ENV: 'test', DATABASE_URL: db.url, DATA_DIR: path.join(tmp, 'data') });
  return { code: r.code, out: r.stdout.trimEnd(), err: r.stderr.trimEnd() };
}

// The list's monthly slot is the 1st at 09:00 Tokyo time: the next one after now, and the month it digests.
const now = DateTime.now().setZone(ZONE);
const thisSlot = now.startOf('month').set({ hour: 9 });
const nextSlot = now < thisSlot ? thisSlot : thisSlot.plus({ months: 1 });
const covered = nextSlot.minus({ months: 1 });
const MONTH = covered.toFormat('yyyy-LL');
const GOES = `${nextSlot.setLocale('en').toFormat('ccc yyyy-LL-dd')} 09:00 ${ZONE}`;

async function addIssue(issue: Issue, sentAt?: Date) {
  const row = await db.db
    .insertInto('issues')
    .values({ list_id: list.id, slug: issue.slug, kind: issue.kind ?? 'weekly', date: issue.date, title: issue.title, content: JSON.stringify(issue) })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (sentAt) {
    await db.db
      .insertInto('sends')
      .values({
        issue_id: row.id,
        list_id: list.id,
        cadence: 'weekly',
        status: 'done',
        scheduled_at: sentAt,
        started_at: sentAt,
        finished_at: sentAt,
        batch_size: 100,
      })
      .execute();
  }
}

beforeAll(async () => {
  db = await createTestDb();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bs-coming-'));
  list = await createList(db.db, {
    slug: 'ml-news',
    name: 'ML News',
    from_address: 'news@example.org',
    timezone: ZONE,
    weekly_slot: 'mon 09:00',
    monthly_slot: '1 09:00',
    contact: 'Example Press',
  });
  // Two weeklies of the covered month went out (at 01:00Z, 10:00 in Tokyo); one is a draft.
  await addIssue(smallIssue('w1', `${MONTH}-01`), new Date(`${MONTH}-01T01:00:00Z`));
  await addIssue(smallIssue('w2', `${MONTH}-02`), new Date(`${MONTH}-02T01:00:00Z`));
  await addIssue(smallIssue('future', '2099-01-05'));
});

afterAll(async () => {
  await db?.drop();
  await fs.rm(tmp, { recursive: true, force: true });
});

const ISO_INSTANT = /\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z/;

test('issues list and issues status show the coming generated digest, when it goes in the list’s zone, and what it covers', async () => {
  const listed = await cli(['issues', 'list', '--list', 'ml-news']);
  expect(listed.code).toBe(0);
  const lines = listed.out.split('\n');
  expect(lines[0]).toBe(
    `digest-${MONTH}\tdigest\t${covered.endOf('month').toFormat('yyyy-LL-dd')}\tcoming: generated from 2 sent weekly issues of ${MONTH}; goes ${GOES}\tML News: the ${covered.setLocale('en').toFormat('LLLL yyyy')} digest`,
  );
  expect(lines).toContain('future\tweekly\t2099-01-05\tdraft\tIssue future <b>& co</b>');

  const status = await cli(['issues', 'status', `digest-${MONTH}`, '--list', 'ml-news']);
  expect(status).toMatchObject({ code: 0 });
  expect(status.out.split('\n')).toEqual([
    `status     coming: generated from 2 sent weekly issues of ${MONTH}`,
    `goes       ${GOES}, to monthly subscribers`,
    'covers     w1, w2',
  ]);
});

test('a curated digest for the month is the one shown, and status of the generated slug says it goes instead', async () => {
  const curated: Issue = { ...smallIssue('my-digest', `${MONTH}-28`), kind: 'digest', covers: ['w1', 'w2'], title: 'The month, hand-picked' };
  await addIssue(curated);
  const listed = (await cli(['issues', 'list', '--list', 'ml-news'])).out.split('\n');
  expect(listed.filter((l) => l.startsWith(`digest-${MONTH}`))).toEqual([]);
  expect(listed).toContain(
    `my-digest\tdigest\t${MONTH}-28\tcoming: curated by an editor, covering 2 sent weekly issues of ${MONTH} (it replaces the generated one); goes ${GOES}\tThe month, hand-picked`,
  );
  const generated = await cli(['issues', 'status', `digest-${MONTH}`, '--list', 'ml-news']);
  expect(generated.out).toContain(`instead    my-digest goes for ${MONTH}`);
  const own = await cli(['issues', 'status', 'my-digest', '--list', 'ml-news']);
  expect(own.out.split('\n')[0]).toBe(`status     coming: curated by an editor, covering 2 sent weekly issues of ${MONTH} (it replaces the generated one)`);
  expect(own.out).toContain(`goes       ${GOES}`);
  await db.db.deleteFrom('issues').where('slug', '=', 'my-digest').execute();
});

test("every time printed is in the list's zone, named: schedule, list, status", async () => {
  const scheduled = await cli(['issues', 'schedule', 'future', '--list', 'ml-news', '--at', '2099-01-05T09:00']);
  expect(scheduled).toMatchObject({ code: 0, out: `scheduled ml-news/future for Mon 2099-01-05 09:00 ${ZONE}` });
  const listed = await cli(['issues', 'list', '--list', 'ml-news']);
  expect(listed.out).toContain(`future\tweekly\t2099-01-05\tscheduled for Mon 2099-01-05 09:00 ${ZONE}\tIssue future`);
  const status = await cli(['issues', 'status', 'future', '--list', 'ml-news']);
  expect(status.out).toContain(`when       scheduled for Mon 2099-01-05 09:00 ${ZONE}`);
  const sent = await cli(['issues', 'status', 'w1', '--list', 'ml-news']);
  expect(sent.out).toContain(`started ${covered.set({ day: 1 }).setLocale('en').toFormat('ccc yyyy-LL-dd')} 10:00 ${ZONE}`);
  for (const r of [scheduled, listed, status, sent]) expect(r.out).not.toMatch(ISO_INSTANT);
});
