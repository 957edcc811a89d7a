import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { List } from '../../src/db/schema';
import { signToken } from '../../src/subscribers/tokens';
import {
  postForm,
  startWorld,
  type World,
  addSubscribers,
  deliveryCounts,
  importFixture,
  receivedPerAddress,
  startSend,
  waitForSendStatus,
} from '../helpers/world';

/**
 * A reader who unticks every section gets no empty email (issue 13): the preferences page says
 * that this is unsubscribing and offers that button, a POST of every box unticked saves nothing,
 * and the sender never sends an issue of which a reader left out every section.
 */

describe('the preferences page, over HTTP', () => {
  let app: World;
  let list: List;

  beforeAll(async () => {
    app = await startWorld({ app: true, list: false });
    list = await app.createList('news', {
      sections: [
        { id: 'papers', title: 'Papers' },
        { id: 'tools', title: 'Tools' },
      ],
    });
  });
  afterAll(() => app?.close());

  async function activeReader(email: string): Promise<string> {
    const { rows } = await sql<{ id: string }>`
      WITH p AS (INSERT INTO subscribers (email, name) VALUES (${email}, 'Ada') RETURNING id)
      INSERT INTO subscriptions (list_id, subscriber_id, status, cadence, excluded_sections, consent_source, confirmed_at)
      SELECT ${list.id}, id, 'active', 'weekly', '{tools}'::text[], 'test', now() FROM p RETURNING id
    `.execute(app.test.db);
    return rows[0]!.id;
  }

  const subscription = (id: string) => app.test.db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  /** The action of the page's one unsubscribe form: a plain POST form, no script needed. */
  function unsubscribeAction(page: string): string {
    const forms = [...page.matchAll(/<form method="post" action="(\/unsubscribe\/[^"]+)">\s*<button type="submit"[^>]*>([^<]+)<\/button><\/form>/g)];
    expect(forms).toHaveLength(1);
    expect(forms[0]![2]).toBe('Unsubscribe from The news letter');
    return forms[0]![1]!;
  }

  test('the page says unticking every section is unsubscribing, and offers the button', async () => {
    const id = await activeReader('says@example.org');
    const page = await (await fetch(`${app.baseUrl}/preferences/${signToken(app.config.secretKeys, 'preferences', id)}`)).text();
    expect(page).toContain('Unticking all of them is the same as unsubscribing.');
    expect(unsubscribeAction(page)).toBe(`/unsubscribe/${signToken(app.config.secretKeys, 'unsubscribe', id)}`);
  });

  test('a POST with every section unticked saves nothing, explains, and its unsubscribe button works', async () => {
    const id = await activeReader('unticks@example.org');
    const token = signToken(app.config.secretKeys, 'preferences', id);
    // What a browser sends with both boxes unticked and the cadence changed: the empty marker only.
    const res = await postForm(`${app.baseUrl}/preferences`, { token, name: 'Ada', cadence: 'monthly', sections: '' });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('You unticked every section');
    expect(page).toContain('Nothing was saved.');
    expect(page).not.toContain('Your preferences are saved.');
    // Nothing of that submission is stored: no empty section set, no other change either.
    expect(await subscription(id)).toMatchObject({ status: 'active', cadence: 'weekly', excluded_sections: ['tools'] });
    const events = await app.test.db.selectFrom('subscription_events').select('type').where('subscription_id', '=', id).execute();
    expect(events.map((e) => e.type)).not.toContain('preferences_changed');

    // The page's own button, as a browser without script submits it.
    const done = await postForm(`${app.baseUrl}${unsubscribeAction(page)}`, {});
    expect(done.status).toBe(200);
    expect(await done.text()).toMatch(/unsubscribed/i);
    expect(await subscription(id)).toMatchObject({ status: 'unsubscribed' });
  });

  test('one section kept is saved as before', async () => {
    const id = await activeReader('keeps@example.org');
    const token = signToken(app.config.secretKeys, 'preferences', id);
    const res = await postForm(`${app.baseUrl}/preferences`, { token, sections: ['', 'tools'] });
    expect(res.status).toBe(200);
    expect(await subscription(id)).toMatchObject({ status: 'active', excluded_sections: ['papers'] });
  });
});

describe('the sender', () => {
  let world: World;
  let tmp: string;

  beforeAll(async () => {
    world = await startWorld();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bs-no-empty-'));
  });
  afterAll(async () => {
    await world?.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  test('never sends an issue of which the reader left out every section', async () => {
    // An issue that carries only one of the list's sections: a reader who left that one out
    // (allowed: they kept the others) would get a masthead and a footer.
    const file = path.join(tmp, 'issue.json');
    const issue = {
      format: 1,
      list: 'ml-news',
      slug: 'papers-only',
      title: 'Papers only',
      date: '2021-02-01',
      sections: [{ id: 'papers', title: 'Papers', items: [{ title: 'A paper', url: 'https://example.com/paper', summary: 'Worth reading.' }] }],
    };
    await fs.writeFile(file, JSON.stringify(issue));
    await importFixture(world, file);
    const readers = await addSubscribers(world.db, world.list.id, 2, 'reads');
    const [skips] = await addSubscribers(world.db, world.list.id, 1, 'skips-papers', { excluded: ['papers'] });
    const [other] = await addSubscribers(world.db, world.list.id, 1, 'skips-tools', { excluded: ['tools'] });

    await startSend(world, 'papers-only');
    await waitForSendStatus(world.db, 'done');
    const received = receivedPerAddress(world.smtp);
    expect([...received.keys()].sort()).toEqual([...readers, other!].sort());
    expect(received.has(skips!)).toBe(false);
    expect(await deliveryCounts(world.db)).toEqual({ sent: 3, suppressed: 1 });
    const skipped = await world.db.selectFrom('deliveries').select('smtp_response').where('status', '=', 'suppressed').executeTakeFirstOrThrow();
    expect(skipped.smtp_response).toMatch(/every section of this issue is one the reader left out/);
    // Every email that went has the section in it.
    for (const m of world.smtp.messages()) expect(m.raw.toString('utf8')).toContain('A paper');
  });
});
