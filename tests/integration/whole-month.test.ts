import { parseMail } from '../../src/mail/capture';
import { importIssue } from '../../src/issues/repository';
import type { Issue } from '../../src/issues/types';
import { log } from '../../src/log';
import { scheduleIssue } from '../../src/schedules/service';
import { startScheduler, type Scheduler, type SchedulerDeps } from '../../src/schedules/tick';
import { storyKey } from '../../src/schedules/digest';
import { addSubscribers, startWorld, type World } from '../helpers/world';
import { afterTicks, eventually } from '../helpers/eventually';

/**
 * A whole month of one list, for real: PostgreSQL, Redis, the queue workers and an SMTP
 * server; only the clock is the test's. Four weekly issues are scheduled with --next and go to
 * weekly subscribers at Monday 09:00 Berlin; two subscribers switch cadence after the second
 * week; at the monthly slot (1 March, 09:00) the generated February digest goes to monthly
 * subscribers. Two schedulers run all along, as two worker processes would.
 */

jest.setTimeout(120_000);

const WEEKS: Array<{ slug: string; date: string; slot: string; stories: Array<[title: string, url: string]> }> = [
  {
    slug: 'w1',
    date: '2021-02-01',
    slot: '2021-02-01T08:00:00Z',
    stories: [
      ['DALL·E', 'https://openai.com/dall-e'],
      ['NFNet', 'https://arxiv.org/abs/2102.06171'],
    ],
  },
  {
    slug: 'w2',
    date: '2021-02-08',
    slot: '2021-02-08T08:00:00Z',
    stories: [
      ['ResNet50 at Microsoft', 'https://example.com/resnet'],
      ['UniT', 'https://arxiv.org/abs/2102.10772'],
    ],
  },
  // Week 3 runs the DALL·E story again, updated, under another spelling of its URL.
  {
    slug: 'w3',
    date: '2021-02-15',
    slot: '2021-02-15T08:00:00Z',
    stories: [
      ['DALL·E, the paper', 'https://openai.com/dall-e/#paper'],
      ['TimeSformer', 'https://arxiv.org/abs/2102.05095'],
    ],
  },
  {
    slug: 'w4',
    date: '2021-02-22',
    slot: '2021-02-22T08:00:00Z',
    stories: [
      ['TransGAN', 'https://arxiv.org/abs/2102.07074'],
      ['UniT', 'https://arxiv.org/abs/2102.10772'],
    ],
  },
];

function weekly(w: (typeof WEEKS)[number]): Issue {
  return {
    format: 1,
    list: 'ml-news',
    kind: 'weekly',
    slug: w.slug,
    title: `周刊 ${w.slug}`,
    date: w.date,
    highlights: [{ title: '本周', points: [`${w.slug} 的要点`] }],
    sections: [{ id: 'papers', title: '论文', items: w.stories.map(([title, url]) => ({ title, url, summary: `${title} 的摘要` })) }],
  };
}

describe('a whole month: four weeklies, one digest, a cadence switch', () => {
  let world: World;
  let now = new Date('2021-01-30T12:00:00Z');
  let schedulers: Scheduler[] = [];

  beforeAll(async () => {
    world = await startWorld();
    await world.db
      .updateTable('lists')
      .set({ timezone: 'Europe/Berlin', weekly_slot: 'mon 09:00', monthly_slot: '1 09:00' })
      .where('id', '=', world.list.id)
      .execute();
    world.list = await world.db.selectFrom('lists').selectAll().where('id', '=', world.list.id).executeTakeFirstOrThrow();
  });

  afterAll(async () => {
    await Promise.all(schedulers.map((s) => s.close()));
    await world?.close();
  });

  async function sendOf(slug: string) {
    return world.db
      .selectFrom('sends')
      .innerJoin('issues', 'issues.id', 'sends.issue_id')
      .selectAll('sends')
      .where('issues.slug', '=', slug)
      .executeTakeFirst();
  }

  async function waitDone(slug: string) {
    return eventually(
      async () => {
        const send = await sendOf(slug);
        return send?.status === 'done' && send;
      },
      { timeoutMs: 60_000, what: `send of ${slug} done` },
    );
  }

  test('everyone gets what their cadence promises, once', async () => {
    const weeklyOnly = await addSubscribers(world.db, world.list.id, 6, 'weekly', { cadence: 'weekly' });
    const monthlyOnly = await addSubscribers(world.db, world.list.id, 4, 'monthly', { cadence: 'monthly' });
    const [toMonthly] = await addSubscribers(world.db, world.list.id, 1, 'to-monthly', { cadence: 'weekly' });
    const [toWeekly] = await addSubscribers(world.db, world.list.id, 1, 'to-weekly', { cadence: 'monthly' });
    await addSubscribers(world.db, world.list.id, 2, 'pending', { cadence: 'weekly', status: 'pending' });

    // The editor imports and schedules the month ahead, each with --next.
    for (const w of WEEKS) {
      await importIssue(world.db, { list: world.list, issue: weekly(w), baseDir: world.dataDir, dataDir: world.dataDir });
      const { send } = await scheduleIssue(world.db, { list: 'ml-news', issue: w.slug, when: { next: true }, now, batchSize: 5 });
      expect(send.scheduled_at?.toISOString()).toBe(new Date(w.slot).toISOString());
    }

    const deps: SchedulerDeps = { db: world.db, queues: world.queues, config: world.config, log };
    const clock = () => now;
    schedulers = [startScheduler(deps, { clock, intervalMs: 25, lateAfterMs: 60_000 }), startScheduler(deps, { clock, intervalMs: 25, lateAfterMs: 60_000 })];

    for (const [i, w] of WEEKS.entries()) {
      now = new Date(new Date(w.slot).getTime() + 5_000);
      await waitDone(w.slug);
      if (i === 1) {
        // After the second week, one weekly reader goes monthly and one monthly reader weekly.
        await world.db
          .updateTable('subscriptions')
          .set({ cadence: 'monthly' })
          .where('subscriber_id', 'in', (eb) => eb.selectFrom('subscribers').select('id').where('email', '=', toMonthly!))
          .execute();
        await world.db
          .updateTable('subscriptions')
          .set({ cadence: 'weekly' })
          .where('subscriber_id', 'in', (eb) => eb.selectFrom('subscribers').select('id').where('email', '=', toWeekly!))
          .execute();
      }
    }
    // Nothing before the monthly slot …
    now = new Date('2021-03-01T07:59:00Z');
    await afterTicks(schedulers);
    expect(await sendOf('digest-2021-02')).toBeUndefined();
    // … and the February digest at it.
    now = new Date('2021-03-01T08:00:10Z');
    const digestSend = await waitDone('digest-2021-02');
    expect(digestSend.cadence).toBe('monthly');
    await afterTicks(schedulers); // more ticks of both schedulers: nothing new

    // Who got what: subjects per address.
    const got = new Map<string, string[]>();
    for (const mail of world.smtp.messages()) {
      const subject = (await parseMail(mail)).subject ?? '';
      for (const to of mail.envelope.to) got.set(to, [...(got.get(to) ?? []), subject]);
    }
    const digestSubject = '机器学习月报：2021年2月月度精选';
    const weeklies = WEEKS.map((w) => `周刊 ${w.slug}`);
    for (const address of weeklyOnly) expect([address, (got.get(address) ?? []).sort()]).toEqual([address, weeklies]);
    for (const address of monthlyOnly) expect([address, got.get(address)]).toEqual([address, [digestSubject]]);
    expect((got.get(toMonthly!) ?? []).sort()).toEqual([...weeklies.slice(0, 2), digestSubject].sort());
    expect((got.get(toWeekly!) ?? []).sort()).toEqual(weeklies.slice(2));
    expect([...got.keys()].filter((a) => a.startsWith('pending-'))).toEqual([]);
    // In total: 6×4 + 2 + 2 weekly messages, 4 + 1 digests, and not one more.
    expect(world.smtp.messages()).toHaveLength(6 * 4 + 2 + 2 + 4 + 1);
    const deliveries = await world.db.selectFrom('deliveries').select(['status']).execute();
    expect(deliveries.every((d) => d.status === 'sent')).toBe(true);

    // The digest: every story once, where it first ran, in its latest words (DALL·E, UniT), covering the four weeklies.
    const row = await world.db.selectFrom('issues').selectAll().where('slug', '=', 'digest-2021-02').executeTakeFirstOrThrow();
    const digest = row.content as unknown as Issue;
    expect(digest.covers).toEqual(['w1', 'w2', 'w3', 'w4']);
    const titles = digest.sections.flatMap((s) => s.items.map((i) => i.title));
    expect(titles).toEqual(['DALL·E, the paper', 'NFNet', 'ResNet50 at Microsoft', 'UniT', 'TimeSformer', 'TransGAN']);
    expect(new Set(digest.sections.flatMap((s) => s.items.map((i) => storyKey(i.url)))).size).toBe(titles.length);
    // The digest email itself shows each story once and links each weekly's archive page.
    const digestMail = world.smtp.messages().find((m) => m.envelope.to.includes(monthlyOnly[0]!))!;
    const text = (await parseMail(digestMail)).text ?? '';
    expect(text.match(/DALL·E, the paper 的摘要/g)).toHaveLength(1);
    expect(text).not.toContain('DALL·E 的摘要'); // week 1's version lost to week 3's
    for (const w of WEEKS) expect(text).toContain(`/lists/ml-news/archive/${w.slug}`);
  });
});
