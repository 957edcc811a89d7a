import net from 'node:net';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli';
import type { CliContext } from '../../src/cli/context';
import type { Connections } from '../../src/connect';
import { AppError } from '../../src/errors';
import { LIST_FIELD_ENTRIES, listToJson, type ListField } from '../../src/lists/fields';
import { allLists } from '../../src/lists/repository';
import { lookUpList } from '../../src/lists/lookup';
import { createListFromInput, getListWithCounts, updateListFromInput, validateListInput, type ListProblem } from '../../src/lists/service';
import { upsertSubscriber } from '../../src/subscribers/repository';
import { createTestDb, type TestDb } from '../helpers/db';

const valid = { slug: 'ml-news', name: 'ML News', from: 'ML News <news@example.com>', contact: 'ML News · 1 Main Street · Springfield' };

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
        'contact',
        'sections[0]',
      ]);
    }
    expect(message).toMatch(/^invalid list: slug: "Bad Slug" is not a valid slug/);
    expect(message).toContain('timezone: "Mars/Olympus" is not an IANA time zone');
    expect(message).toContain('monthly: day "32"');
    expect(message).not.toContain('\n');
  });

  it('requires a contact line: bulk mail must say who sends it and where', () => {
    const { contact: _none, ...withoutContact } = valid;
    for (const contact of [undefined, null, '', '   ']) {
      expect(problemsOf({ ...withoutContact, contact })).toEqual([
        { field: 'contact', message: "is required: who sends the newsletter and where (a postal address), shown in every email's footer" },
      ]);
    }
    expect(problemsOf({ ...valid, contact: 'two\nlines' }).map((p) => p.field)).toEqual(['contact']);
    expect(validateListInput({ ...valid, contact: '  Example Press · Berlin  ' }).contact).toBe('Example Press · Berlin');
  });

  it('refuses duplicate section ids and wrong types from JSON', () => {
    expect(problemsOf({ ...valid, sections: ['a:A', 'a:Again'] })).toEqual([{ field: 'sections[1]', message: 'section id "a" is given twice' }]);
    expect(problemsOf({ ...valid, name: 42 }).map((p) => p.field)).toEqual(['name']);
    expect(problemsOf(null).map((p) => p.field)).toEqual(['slug', 'name', 'from', 'contact']);
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
      await t.db.insertInto('subscriptions').values({ list_id: list.id, subscriber_id: subscriber.id, status, consent_source: 'test' }).execute();
    }
    const { counts } = await getListWithCounts(t.db, 'ml-news');
    expect(counts).toEqual({ active: 2, pending: 1, unsubscribed: 1, bounced: 0, complained: 0 });
    expect((await allLists(t.db)).map((l) => l.slug)).toEqual(['ml-news']);
    await expect(getListWithCounts(t.db, 'nope')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('updates only the given settings, by the rules of create; null clears an optional one', async () => {
    await createListFromInput(t.db, { ...valid, slug: 'upd', weekly: 'mon 09:00', replyTo: 'editor@example.com', sections: ['papers:Papers'] });
    const updated = await updateListFromInput(t.db, 'upd', {
      contact: 'New Press · 2 Side Street · Hamburg',
      weekly: null,
      monthly: '1 08:00',
      name: 'Updated',
    });
    expect(updated).toMatchObject({
      slug: 'upd',
      name: 'Updated',
      contact: 'New Press · 2 Side Street · Hamburg',
      weekly_slot: null,
      monthly_slot: '1 08:00',
      reply_to: 'editor@example.com', // not given: kept
      sections: [{ id: 'papers', title: 'Papers' }],
    });

    for (const [changes, fields] of [
      [{ contact: '' }, ['contact']],
      [{ from: 'nobody', weekly: 'someday' }, ['from', 'weekly']],
      [{ slug: 'renamed' }, ['slug']],
      [{ nmae: 'typo' }, ['nmae']],
    ] as const) {
      const error = await updateListFromInput(t.db, 'upd', changes).catch((err: AppError) => err);
      expect(error).toMatchObject({ code: 'invalid_input' });
      expect(((error as AppError).details as ListProblem[]).map((p) => p.field)).toEqual(fields);
    }
    await expect(updateListFromInput(t.db, 'upd', ['contact'])).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(updateListFromInput(t.db, 'nope', { name: 'X' })).rejects.toMatchObject({ code: 'not_found' });
    expect((await getListWithCounts(t.db, 'upd')).list.contact).toBe('New Press · 2 Side Street · Hamburg');
  });

  it('looks a list up for render and preview, and says why when it cannot', async () => {
    const found = await lookUpList(t.url, 'ml-news');
    expect(found).toMatchObject({ list: { slug: 'ml-news', name: 'ML News', contact: valid.contact } });
    expect(await lookUpList(t.url, 'nope')).toEqual({ missing: 'the database has no list "nope"' });
    // Nothing listens on port 1: refused at once.
    const down = await lookUpList('postgres://postgres@127.0.0.1:1/broadsheet', 'ml-news');
    expect(down).toMatchObject({ missing: expect.stringMatching(/^the database could not be read/) });
    // A server that accepts the connection and never answers: given up after the timeout
    // (300 ms here, 2 s in the CLI). It listens on loopback; tests never reach other hosts.
    const sockets: net.Socket[] = [];
    const mute = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const { port } = mute.address() as net.AddressInfo;
    try {
      const started = Date.now();
      const silent = await lookUpList(`postgres://postgres@127.0.0.1:${port}/broadsheet`, 'ml-news', 300);
      expect(silent).toMatchObject({ missing: expect.stringMatching(/^the database could not be read/) });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => mute.close(resolve));
    }
  });
});

describe("the CLI's list options, from the table of fields", () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  /** Runs `broadsheet ARGS` in this process, against the test database; resolves with its output. */
  async function broadsheet(args: string[]): Promise<string[]> {
    const out: string[] = [];
    const ctx: CliContext = {
      io: { env: {}, stdout: process.stdout, stderr: process.stderr },
      config: () => {
        throw new Error('the list commands need no configuration here');
      },
      connect: async () => ({ db: t.db }) as unknown as Connections,
      withConnection: (work) => work({ db: t.db } as unknown as Connections),
      out: (line) => void out.push(line),
      err: (line) => void out.push(line),
    };
    // A new program each time: commander keeps the values of one parse in its option objects.
    const program = buildProgram(ctx);
    const quiet = (command: Command): void => {
      command.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
      command.commands.forEach(quiet);
    };
    quiet(program);
    await program.parseAsync(['node', 'broadsheet', ...args]);
    return out;
  }

  /** The option a field should have: its own name, or the one the table gives (`--section`). */
  const optionName = (name: string, f: ListField<unknown>) => f.cli?.flag ?? name;
  const stored = async (name: string) => (listToJson((await getListWithCounts(t.db, 'every')).list) as Record<string, unknown>)[name];

  function listCommand(name: 'create' | 'update') {
    const lists = buildProgram({} as CliContext).commands.find((c) => c.name() === 'lists');
    return lists?.commands.find((c) => c.name() === name);
  }

  it('takes every option of `lists create` on `lists update` too, and stores what it was given', async () => {
    await broadsheet(['lists', 'create', 'every', '--name', 'Every', '--from', 'a@example.com', '--contact', 'Every Press · Berlin']);
    const createOptions = listCommand('create')!.options.filter((o) => !o.negate);
    const updateFlags = new Set(listCommand('update')!.options.map((o) => o.long));
    // Every setting of the table is an option of create (the slug is its argument).
    expect(createOptions.map((o) => o.attributeName()).sort()).toEqual(
      LIST_FIELD_ENTRIES.filter(([, f]) => !f.fixed)
        .map(([name, f]) => optionName(name, f))
        .sort(),
    );
    for (const option of createOptions) {
      expect(updateFlags).toContain(option.long);
      const [name, f] = LIST_FIELD_ENTRIES.find(([n, field]) => optionName(n, field) === option.attributeName())!;
      const args = f.input === 'switch' ? [option.long!] : [option.long!, f.example];
      const before = await stored(name);
      const out = await broadsheet(['lists', 'update', 'every', ...args]);
      expect(out[0]).toBe('updated list every');
      const after = await stored(name);
      const example = f.input === 'switch' ? true : f.input === 'sections' ? [f.example] : f.example;
      expect(after).toEqual(f.read(example, () => {}));
      expect(after).not.toEqual(before);
    }
  });

  it('clears each clearable setting with --no-…, and refuses the slug as a setting', async () => {
    for (const [name, f] of LIST_FIELD_ENTRIES) {
      if (!f.clearable) continue;
      const flag = optionName(name, f).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      await broadsheet(['lists', 'update', 'every', `--no-${flag}`]);
      expect(await stored(name)).toEqual(f.read(undefined, () => {}));
    }
    await expect(broadsheet(['lists', 'update', 'every', '--slug', 'other'])).rejects.toThrow(/unknown option '--slug'/);
  });

  it("takes every setting but the slug through the admin API's update too", async () => {
    for (const [name, f] of LIST_FIELD_ENTRIES) {
      const example = f.input === 'switch' ? false : f.input === 'sections' ? ['tools:Tools'] : f.example;
      if (f.fixed) {
        await expect(updateListFromInput(t.db, 'every', { [name]: example })).rejects.toMatchObject({ code: 'invalid_input' });
        continue;
      }
      const list = await updateListFromInput(t.db, 'every', { [name]: example });
      expect((listToJson(list) as Record<string, unknown>)[name]).toEqual(f.read(example, () => {}));
    }
  });
});
