import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createDb, type Db } from '../../src/db/database';
import { createQueues, type Queues } from '../../src/queues';
import type { List } from '../../src/db/schema';
import { createList } from '../../src/lists/repository';
import { scheduleIssue, unscheduleIssue } from '../../src/schedules/service';
import { startScheduler, tick, type SchedulerDeps } from '../../src/schedules/tick';
import { createTestDb, type TestDb } from '../helpers/db';
import { afterTicks, eventually } from '../helpers/eventually';
import { deleteKeys } from '../helpers/redis-keys';
import { smallIssue } from '../helpers/world';
import type { Issue } from '../../src/issues/types';

/**
 * The scheduler against the real PostgreSQL, with the clock injected: "now" is whatever each
 * test says, never a fake timer. Two schedulers are two pools on the same database, like two
 * worker processes.
 */

let test: TestDb;
let otherDb: Db;
let dataDir: string;
let list: List;
let logs: string[];
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `bs-test-sched-${randomBytes(4).toString('hex')}`;
// One set of queues per "process": startSend queues the planning job there (no worker runs it
// here, so a started send stays in 'planning', which is what these tests look at).
const queuesOf = new Map<Db, Queues>();

function deps(db: Db): SchedulerDeps {
  let queues = queuesOf.get(db);
  if (!queues) queuesOf.set(db, (queues = createQueues(REDIS_URL, PREFIX, db)));
  const write = (fields: object, message: string) => void logs.push(`${message} ${JSON.stringify(fields)}`);
  return { db, queues, config: { dataDir, sendBatchSize: 100 }, log: { info: write, warn: write } as SchedulerDeps['log'] };
}

async function addIssue(issue: Issue, sendStatus?: 'done' | 'scheduled', at?: Date): Promise<string> {
  const row = await test.db
    .insertInto('issues')
    .values({ list_id: list.id, slug: issue.slug, kind: issue.kind ?? 'weekly', date: issue.date, title: issue.title, content: JSON.stringify(issue) })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (sendStatus) {
    await test.db
      .insertInto('sends')
      .values({
        issue_id: row.id,
        list_id: list.id,
        cadence: issue.kind === 'digest' ? 'monthly' : 'weekly',
        status: sendStatus,
        scheduled_at: at ?? null,
        started_at: sendStatus === 'done' ? (at ?? null) : null,
        batch_size: 100,
      })
      .execute();
  }
  return row.id;
}

async function sendOf(slug: string) {
  return test.db
    .selectFrom('sends')
    .innerJoin('issues', 'issues.id', 'sends.issue_id')
    .selectAll('sends')
    .where('issues.slug', '=', slug)
    .where('issues.list_id', '=', list.id)
    .executeTakeFirst();
}

beforeAll(async () => {
  test = await createTestDb();
  otherDb = createDb(test.url, { max: 3 });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-sched-'));
});

afterAll(async () => {
  for (const queues of queuesOf.values()) {
    await queues
      .queue('plan-send')
      .obliterate({ force: true })
      .catch(() => undefined);
    await queues.close();
  }
  await otherDb?.destroy();
  await test?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

let counter = 0;
beforeEach(async () => {
  logs = [];
  list = await createList(test.db, {
    slug: `list-${++counter}`,
    name: 'ML News',
    from_address: 'news@example.org',
    timezone: 'Europe/Berlin',
    weekly_slot: 'mon 09:00',
    monthly_slot: '1 09:00',
    contact: 'Example Press',
  });
});

describe('scheduling an issue', () => {
  const now = new Date('2026-03-25T12:00:00Z'); // a Wednesday, the week Berlin springs forward

  it("--next takes the next free weekly slot, in the list's zone, and the next issue the week after", async () => {
    await addIssue(smallIssue('a', '2026-03-30'));
    await addIssue(smallIssue('b', '2026-04-06'));
    const a = await scheduleIssue(test.db, { list: list.slug, issue: 'a', when: { next: true }, now, batchSize: 100 });
    expect(a.send.scheduled_at?.toISOString()).toBe('2026-03-30T07:00:00.000Z'); // Monday 09:00 CEST
    expect(a.send.status).toBe('scheduled');
    const b = await scheduleIssue(test.db, { list: list.slug, issue: 'b', when: { next: true }, now, batchSize: 100 });
    expect(b.send.scheduled_at?.toISOString()).toBe('2026-04-06T07:00:00.000Z');
  });

  it("--at takes an offset as given and a bare time in the list's zone; rescheduling moves it", async () => {
    await addIssue(smallIssue('c', '2026-04-01'));
    const first = await scheduleIssue(test.db, { list: list.slug, issue: 'c', when: { at: '2026-04-01T10:00:00+00:00' }, now, batchSize: 100 });
    expect([first.send.scheduled_at?.toISOString(), first.rescheduled]).toEqual(['2026-04-01T10:00:00.000Z', false]);
    const moved = await scheduleIssue(test.db, { list: list.slug, issue: 'c', when: { at: '2026-04-02T08:30' }, now, batchSize: 100 });
    expect([moved.send.scheduled_at?.toISOString(), moved.rescheduled, moved.send.id]).toEqual(['2026-04-02T06:30:00.000Z', true, first.send.id]);
  });

  it('refuses a time in the past, and a list without a weekly slot for --next', async () => {
    await addIssue(smallIssue('d', '2026-03-01'));
    await expect(scheduleIssue(test.db, { list: list.slug, issue: 'd', when: { at: '2026-03-01T09:00' }, now, batchSize: 100 })).rejects.toThrow(/in the past/);
    await test.db.updateTable('lists').set({ weekly_slot: null }).where('id', '=', list.id).execute();
    await expect(scheduleIssue(test.db, { list: list.slug, issue: 'd', when: { next: true }, now, batchSize: 100 })).rejects.toThrow(/no weekly slot/);
    await expect(scheduleIssue(test.db, { list: list.slug, issue: 'nope', when: { next: true }, now, batchSize: 100 })).rejects.toThrow(/no issue "nope"/);
  });

  it('unschedule makes it a draft again; neither works once the send has started', async () => {
    await addIssue(smallIssue('e', '2026-04-01'));
    await scheduleIssue(test.db, { list: list.slug, issue: 'e', when: { next: true }, now, batchSize: 100 });
    await unscheduleIssue(test.db, { list: list.slug, issue: 'e' });
    expect(await sendOf('e')).toBeUndefined();
    await expect(unscheduleIssue(test.db, { list: list.slug, issue: 'e' })).rejects.toThrow(/not scheduled/);

    const { send } = await scheduleIssue(test.db, { list: list.slug, issue: 'e', when: { next: true }, now, batchSize: 100 });
    const report = await tick(deps(test.db), new Date(send.scheduled_at!.getTime() + 1000));
    expect(report.started.map((s) => s.sendId)).toContain(send.id);
    await expect(unscheduleIssue(test.db, { list: list.slug, issue: 'e' })).rejects.toThrow(/planning already/);
    await expect(scheduleIssue(test.db, { list: list.slug, issue: 'e', when: { next: true }, now, batchSize: 100 })).rejects.toMatchObject({
      code: 'conflict',
    });
  });
});

describe('the scheduler tick', () => {
  it('starts a due send once when two schedulers tick at the same moment', async () => {
    await addIssue(smallIssue('w', '2026-03-30'));
    const { send } = await scheduleIssue(test.db, { list: list.slug, issue: 'w', when: { next: true }, now: new Date('2026-03-25T12:00:00Z'), batchSize: 100 });
    const before = new Date(send.scheduled_at!.getTime() - 1000);
    const at = new Date(send.scheduled_at!.getTime() + 1000);

    // Before its time, nobody starts it.
    const early = await Promise.all([tick(deps(test.db), before), tick(deps(otherDb), before)]);
    expect(early.flatMap((r) => r.started)).toEqual([]);
    expect((await sendOf('w'))?.status).toBe('scheduled');

    // Ten rounds of two schedulers racing on the same due send: one start in total.
    const rounds = await Promise.all(
      Array.from({ length: 10 }, (_, i) => Promise.all([tick(deps(test.db), new Date(at.getTime() + i)), tick(deps(otherDb), new Date(at.getTime() + i))])),
    );
    const started = rounds.flat().flatMap((r) => r.started.filter((s) => s.sendId === send.id));
    expect(started).toEqual([{ sendId: send.id, late: false }]);
    expect((await sendOf('w'))?.status).toBe('planning');
    expect(logs.filter((l) => l.includes('started a send'))).toHaveLength(1);
  });

  it('two running schedulers (timers, injected clocks) start it once', async () => {
    await addIssue(smallIssue('t', '2026-03-30'));
    const { send } = await scheduleIssue(test.db, {
      list: list.slug,
      issue: 't',
      when: { at: '2026-03-30T09:00' },
      now: new Date('2026-03-25T12:00:00Z'),
      batchSize: 100,
    });
    let now = new Date('2026-03-30T06:59:00Z');
    const clock = () => now;
    const a = startScheduler(deps(test.db), { clock, intervalMs: 20 });
    const b = startScheduler(deps(otherDb), { clock, intervalMs: 20 });
    try {
      await afterTicks([a, b]);
      expect((await sendOf('t'))?.status).toBe('scheduled');
      now = new Date('2026-03-30T07:00:00Z'); // the slot
      await eventually(async () => (await sendOf('t'))?.status !== 'scheduled', { what: 'the send started' });
      await afterTicks([a, b]); // more ticks of both
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    expect((await sendOf('t'))?.status).toBe('planning');
    const mine = logs.filter((l) => l.includes(`"list":"${list.slug}","issue":"t"`));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(/^scheduler: started a send \{/);
    expect(send.id).toBeDefined();
  });

  it('after a restart across the slot, sends late, once, and says so', async () => {
    await addIssue(smallIssue('r', '2026-03-30'));
    await scheduleIssue(test.db, { list: list.slug, issue: 'r', when: { at: '2026-03-30T09:00' }, now: new Date('2026-03-25T12:00:00Z'), batchSize: 100 });
    // Running before the slot, then stopped (a deploy, a crash) …
    const before = startScheduler(deps(test.db), { clock: () => new Date('2026-03-30T06:30:00Z'), intervalMs: 20 });
    await afterTicks(before);
    await before.close();
    expect((await sendOf('r'))?.status).toBe('scheduled');
    // … and back three hours later, in two processes.
    const later = () => new Date('2026-03-30T10:00:00Z');
    const a = startScheduler(deps(test.db), { clock: later, intervalMs: 20 });
    const b = startScheduler(deps(otherDb), { clock: later, intervalMs: 20 });
    await eventually(async () => (await sendOf('r'))?.status !== 'scheduled', { what: 'the late send started' });
    await afterTicks([a, b]);
    await Promise.all([a.close(), b.close()]);
    expect((await sendOf('r'))?.status).toBe('planning');
    const mine = logs.filter((l) => l.includes(`"list":"${list.slug}","issue":"r"`));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(/^scheduler: started a send late .*"late":true,"lateBySeconds":10800/);
  });

  it('a flushed Redis loses no schedule: the schedule is the row', async () => {
    await addIssue(smallIssue('fl', '2026-03-30'));
    const { send } = await scheduleIssue(test.db, {
      list: list.slug,
      issue: 'fl',
      when: { at: '2026-03-30T09:00' },
      now: new Date('2026-03-25T12:00:00Z'),
      batchSize: 100,
    });
    const queues = deps(test.db).queues;
    // Everything this test's deployment has in Redis, gone (FLUSHALL, limited to our prefix:
    // the Redis is shared with other tests).
    const redis = await queues.queue('plan-send').client;
    await deleteKeys(redis, PREFIX);
    const report = await tick(deps(test.db), new Date('2026-03-30T07:00:01Z'));
    expect(report.started).toEqual([{ sendId: send.id, late: false }]);
    // And the planning job it queued is in Redis again, for the workers.
    expect(await queues.queue('plan-send').getJobCounts()).toMatchObject({ waiting: 1 });
  });
});

describe('monthly digests at the slot', () => {
  const feb = (slug: string, date: string, url: string) =>
    smallIssue(slug, date, { sections: [{ id: 'papers', title: 'Papers', items: [{ title: `Story ${slug}`, url }] }] });

  it("at the monthly slot, generates the previous month's digest once from its sent weeklies", async () => {
    await addIssue(feb('f1', '2026-02-02', 'https://example.com/one'), 'done', new Date('2026-02-02T08:00:00Z'));
    await addIssue(feb('f2', '2026-02-09', 'https://example.com/one/'), 'done', new Date('2026-02-09T08:00:00Z'));
    await addIssue(feb('f3', '2026-02-16', 'https://example.com/two'), 'done', new Date('2026-02-16T08:00:00Z'));
    // Not sent: not in the digest.
    await addIssue(feb('f4', '2026-02-23', 'https://example.com/draft'));

    // 1 March 09:00 Berlin is 08:00Z. Before it: January's digest is due, and January had nothing.
    const early = await tick(deps(test.db), new Date('2026-03-01T07:59:00Z'));
    expect(early.digests.find((d) => d.list === list.slug)).toEqual({ list: list.slug, month: '2026-01', outcome: { kind: 'nothing-to-send' } });

    const at = new Date('2026-03-01T08:00:05Z');
    const both = await Promise.all([tick(deps(test.db), at), tick(deps(otherDb), at), tick(deps(test.db), at)]);
    const created = both.flatMap((r) => r.digests).filter((d) => d.list === list.slug && d.outcome.kind === 'created');
    expect(created).toHaveLength(1);
    const digest = await test.db.selectFrom('issues').selectAll().where('list_id', '=', list.id).where('kind', '=', 'digest').execute();
    expect(digest.map((d) => d.slug)).toEqual(['digest-2026-02']);
    const content = digest[0]!.content as unknown as Issue;
    expect(content.covers).toEqual(['f1', 'f2', 'f3']);
    expect(content.sections[0]!.items.map((i) => i.title)).toEqual(['Story f2', 'Story f3']);
    const send = await sendOf('digest-2026-02');
    expect([send?.cadence, send?.status, send?.scheduled_at?.toISOString()]).toEqual(['monthly', 'planning', '2026-03-01T08:00:00.000Z']);
    expect(both.flatMap((r) => r.started).filter((s) => s.sendId === send!.id)).toHaveLength(1);

    // Ticks later that month change nothing.
    const again = await tick(deps(test.db), new Date('2026-03-15T00:00:00Z'));
    expect(again.digests.find((d) => d.list === list.slug)?.outcome).toEqual({ kind: 'exists', slug: 'digest-2026-02' });
  });

  it("sends the editor's imported digest of the month instead of generating one", async () => {
    await addIssue(feb('g1', '2026-02-02', 'https://example.com/g'), 'done', new Date('2026-02-02T08:00:00Z'));
    await addIssue({ ...feb('curated-feb', '2026-02-28', 'https://example.com/curated'), kind: 'digest', covers: ['g1'] });
    const report = await tick(deps(test.db), new Date('2026-03-01T09:00:00Z'));
    expect(report.digests.find((d) => d.list === list.slug)?.outcome).toMatchObject({ kind: 'created', slug: 'curated-feb', generated: false });
    expect((await sendOf('curated-feb'))?.status).toBe('planning');
    expect(await sendOf('digest-2026-02')).toBeUndefined();
  });

  it("a slot past the month's end (31) fires on the last day of February", async () => {
    await test.db.updateTable('lists').set({ monthly_slot: '31 09:00' }).where('id', '=', list.id).execute();
    await addIssue(feb('j1', '2026-01-05', 'https://example.com/jan'), 'done', new Date('2026-01-05T08:00:00Z'));
    // 28 February 2026 09:00 Berlin: the January digest (the slot of February covers January).
    const before = await tick(deps(test.db), new Date('2026-02-28T07:59:00Z'));
    expect(before.digests.find((d) => d.list === list.slug)?.month).toBe('2025-12');
    const at = await tick(deps(test.db), new Date('2026-02-28T08:00:00Z'));
    expect(at.digests.find((d) => d.list === list.slug)).toMatchObject({ month: '2026-01', outcome: { kind: 'created', slug: 'digest-2026-01' } });
  });
});
