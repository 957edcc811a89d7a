import { AppError } from '../../src/errors';
import { allLists } from '../../src/lists/repository';
import { createListFromInput, getListWithCounts, validateListInput, type ListProblem } from '../../src/lists/service';
import { upsertSubscriber } from '../../src/subscribers/repository';
import { createTestDb, type TestDb } from '../helpers/db';

const valid = { slug: 'ml-news', name: 'ML News', from: 'ML News <news@example.com>' };

function problemsOf(input: unknown): ListProblem[] {
  try {
    validateListInput(input);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('invalid_input');
    return (err as AppError).details as ListProblem[];
  }
  throw new Error('expected validation to fail');
}

describe('list input validation', () => {
  it('accepts a full list and stores slots and language in canonical form', () => {
    const values = validateListInput({
      ...valid,
      timezone: 'Europe/Paris',
      weekly: 'Monday 9:00',
      monthly: '1 09:00',
      language: 'zh-cn',
      replyTo: 'editor@example.com',
      contact: 'Broadsheet, 1 Rue de Rivoli, Paris',
      sections: ['papers:Papers', { id: 'tools', title: 'Tools' }],
    });
    expect(values).toMatchObject({
      slug: 'ml-news',
      from_address: 'ML News <news@example.com>',
      timezone: 'Europe/Paris',
      weekly_slot: 'mon 09:00',
      monthly_slot: '1 09:00',
      language: 'zh-CN',
      reply_to: 'editor@example.com',
      sections: [
        { id: 'papers', title: 'Papers' },
        { id: 'tools', title: 'Tools' },
      ],
    });
  });

  it.each([
    ['ML-News', 'slug'],
    ['-news', 'slug'],
    ['news-', 'slug'],
    ['a'.repeat(65), 'slug'],
    ['news_letter', 'slug'],
  ])('refuses the slug %j', (slug, field) => {
    expect(problemsOf({ ...valid, slug }).map((p) => p.field)).toEqual([field]);
  });

  it('accepts a 64-character slug and a one-character one', () => {
    expect(() => validateListInput({ ...valid, slug: 'a'.repeat(64) })).not.toThrow();
    expect(() => validateListInput({ ...valid, slug: '7' })).not.toThrow();
  });

  it.each(['news', 'News <news>', 'a@b.com, c@d.com', 'Name <not an address>'])('refuses the From %j', (from) => {
    expect(problemsOf({ ...valid, from }).map((p) => p.field)).toEqual(['from']);
  });

  it('accepts a bare From address', () => {
    expect(validateListInput({ ...valid, from: 'news@example.com' }).from_address).toBe('news@example.com');
  });

  it('reports every problem at once, in one line', () => {
    let message = '';
    try {
      validateListInput({ slug: 'Bad Slug', from: 'nobody', timezone: 'Mars/Olympus', weekly: 'someday 09:00', monthly: '32 09:00', sections: ['x'] });
    } catch (err) {
      message = (err as Error).message;
      expect(((err as AppError).details as ListProblem[]).map((p) => p.field)).toEqual([
        'slug',
        'name',
        'from',
        'timezone',
        'weekly',
        'monthly',
        'sections[0]',
      ]);
    }
    expect(message).toMatch(/^invalid list: slug: "Bad Slug" is not a valid slug/);
    expect(message).toContain('timezone: "Mars/Olympus" is not an IANA time zone');
    expect(message).toContain('monthly: day "32"');
    expect(message).not.toContain('\n');
  });

  it('refuses duplicate section ids and wrong types from JSON', () => {
    expect(problemsOf({ ...valid, sections: ['a:A', 'a:Again'] })).toEqual([{ field: 'sections[1]', message: 'section id "a" is given twice' }]);
    expect(problemsOf({ ...valid, name: 42 }).map((p) => p.field)).toEqual(['name']);
    expect(problemsOf(null).map((p) => p.field)).toEqual(['slug', 'name', 'from']);
  });
});

describe('lists in the database', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('creates a list, refuses the same slug again, and counts subscriptions per status', async () => {
    const list = await createListFromInput(t.db, { ...valid, weekly: 'tue 08:30', sections: ['papers:Papers'] });
    expect(list).toMatchObject({ slug: 'ml-news', weekly_slot: 'tue 08:30', timezone: 'UTC', language: 'en' });
    await expect(createListFromInput(t.db, valid)).rejects.toMatchObject({ code: 'conflict' });

    const statuses = ['active', 'active', 'pending', 'unsubscribed'] as const;
    for (const [i, status] of statuses.entries()) {
      const subscriber = await upsertSubscriber(t.db, `p${i}@example.com`);
      await t.db
        .insertInto('subscriptions')
        .values({ list_id: list.id, subscriber_id: subscriber.id, status, consent_source: 'test' })
        .execute();
    }
    const { counts } = await getListWithCounts(t.db, 'ml-news');
    expect(counts).toEqual({ active: 2, pending: 1, unsubscribed: 1, bounced: 0, complained: 0 });
    expect((await allLists(t.db)).map((l) => l.slug)).toEqual(['ml-news']);
    await expect(getListWithCounts(t.db, 'nope')).rejects.toMatchObject({ code: 'not_found' });
  });
});
