import { randomBytes } from 'node:crypto';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createQueues, type Queues } from '../../src/queues';
import { createTestDb, type TestDb } from '../helpers/db';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'admin-token-for-tests-' + randomBytes(8).toString('hex');

let t: TestDb;
let redis: Redis;
let queues: Queues;
let server: Server;
let closedServer: Server;
let base: string;
let closedBase: string;

function listen(app: ReturnType<typeof createApp>): Promise<{ server: Server; base: string }> {
  return new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve({ server: s, base: `http://127.0.0.1:${(s.address() as AddressInfo).port}/api/v1` }));
  });
}

function api(path: string, init: RequestInit = {}, token: string | null = TOKEN): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return fetch(base + path, { ...init, headers });
}

function postJson(path: string, body: unknown): Promise<Response> {
  return api(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

beforeAll(async () => {
  t = await createTestDb();
  redis = new Redis(REDIS_URL);
  queues = createQueues(REDIS_URL, `bs-test-api-${randomBytes(4).toString('hex')}`, t.db);
  const env = { NODE_ENV: 'test', DATABASE_URL: t.url, REDIS_URL };
  ({ server, base } = await listen(createApp({ config: loadConfig({ ...env, ADMIN_TOKEN: TOKEN }), db: t.db, redis, queues })));
  ({ server: closedServer, base: closedBase } = await listen(createApp({ config: loadConfig(env), db: t.db, redis, queues })));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await new Promise((resolve) => closedServer.close(resolve));
  await queues.systemMail.obliterate({ force: true });
  await queues.close();
  redis.disconnect();
  await t.drop();
});

describe('admin API authentication', () => {
  it('answers 401 without a token, with a wrong one, and with a token of another length', async () => {
    for (const token of [null, 'wrong', TOKEN + 'x', TOKEN.slice(0, -1) + (TOKEN.endsWith('a') ? 'b' : 'a')]) {
      const res = await api('/lists', {}, token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const body = await res.json();
      expect(body.error.code).toBe('unauthorized');
      expect(body.error.message).toMatch(token === null ? /missing admin token/ : /invalid admin token/);
    }
    const basic = await api('/lists', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }, null);
    expect(basic.status).toBe(401);
  });

  it('answers 401 saying so when ADMIN_TOKEN is not configured, whatever the token', async () => {
    const res = await fetch(`${closedBase}/lists`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(401);
    expect((await res.json()).error.message).toMatch(/ADMIN_TOKEN is not configured/);
  });

  it('protects every route, including unknown ones', async () => {
    for (const [method, path] of [
      ['POST', '/lists'],
      ['GET', '/lists/x'],
      ['POST', '/lists/x/subscribers/import'],
      ['GET', '/lists/x/subscribers/export'],
      ['POST', '/subscribers/forget'],
      ['GET', '/nothing-here'],
    ] as const) {
      expect((await api(path, { method }, null)).status).toBe(401);
    }
  });
});

describe('admin API operations', () => {
  it('creates a list, refuses invalid input with every problem, and a taken slug', async () => {
    const created = await postJson('/lists', {
      slug: 'ml-news',
      name: 'ML News',
      from: 'ML News <news@example.com>',
      timezone: 'Europe/Berlin',
      weekly: 'fri 07:00',
      contact: 'ML News, 1 Main Street, Springfield',
      sections: [{ id: 'papers', title: 'Papers' }],
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/api/v1/lists/ml-news');
    expect((await created.json()).list).toMatchObject({ slug: 'ml-news', weekly: 'fri 07:00', monthly: null, timezone: 'Europe/Berlin' });

    const invalid = await postJson('/lists', { slug: 'Bad!', name: 'X', from: 'not an address', timezone: 'Nowhere/City', monthly: '32 09:00' });
    expect(invalid.status).toBe(400);
    const error = (await invalid.json()).error;
    expect(error.code).toBe('invalid_input');
    expect(error.details.map((d: { field: string }) => d.field)).toEqual(['slug', 'from', 'timezone', 'monthly', 'contact']);

    const taken = await postJson('/lists', { slug: 'ml-news', name: 'Again', from: 'a@example.com', contact: 'Again, 1 Main Street' });
    expect(taken.status).toBe(409);
    expect((await api('/lists', { method: 'POST', body: 'slug=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(400);

    const all = await (await api('/lists')).json();
    expect(all.lists.map((l: { slug: string }) => l.slug)).toEqual(['ml-news']);
  });

  it('changes a list with PATCH, by the same rules as POST', async () => {
    const patch = (body: unknown, slug = 'ml-news', type = 'application/json') =>
      api(`/lists/${slug}`, { method: 'PATCH', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': type } });
    const changed = await patch({ contact: 'ML News · 2 Side Street · Hamburg', weekly: null, language: 'zh-cn' });
    expect(changed.status).toBe(200);
    expect((await changed.json()).list).toMatchObject({
      slug: 'ml-news',
      name: 'ML News',
      contact: 'ML News · 2 Side Street · Hamburg',
      weekly: null,
      language: 'zh-CN',
    });

    const invalid = await patch({ contact: '', timezone: 'Nowhere/City' });
    expect(invalid.status).toBe(400);
    expect((await invalid.json()).error.details.map((d: { field: string }) => d.field)).toEqual(['timezone', 'contact']);
    expect((await patch({ slug: 'other' })).status).toBe(400);
    expect((await patch('contact=x', 'ml-news', 'application/x-www-form-urlencoded')).status).toBe(400);
    expect((await patch({ name: 'X' }, 'no-such-list')).status).toBe(404);
    expect((await (await api('/lists/ml-news')).json()).list.contact).toBe('ML News · 2 Side Street · Hamburg');
  });

  it('imports a CSV body, reports bad lines, counts per status, exports and forgets', async () => {
    const csv = 'email,name,cadence,status\r\nana@example.com,Ana,weekly,\r\nbad-address,Bad,,\r\nben@example.com,Ben,monthly,unsubscribed\r\n';
    const imported = await api('/lists/ml-news/subscribers/import?confirmed=true', { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
    expect(imported.status).toBe(200);
    const report = await imported.json();
    expect(report).toMatchObject({ imported: 2, bad: 1, badLines: [{ line: 3, reason: 'invalid email "bad-address"' }] });

    const shown = await (await api('/lists/ml-news')).json();
    expect(shown.counts).toEqual({ active: 1, pending: 0, unsubscribed: 1, bounced: 0, complained: 0 });

    const exported = await api('/lists/ml-news/subscribers/export');
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(exported.headers.get('content-disposition')).toContain('ml-news-subscribers.csv');
    const lines = (await exported.text()).trim().split('\n');
    expect(lines[0]).toBe('email,name,cadence,status,created_at,confirmed_at');
    expect(
      lines
        .slice(1)
        .map((l) => l.split(',').slice(0, 4).join(','))
        .sort(),
    ).toEqual(['ana@example.com,Ana,weekly,active', 'ben@example.com,Ben,monthly,unsubscribed']);

    const forgot = await postJson('/subscribers/forget', { email: 'ANA@example.com' });
    expect(await forgot.json()).toEqual({ forgotten: true, found: true, subscriptions: 1 });
    const again = await api('/lists/ml-news/subscribers/import?confirmed=true', { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
    expect(await again.json()).toMatchObject({ imported: 0, skipped: 1, skippedReasons: { forgotten: 1 }, unchanged: 1 });
  });

  it('answers user errors as JSON with a code, never a stack trace', async () => {
    const cases: Array<[Promise<Response>, number, string]> = [
      [api('/lists/nope'), 404, 'not_found'],
      [api('/lists/nope/subscribers/export'), 404, 'not_found'],
      [api('/lists/nope/subscribers/import', { method: 'POST', body: 'email\n', headers: { 'content-type': 'text/csv' } }), 404, 'not_found'],
      [api('/lists/ml-news/subscribers/import', { method: 'POST', body: 'email\n', headers: { 'content-type': 'application/json' } }), 400, 'invalid_input'],
      [
        api('/lists/ml-news/subscribers/import?confirmed=maybe', { method: 'POST', body: 'email\n', headers: { 'content-type': 'text/csv' } }),
        400,
        'invalid_input',
      ],
      [api('/lists/ml-news/subscribers/import', { method: 'POST', body: 'a@b.com,x\n', headers: { 'content-type': 'text/csv' } }), 400, 'invalid_input'],
      [
        api('/lists/ml-news/subscribers/import', { method: 'POST', body: 'email,name\nx@example.com,"open\n', headers: { 'content-type': 'text/csv' } }),
        400,
        'invalid_input',
      ],
      [postJson('/subscribers/forget', {}), 400, 'invalid_input'],
      [postJson('/subscribers/forget', { email: 'nobody' }), 400, 'invalid_input'],
    ];
    for (const [pending, status, code] of cases) {
      const res = await pending;
      const body = await res.json();
      expect([res.status, body.error.code]).toEqual([status, code]);
      expect(JSON.stringify(body)).not.toMatch(/\bat .*\.ts:\d+/);
    }
  });

  it('refuses a body declared over the limit before reading it', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${base}/lists/ml-news/subscribers/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/csv', 'content-length': String(60 * 1024 * 1024) },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: text });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.write('email\n'); // and never the rest
    });
    expect(status).toBe(413);
    expect(JSON.parse(body).error).toMatchObject({ code: 'payload_too_large', message: expect.stringMatching(/larger than 50 MB/) });
  });
});
