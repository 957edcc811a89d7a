import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { createApp } from '../../src/app';
import { runProcess } from '../../src/main';
import { loadConfig } from '../../src/config';
import type { List } from '../../src/db/schema';
import { parseMail } from '../../src/mail/capture';
import { forgetSubscriber } from '../../src/subscribers/forget';
import { changePreferences } from '../../src/subscribers/preferences';
import { signToken } from '../../src/subscribers/tokens';
import { log } from '../../src/log';
import { address, linkIn, postForm, postJson, queueIdle, startWorld, waitForMail, type World } from '../helpers/world';
import { eventually } from '../helpers/eventually';

/**
 * The findings of a hostile test of the reader side (issue 8), each as it was reproduced:
 * every test here failed before its fix.
 */

let app: World;
let news: List;
const ADMIN_TOKEN = 'admin-token-for-hardening-tests';

beforeAll(async () => {
  app = await startWorld({ app: true, list: false, env: { ADMIN_TOKEN } });
  news = await app.createList('news', {
    sections: [
      { id: 'papers', title: 'Papers' },
      { id: 'tools', title: 'Tools' },
    ],
  });
});

afterAll(async () => {
  await app?.close();
});

async function subscriptionOf(email: string) {
  return app.test.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .selectAll('s')
    .select(['p.email', 'p.name'])
    .where(sql<string>`lower(p.email)`, '=', email.toLowerCase())
    .where('s.list_id', '=', news.id)
    .executeTakeFirst();
}

async function activeSubscriber(email: string, name?: string): Promise<string> {
  await postForm(`${app.baseUrl}/lists/news/subscribe`, name ? { email, name } : { email });
  const link = await linkIn(await waitForMail(app.smtp, email, /Confirm/), 'confirm');
  expect((await fetch(link, { method: 'POST' })).status).toBe(200);
  return (await subscriptionOf(email))!.id;
}

const prefsToken = (id: string) => signToken(app.config.secretKeys, 'preferences', id);
const unsubscribeUrl = (id: string) => `${app.baseUrl}/unsubscribe/${signToken(app.config.secretKeys, 'unsubscribe', id)}`;

describe('finding 2: an anonymous subscribe never changes an existing subscriber', () => {
  test('the name of an active subscriber without one stays empty', async () => {
    const email = address('nameless');
    await activeSubscriber(email);
    const res = await postForm(`${app.baseUrl}/lists/news/subscribe`, { email, name: 'Your account is locked, call 555-0100' });
    expect(res.status).toBe(200);
    expect((await subscriptionOf(email))!.name).toBe('');
  });

  test('the cadence of a pending subscription stays as the reader chose it', async () => {
    const email = address('pending');
    await postForm(`${app.baseUrl}/lists/news/subscribe`, { email, cadence: 'weekly' });
    await postJson(`${app.baseUrl}/lists/news/subscribe`, { email, cadence: 'monthly', name: 'Mallory' });
    expect(await subscriptionOf(email)).toMatchObject({ status: 'pending', cadence: 'weekly', name: '' });
  });
});

describe('finding 3: personal data only through a short-lived link sent to the mailbox', () => {
  test('the preferences page emails a one-hour export link; only that link downloads the data', async () => {
    const email = address('data');
    const id = await activeSubscriber(email);
    const token = prefsToken(id);

    const page = await (await fetch(`${app.baseUrl}/preferences/${token}`)).text();
    expect(page).toContain('Email me my data link');

    const asked = await postForm(`${app.baseUrl}/preferences/export`, { token });
    expect(asked.status).toBe(200);
    expect(asked.headers.get('content-type')).toContain('text/html');
    expect(await asked.text()).toContain('We’ve emailed you a link to download your data');

    const mail = await waitForMail(app.smtp, email, /Your data from/);
    const text = (await parseMail(mail)).text ?? '';
    const link = /https?:\/\/\S+\/export\/\S+/.exec(text)?.[0];
    expect(link).toBeDefined();
    const exportToken = link!.split('/').pop()!;
    // Signed for one hour, as the email says.
    const expiry = parseInt(exportToken.split('.')[2]!, 36);
    expect(expiry - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(expiry - Date.now()).toBeLessThanOrEqual(60 * 60_000);

    const ask = await fetch(link!);
    expect(ask.status).toBe(200);
    expect(await ask.text()).toContain(`action="/export/${exportToken}"`);
    const download = await fetch(link!, { method: 'POST' });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toContain('attachment');
    expect(download.headers.get('cache-control')).toBe('no-store');
    expect(((await download.json()) as { subscriber: { email: string } }).subscriber.email).toBe(email);

    // A preferences or unsubscribe token (what a forwarded newsletter carries) is not an export token.
    expect((await fetch(`${app.baseUrl}/export/${token}`, { method: 'POST' })).status).toBe(400);
    const expired = signToken(app.config.secretKeys, 'export', id, new Date(Date.now() - 61 * 60_000));
    expect((await fetch(`${app.baseUrl}/export/${expired}`, { method: 'POST' })).status).toBe(410);
  });
});

describe('finding 7: lower-severity findings', () => {
  test('one-click unsubscribe acts whatever the body: malformed JSON, oversized, wrong charset', async () => {
    const bodies: Array<{ type: string; body: string }> = [
      { type: 'application/json', body: 'List-Unsubscribe=One-Click' },
      { type: 'application/x-www-form-urlencoded', body: 'List-Unsubscribe=One-Click&pad=' + 'x'.repeat(300 * 1024) },
      { type: 'application/x-www-form-urlencoded; charset=koi8-r', body: 'List-Unsubscribe=One-Click' },
    ];
    for (const { type, body } of bodies) {
      const id = await activeSubscriber(address('oneclick'));
      const res = await fetch(unsubscribeUrl(id), { method: 'POST', headers: { 'content-type': type }, body });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/unsubscribed/i);
      const row = await app.test.db.selectFrom('subscriptions').select('status').where('id', '=', id).executeTakeFirstOrThrow();
      expect(row.status).toBe('unsubscribed');
    }
  });

  test('NUL bytes in a list slug, a form field or an admin field get a 4xx with a message, not a 500', async () => {
    // A 500 is logged through pino (src/http/errors.ts): any error line here is a failure.
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    const logged = jest.spyOn(log, 'error').mockImplementation((...args: unknown[]) => void errors.push(args));
    try {
      const slug = await fetch(`${app.baseUrl}/lists/news%00x`);
      expect([400, 404]).toContain(slug.status);
      const form = await postForm(`${app.baseUrl}/lists/news/subscribe`, { email: 'a\u0000@example.org', name: 'x' });
      expect(form.status).toBe(400);
      const admin = await postJson(
        `${app.baseUrl}/api/v1/lists`,
        { slug: 'nul', name: 'N\u0000', from: 'n@example.org' },
        { authorization: `Bearer ${ADMIN_TOKEN}` },
      );
      expect(admin.status).toBe(400);
      expect(((await admin.json()) as { error: { message: string } }).error.message).toMatch(/NUL/);
      const forget = await postJson(`${app.baseUrl}/api/v1/subscribers/forget`, { email: 'x\u0000@example.org' }, { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect(forget.status).toBe(400);
    } finally {
      console.error = original;
      logged.mockRestore();
    }
    expect(errors).toEqual([]);
  });

  test('bidi control characters are refused in addresses and names', async () => {
    for (const body of [
      { email: `moc.elpmaxe\u202e@example.org` },
      { email: address('bidi'), name: 'Ada \u202eevil\u202c' },
      { email: address('bidi'), name: '\u2067isolate' },
    ]) {
      const res = await postJson(`${app.baseUrl}/lists/news/subscribe`, body);
      expect(res.status).toBe(400);
    }
    const id = await activeSubscriber(address('bidi-prefs'));
    const res = await postForm(`${app.baseUrl}/preferences`, { token: prefsToken(id), name: 'Grace\u200f', sections: '' });
    expect(res.status).toBe(400);
  });

  test('a preferences POST without a sections field keeps the sections; the page form can untick all, which is refused as unsubscribing', async () => {
    const email = address('sections');
    const id = await activeSubscriber(email);
    const token = prefsToken(id);
    expect((await postForm(`${app.baseUrl}/preferences`, { token, cadence: 'monthly' })).status).toBe(200);
    expect(await subscriptionOf(email)).toMatchObject({ cadence: 'monthly', excluded_sections: [] });

    // What the browser sends with every box unticked: only the form's empty marker.
    const page = await (await fetch(`${app.baseUrl}/preferences/${token}`)).text();
    expect(page).toContain('<input type="hidden" name="sections" value="">');
    // Every box unticked reaches the route (and is refused there: tests/integration/no-empty-email.test.ts).
    expect((await postForm(`${app.baseUrl}/preferences`, { token, cadence: 'weekly', sections: '' })).status).toBe(400);
    expect(await subscriptionOf(email)).toMatchObject({ cadence: 'monthly', excluded_sections: [] });
  });

  test('"delete me" racing "save preferences" does not deadlock: both take the locks in one order', async () => {
    const email = address('race');
    const id = await activeSubscriber(email, 'Before');
    await queueIdle(app.queues); // no worker query may queue behind the lock below
    // A third transaction holds the lists table, so that "save preferences" stops right after
    // locking what it locks first, and "delete me" (which never reads lists) runs into it.
    const blocker = await app.test.db.connection().execute(async (conn) => {
      await sql`BEGIN`.execute(conn);
      await sql`LOCK TABLE lists IN ACCESS EXCLUSIVE MODE`.execute(conn);
      const save = changePreferences({ db: app.test.db }, id, { name: 'After' }, {}).then(
        () => 'saved',
        (err: Error) => err.message,
      );
      await eventually(() => waitingOn(/from "lists"/i));
      const forget = forgetSubscriber(app.test.db, email).then(
        () => 'forgotten',
        (err: Error) => err.message,
      );
      await eventually(() => waitingOn(/subscribers/i));
      await sql`COMMIT`.execute(conn);
      return Promise.all([save, forget]);
    });
    expect(blocker).toEqual(['saved', 'forgotten']);
    expect(await subscriptionOf(email)).toBeUndefined();

    /** Whether a backend of this database waits for a lock in a query matching `pattern`. */
    async function waitingOn(pattern: RegExp): Promise<boolean> {
      const { rows } = await sql<{ query: string }>`
        SELECT query FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(app.test.db);
      return rows.some((r) => pattern.test(r.query));
    }
  });

  test('nosniff and no-store on JSON errors, /healthz and the admin CSV export', async () => {
    const error = await postJson(`${app.baseUrl}/lists/nope/subscribe`, { email: address('x') });
    expect(error.status).toBe(404);
    const health = await fetch(`${app.baseUrl}/healthz`);
    const exported = await fetch(`${app.baseUrl}/api/v1/lists/news/subscribers/export`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(exported.status).toBe(200);
    await exported.text();
    for (const res of [error, health, exported]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    // Served over plain http: no HSTS (it would be ignored, and would say something untrue).
    expect(health.headers.get('strict-transport-security')).toBeNull();
  });
});

describe('configuration that changes the HTTP answers', () => {
  async function serve(env: Record<string, string>, withOutbox = false) {
    const config = loadConfig({ NODE_ENV: 'test', SECRET_KEY: 'test-secret-key-for-links-0001', SUBSCRIBE_RATE_PER_IP: '1000', ADMIN_TOKEN, ...env });
    const server = http.createServer(createApp({ config, db: app.test.db, redis: app.redis, queues: app.queues, outbox: withOutbox ? app.smtp : undefined }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  test('TRUST_PROXY decides whose X-Forwarded-For is believed (default: loopback proxies)', async () => {
    const consentIp = async (url: string) => {
      const email = address('proxy');
      await postForm(`${url}/lists/news/subscribe`, { email }, { 'x-forwarded-for': '203.0.113.7' });
      return (await subscriptionOf(email))!.consent_ip;
    };
    const byDefault = await serve({});
    const none = await serve({ TRUST_PROXY: 'false' });
    try {
      expect(await consentIp(byDefault.url)).toBe('203.0.113.7');
      expect(await consentIp(none.url)).toBe('127.0.0.1');
    } finally {
      await byDefault.close();
      await none.close();
    }
  });

  test('HSTS when the public URL is https', async () => {
    const site = await serve({ PUBLIC_URL: 'https://news.example.org' });
    try {
      expect((await fetch(`${site.url}/healthz`)).headers.get('strict-transport-security')).toBe('max-age=31536000');
    } finally {
      await site.close();
    }
  });

  test('the outbox answers only this machine, never what a proxy forwards, and is never cached', async () => {
    const dev = await serve({}, true);
    try {
      const local = await fetch(`${dev.url}/dev/outbox`);
      expect(local.status).toBe(200);
      expect(local.headers.get('cache-control')).toBe('no-store');
      expect(local.headers.get('x-content-type-options')).toBe('nosniff');
      const forwarded = await fetch(`${dev.url}/dev/outbox`, { headers: { 'x-forwarded-for': '198.51.100.4' } });
      expect(forwarded.status).toBe(404);
      expect(await forwarded.text()).not.toContain('Outbox');
    } finally {
      await dev.close();
    }
  });

  test('production without SMTP_URL refuses to start, so no outbox can exist there', async () => {
    const config = loadConfig({ NODE_ENV: 'production', SECRET_KEY: 'a-production-secret-key-0001' });
    await expect(runProcess(config, { http: true, workers: true })).rejects.toThrow(/SMTP_URL is required when NODE_ENV=production/);
  });
});
