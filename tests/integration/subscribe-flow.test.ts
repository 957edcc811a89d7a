import { sql } from 'kysely';
import type { List } from '../../src/db/schema';
import { parseMail } from '../../src/mail/capture';
import { emailHash } from '../../src/subscribers/repository';
import { signToken, verifyToken } from '../../src/subscribers/tokens';
import { address, linkIn, mailsTo, postForm, postJson, queueIdle, startWorld, waitForMail, type World } from '../helpers/world';
import { eventually } from '../helpers/eventually';

/**
 * The reader's whole path against real PostgreSQL, Redis and SMTP:
 * subscribe → confirmation email → link → active → preferences → one-click unsubscribe,
 * and every way a link can be wrong.
 */

let app: World;
let news: List;
let zh: List;
const DAY = 24 * 60 * 60 * 1000;
const BROWSER_UA = 'Mozilla/5.0 (integration test)';

// One world for the file: its keys are those of an installation that rotated SECRET_KEY (the
// rotation test's), and its SMTP server refuses addresses starting with nobody- (the bounce
// test's); no other test signs with the old key or writes to such an address.
const OLD_KEY = 'the-key-before-rotation-0001';
const NEW_KEY = 'the-key-after-rotation-00002';

beforeAll(async () => {
  app = await startWorld({
    app: true,
    list: false,
    ratePerIp: 1000,
    env: { SECRET_KEY: NEW_KEY, SECRET_KEY_OLD: OLD_KEY },
    onRcpt: (a) => (a.startsWith('nobody-') ? { code: 550, message: 'no such user' } : undefined),
  });
  news = await app.createList('ml-news', {
    name: 'ML <News>',
    sections: [
      { id: 'papers', title: 'Papers & preprints' },
      { id: 'tools', title: 'Tools' },
    ],
    welcome: true,
  });
  zh = await app.createList('zh-weekly', { name: '机器学习周报', language: 'zh-CN' });
});

afterAll(async () => {
  await app?.close();
});

async function subscriptionOf(email: string, list: List = news) {
  return app.test.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .selectAll('s')
    .select(['p.email', 'p.name'])
    .where(sql<string>`lower(p.email)`, '=', email.toLowerCase())
    .where('s.list_id', '=', list.id)
    .executeTakeFirst();
}

async function eventsOf(subscriptionId: string) {
  return app.test.db.selectFrom('subscription_events').selectAll().where('subscription_id', '=', subscriptionId).orderBy('id').execute();
}

async function typesOf(subscriptionId: string) {
  return (await eventsOf(subscriptionId)).map((e) => e.type);
}

function subscribeUrl(list: List = news) {
  return `${app.baseUrl}/lists/${list.slug}/subscribe`;
}

/** Subscribes and confirms through the real links; returns the subscription id and the email's links. */
async function activeSubscriber(email: string, list: List = news) {
  expect((await postForm(subscribeUrl(list), { email })).status).toBe(200);
  const mail = await waitForMail(app.smtp, email, /confirm|确认/i);
  const confirm = await linkIn(mail, 'confirm');
  expect((await fetch(confirm, { method: 'POST' })).status).toBe(200);
  const sub = (await subscriptionOf(email, list))!;
  expect(sub.status).toBe('active');
  return { id: sub.id, confirm };
}

test('the whole path: subscribe → email → link → active → preferences → one-click unsubscribe', async () => {
  const email = address('ada');

  // The form page.
  const form = await fetch(`${app.baseUrl}/lists/ml-news`);
  expect(form.status).toBe(200);
  const formHtml = await form.text();
  expect(formHtml).toContain('<html lang="en"');
  expect(formHtml).toContain('ML &lt;News&gt;');
  expect(formHtml).not.toContain('ML <News>');
  expect(formHtml).toMatch(/<label for="email">/);
  expect(formHtml).toMatch(/name="website"/);
  expect(form.headers.get('content-security-policy')).toContain("default-src 'none'");

  // Subscribe from the form: pending, with the consent record and an event.
  const res = await postForm(subscribeUrl(), { email, name: 'Ada <Lovelace>', cadence: 'weekly', website: '' }, { 'user-agent': BROWSER_UA });
  expect(res.status).toBe(200);
  expect(await res.text()).toContain('Check your inbox');
  const pending = (await subscriptionOf(email))!;
  expect(pending).toMatchObject({
    status: 'pending',
    cadence: 'weekly',
    consent_source: 'form',
    consent_ip: '127.0.0.1',
    consent_user_agent: BROWSER_UA,
    name: 'Ada <Lovelace>',
  });
  expect(pending.confirmed_at).toBeNull();

  // The confirmation email: MJML HTML and text, a link that names no address.
  const mail = await waitForMail(app.smtp, email, /Confirm your subscription/);
  const parsed = await parseMail(mail);
  expect(parsed.subject).toBe('Confirm your subscription to ML <News>');
  expect(parsed.from?.text).toContain('ml-news@news.example.org');
  expect(parsed.html).toContain('ML &lt;News&gt;');
  expect(parsed.html).toContain('<html lang="en"');
  const confirmLink = await linkIn(mail, 'confirm');
  expect(parsed.html).toContain(`href="${confirmLink}"`);
  expect(confirmLink.startsWith(`${app.baseUrl}/confirm/confirm.`)).toBe(true);
  expect(confirmLink).not.toContain('@');
  expect(confirmLink).not.toContain(encodeURIComponent(email));
  expect(confirmLink).not.toContain(pending.id);
  await eventually(async () => (await typesOf(pending.id)).includes('confirmation_sent'));

  // Following the link shows a button and changes nothing (a GET never acts).
  const ask = await fetch(confirmLink);
  expect(ask.status).toBe(200);
  expect(await ask.text()).toMatch(/<form method="post" action="\/confirm\/confirm\.[^"]+"><button type="submit" autofocus>Confirm my subscription<\/button>/);
  expect(ask.headers.get('referrer-policy')).toBe('no-referrer');
  expect((await subscriptionOf(email))!.status).toBe('pending');

  // Pressing it confirms; pressing it again changes nothing more.
  const confirmed = await fetch(confirmLink, { method: 'POST', headers: { 'user-agent': BROWSER_UA } });
  expect(confirmed.status).toBe(200);
  expect(await confirmed.text()).toContain('You’re subscribed');
  const active = (await subscriptionOf(email))!;
  expect(active.status).toBe('active');
  expect(active.confirmed_at).toBeInstanceOf(Date);
  const again = await fetch(confirmLink, { method: 'POST' });
  expect(again.status).toBe(200);
  expect((await typesOf(active.id)).filter((t) => t === 'confirmed')).toHaveLength(1);
  const confirmedEvent = (await eventsOf(active.id)).find((e) => e.type === 'confirmed')!;
  expect(confirmedEvent.data).toMatchObject({ ip: '127.0.0.1', user_agent: BROWSER_UA });

  // The welcome email (this list sends one) carries preferences and one-click unsubscribe.
  const welcome = await waitForMail(app.smtp, email, /Welcome/);
  const welcomeParsed = await parseMail(welcome);
  const unsubscribeLink = await linkIn(welcome, 'unsubscribe');
  const preferencesLink = await linkIn(welcome, 'preferences');
  const rawHeaders = welcome.raw
    .toString()
    .split('\r\n\r\n')[0]!
    .replace(/\r\n[ \t]+/g, ' ');
  expect(rawHeaders).toContain(`List-Unsubscribe: <${unsubscribeLink}>`);
  expect(rawHeaders).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
  expect(welcomeParsed.html).toContain(`href="${preferencesLink}"`);

  // Preferences: a page with the current settings, changes POSTed with the token in the form.
  const prefsPage = await fetch(preferencesLink);
  expect(prefsPage.status).toBe(200);
  const prefsHtml = await prefsPage.text();
  expect(prefsHtml).toContain('value="Ada &lt;Lovelace&gt;"');
  expect(prefsHtml).toContain('Papers &amp; preprints');
  const token = /name="token" value="([^"]+)"/.exec(prefsHtml)![1]!;
  expect(token).toBe(preferencesLink.split('/').pop());

  const saved = await postForm(`${app.baseUrl}/preferences`, { token, name: 'Ada', cadence: 'monthly', sections: ['papers'] });
  expect(saved.status).toBe(200);
  const savedHtml = await saved.text();
  expect(savedHtml).toContain('Your preferences are saved.');
  expect(savedHtml).toMatch(/id="cadence-monthly" name="cadence" value="monthly" checked/);
  expect(savedHtml).toMatch(/value="papers" checked/);
  expect(savedHtml).not.toMatch(/value="tools" checked/);
  const changed = (await subscriptionOf(email))!;
  expect(changed).toMatchObject({ cadence: 'monthly', excluded_sections: ['tools'], name: 'Ada' });
  const prefEvent = (await eventsOf(active.id)).find((e) => e.type === 'preferences_changed')!;
  expect(prefEvent.data).toMatchObject({
    changed: { cadence: { from: 'weekly', to: 'monthly' }, excluded_sections: { from: [], to: ['tools'] }, name: true },
    ip: '127.0.0.1',
  });
  // Saving the same settings again records nothing.
  await postForm(`${app.baseUrl}/preferences`, { token, name: 'Ada', cadence: 'monthly', sections: ['papers'] });
  expect((await typesOf(active.id)).filter((t) => t === 'preferences_changed')).toHaveLength(1);

  // Pause and resume.
  const paused = await postForm(`${app.baseUrl}/preferences/pause`, { token });
  expect(paused.status).toBe(200);
  expect(await paused.text()).toContain('Resume delivery');
  expect((await subscriptionOf(email))!.paused).toBe(true);
  await postForm(`${app.baseUrl}/preferences/resume`, { token });
  expect((await subscriptionOf(email))!.paused).toBe(false);

  // Download my data: the page emails a short-lived link; that link's page hands the data over.
  expect((await postForm(`${app.baseUrl}/preferences/export`, { token })).status).toBe(200);
  const dataMail = await parseMail(await waitForMail(app.smtp, email, /Your data from/));
  const dataLink = /https?:\/\/\S+\/export\/\S+/.exec(dataMail.text ?? '')![0];
  const exported = await fetch(dataLink, { method: 'POST' });
  expect(exported.status).toBe(200);
  expect(exported.headers.get('content-disposition')).toContain('attachment');
  const data = (await exported.json()) as {
    subscriber: { email: string };
    subscriptions: Array<{ list: { slug: string }; cadence: string; consent: { source: string }; events: Array<{ type: string }> }>;
  };
  expect(data.subscriber.email).toBe(email);
  expect(data.subscriptions).toHaveLength(1);
  expect(data.subscriptions[0]).toMatchObject({ list: { slug: 'ml-news' }, cadence: 'monthly', consent: { source: 'form' } });
  expect(data.subscriptions[0]!.events.map((e) => e.type)).toEqual(
    expect.arrayContaining(['subscribed', 'confirmation_sent', 'confirmed', 'preferences_changed', 'paused', 'resumed']),
  );

  // One-click unsubscribe (RFC 8058): no cookie, no page, 200, effective at once.
  const oneClick = await fetch(unsubscribeLink, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'List-Unsubscribe=One-Click',
  });
  expect(oneClick.status).toBe(200);
  expect(oneClick.headers.get('set-cookie')).toBeNull();
  const gone = (await subscriptionOf(email))!;
  expect(gone.status).toBe('unsubscribed');
  expect(gone.unsubscribed_at).toBeInstanceOf(Date);
  // Replayed: still 200, nothing more happens.
  expect(
    (await fetch(unsubscribeLink, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } }))
      .status,
  ).toBe(200);
  const types = await typesOf(active.id);
  expect(types.filter((t) => t === 'unsubscribed')).toHaveLength(1);
  expect(types).toEqual(['subscribed', 'confirmation_sent', 'confirmed', 'preferences_changed', 'paused', 'resumed', 'exported', 'unsubscribed']);
  const unsubEvent = (await eventsOf(active.id)).find((e) => e.type === 'unsubscribed')!;
  expect(unsubEvent.data).toMatchObject({ method: 'one-click', ip: '127.0.0.1' });

  // The preferences page of an unsubscribed reader offers to join again; the old confirm link does nothing.
  expect(await (await fetch(preferencesLink)).text()).toContain('You’re unsubscribed from ML &lt;News&gt;.');
  const replayedConfirm = await fetch(confirmLink, { method: 'POST' });
  expect(replayedConfirm.status).toBe(410);
  expect((await subscriptionOf(email))!.status).toBe('unsubscribed');
});

test('the unsubscribe page shows one button; only its POST unsubscribes', async () => {
  const email = address('page-unsub');
  const { id } = await activeSubscriber(email);
  const link = `${app.baseUrl}/unsubscribe/${signToken(app.config.secretKeys, 'unsubscribe', id)}`;
  const page = await fetch(link);
  expect(page.status).toBe(200);
  const body = await page.text();
  expect(body.match(/<button/g)).toHaveLength(1);
  expect((await subscriptionOf(email))!.status).toBe('active');

  const res = await postForm(link, {});
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/html');
  expect(await res.text()).toContain('You’re unsubscribed');
  expect((await subscriptionOf(email))!.status).toBe('unsubscribed');
  expect((await eventsOf(id)).find((e) => e.type === 'unsubscribed')!.data).toMatchObject({ method: 'page' });
});

test('subscribing again after unsubscribing needs a new double opt-in; the old link is refused', async () => {
  const email = address('rejoin');
  const { id, confirm: oldLink } = await activeSubscriber(email);
  await fetch(`${app.baseUrl}/unsubscribe/${signToken(app.config.secretKeys, 'unsubscribe', id)}`, {
    method: 'POST',
    body: 'List-Unsubscribe=One-Click',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect((await subscriptionOf(email))!.status).toBe('unsubscribed');

  const res = await postForm(subscribeUrl(), { email, cadence: 'monthly' }, { 'user-agent': 'second-visit' });
  expect(res.status).toBe(200);
  // The request waits beside the subscription, which stays unsubscribed until the click.
  const asked = (await subscriptionOf(email))!;
  expect(asked).toMatchObject({ id, status: 'unsubscribed', cadence: 'weekly' });
  expect(asked.consent_user_agent).not.toBe('second-visit');

  // The link from the first confirmation email predates the unsubscribe: refused, offers a new one.
  const stale = await fetch(oldLink, { method: 'POST' });
  expect(stale.status).toBe(410);
  expect(await stale.text()).toContain('Send me a new link');
  expect((await subscriptionOf(email))!.status).toBe('unsubscribed');

  const second = await waitForMail(app.smtp, email, /Confirm your subscription/, 2);
  const newLink = await linkIn(second, 'confirm');
  expect(newLink).not.toBe(oldLink);
  expect((await fetch(newLink, { method: 'POST' })).status).toBe(200);
  expect(await subscriptionOf(email)).toMatchObject({ status: 'active', cadence: 'monthly', consent_user_agent: 'second-visit' });
  expect((await typesOf(id)).filter((t) => t === 'resubscribe_requested')).toHaveLength(1);
});

test('the answer is identical for a new, a pending and an active address (no enumeration)', async () => {
  const active = address('enum-active');
  await activeSubscriber(active);
  const pending = address('enum-pending');
  await postForm(subscribeUrl(), { email: pending });
  await queueIdle(app.queues);
  const fresh = address('enum-new');

  const answers = [];
  for (const email of [fresh, pending, active]) {
    const form = await postForm(subscribeUrl(), { email, cadence: 'weekly' });
    const json = await postJson(subscribeUrl(), { email, cadence: 'weekly' });
    answers.push({ formStatus: form.status, form: await form.text(), jsonStatus: json.status, json: await json.text() });
  }
  expect(answers[0]!.formStatus).toBe(200);
  expect(answers[0]!.jsonStatus).toBe(202);
  expect(JSON.parse(answers[0]!.json)).toEqual({ ok: true, message: expect.stringContaining('Check your inbox') });
  expect(answers[1]).toEqual(answers[0]);
  expect(answers[2]).toEqual(answers[0]);

  // What happened behind the same answer: the active reader was left as is and got a
  // reminder of their preferences link, not a confirmation.
  expect((await subscriptionOf(active))!.status).toBe('active');
  await waitForMail(app.smtp, active, /Your link to manage/);
  await waitForMail(app.smtp, pending, /Confirm your subscription/, 2);
  await waitForMail(app.smtp, fresh, /Confirm your subscription/);
});

test('JSON subscribe: consent source "api", cadence kept; bad input gets a 400 with a JSON error', async () => {
  const email = address('api');
  const ok = await postJson(subscribeUrl(), { email, name: 'Grace', cadence: 'monthly' }, { 'user-agent': 'curl/8' });
  expect(ok.status).toBe(202);
  expect(await subscriptionOf(email)).toMatchObject({
    status: 'pending',
    cadence: 'monthly',
    consent_source: 'api',
    consent_user_agent: 'curl/8',
    name: 'Grace',
  });

  for (const [body, field] of [
    [{ email: 'not-an-address' }, 'email'],
    [{ email: 'a@b' }, 'email'],
    [{}, 'email'],
    [{ email: ['x@example.org'] }, 'email'],
    [{ email: address('api'), cadence: 'daily' }, 'cadence'],
    [{ email: address('api'), name: 'x'.repeat(201) }, 'name'],
  ] as const) {
    const res = await postJson(subscribeUrl(), body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { code: string; message: string; details: { field: string } } };
    expect(json.error.code).toBe('invalid_input');
    expect(json.error.message).toMatch(new RegExp(`^${field}:`));
  }

  const unknownList = await postJson(`${app.baseUrl}/lists/no-such-list/subscribe`, { email });
  expect(unknownList.status).toBe(404);
  expect(await unknownList.json()).toEqual({ error: { code: 'not_found', message: 'no list "no-such-list"' } });
});

test('an invalid address on the form gets the form back with a clear message and the values kept', async () => {
  const res = await postForm(subscribeUrl(), { email: 'ada@', name: '<script>alert(1)</script>', cadence: 'monthly' });
  expect(res.status).toBe(400);
  const body = await res.text();
  expect(body).toContain('Enter a valid email address');
  expect(body).toMatch(/id="email" name="email" type="email" value="ada@"[^>]*aria-invalid="true" aria-describedby="email-error"/);
  expect(body).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"');
  expect(body).not.toContain('<script>');
  expect(body).toMatch(/id="cadence-monthly" name="cadence" value="monthly" checked/);
});

test('the honeypot: a filled hidden field is answered like success and nothing happens', async () => {
  const email = address('bot');
  const human = await postForm(subscribeUrl(), { email: address('human'), website: '' });
  const bot = await postForm(subscribeUrl(), { email, website: 'http://spam.example' });
  expect(bot.status).toBe(200);
  expect(await bot.text()).toBe(await human.text());
  await queueIdle(app.queues);
  expect(await subscriptionOf(email)).toBeUndefined();
  expect(await mailsTo(app.smtp, email)).toHaveLength(0);
});

describe('links that are wrong', () => {
  let id: string;
  let email: string;
  beforeAll(async () => {
    email = address('links');
    id = (await activeSubscriber(email)).id;
  });

  test('tampered, truncated or foreign tokens get a 400 page and change nothing', async () => {
    const good = signToken(app.config.secretKeys, 'unsubscribe', id);
    const flipped = good.slice(0, -5) + (good.at(-5) === 'A' ? 'B' : 'A') + good.slice(-4);
    const foreign = signToken(['some-other-installation-key'], 'unsubscribe', id);
    for (const bad of [flipped, good.slice(0, -3), good.slice(0, 30), foreign, 'nonsense', 'unsubscribe.x.0.y']) {
      for (const [method, body] of [
        ['GET', undefined],
        ['POST', 'List-Unsubscribe=One-Click'],
      ] as const) {
        const res = await fetch(`${app.baseUrl}/unsubscribe/${bad}`, {
          method,
          body,
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        });
        expect(res.status).toBe(400);
        const text = await res.text();
        expect(text).toContain('This link isn’t valid');
        expect(text).not.toMatch(/at .*\.ts:\d+/);
      }
    }
    const badPrefs = await postForm(`${app.baseUrl}/preferences`, { token: flipped.replace(/^unsubscribe/, 'preferences'), cadence: 'monthly' });
    expect(badPrefs.status).toBe(400);
    expect((await subscriptionOf(email))!).toMatchObject({ status: 'active', cadence: 'weekly' });
  });

  test('a token of one purpose is refused for another', async () => {
    const unsub = signToken(app.config.secretKeys, 'unsubscribe', id);
    const prefs = signToken(app.config.secretKeys, 'preferences', id);
    expect((await fetch(`${app.baseUrl}/confirm/${unsub}`, { method: 'POST' })).status).toBe(400);
    expect((await fetch(`${app.baseUrl}/preferences/${unsub}`)).status).toBe(400);
    expect((await postForm(`${app.baseUrl}/preferences/delete`, { token: unsub, confirm: 'yes' })).status).toBe(400);
    expect((await fetch(`${app.baseUrl}/unsubscribe/${prefs}`, { method: 'POST' })).status).toBe(400);
    expect((await subscriptionOf(email))!.status).toBe('active');
  });

  test('a token signed with an old key still works after a rotation', async () => {
    // This world's SECRET_KEY is NEW_KEY and its SECRET_KEY_OLD is OLD_KEY (see beforeAll).
    expect(app.config.secretKeys).toEqual([NEW_KEY, OLD_KEY]);
    const rot = await app.createList('rot');
    await postForm(`${app.baseUrl}/lists/rot/subscribe`, { email });
    const sub = (await subscriptionOf(email, rot))!;
    const old = signToken([OLD_KEY], 'preferences', sub.id);
    expect((await fetch(`${app.baseUrl}/preferences/${old}`)).status).toBe(200);
    expect((await fetch(`${app.baseUrl}/preferences/${signToken(['never-a-key-of-ours-123'], 'preferences', sub.id)}`)).status).toBe(400);
    // New links are signed with the new key: they verify under it alone, not under the old one.
    const mail = await waitForMail(app.smtp, email, /Confirm your subscription to The rot letter/);
    const fresh = (await linkIn(mail, 'confirm')).split('/').pop()!;
    expect(verifyToken([NEW_KEY], fresh, 'confirm')).toMatchObject({ ok: true, subscriptionId: sub.id });
    expect(verifyToken([OLD_KEY], fresh, 'confirm')).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  test('an expired confirmation link shows a page offering a new one, and does not confirm', async () => {
    const pendingEmail = address('expired');
    await postForm(subscribeUrl(), { email: pendingEmail });
    const sub = (await subscriptionOf(pendingEmail))!;
    await waitForMail(app.smtp, pendingEmail, /Confirm/);
    const expired = signToken(app.config.secretKeys, 'confirm', sub.id, new Date(Date.now() - 8 * DAY));

    const page = await fetch(`${app.baseUrl}/confirm/${expired}`);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain(`action="/confirm/${expired}/resend"`);
    expect((await fetch(`${app.baseUrl}/confirm/${expired}`, { method: 'POST' })).status).toBe(410);
    expect((await subscriptionOf(pendingEmail))!.status).toBe('pending');

    const resent = await fetch(`${app.baseUrl}/confirm/${expired}/resend`, { method: 'POST' });
    expect(resent.status).toBe(200);
    const fresh = await waitForMail(app.smtp, pendingEmail, /Confirm/, 2);
    expect((await fetch(await linkIn(fresh, 'confirm'), { method: 'POST' })).status).toBe(200);
    expect((await subscriptionOf(pendingEmail))!.status).toBe('active');
  });

  test('an expired preferences link points to the page that emails a fresh one', async () => {
    const expired = signToken(app.config.secretKeys, 'preferences', id, new Date(Date.now() - 400 * DAY));
    const page = await fetch(`${app.baseUrl}/preferences/${expired}`);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('href="/lists/ml-news/preferences"');
    expect((await postForm(`${app.baseUrl}/preferences/pause`, { token: expired })).status).toBe(410);
    expect((await subscriptionOf(email))!.paused).toBe(false);
  });
});

test('asking for a preferences link: the same answer for known and unknown addresses; mail only to the known', async () => {
  const known = address('known');
  await activeSubscriber(known);
  const unknown = address('unknown');
  const url = `${app.baseUrl}/lists/ml-news/preferences`;
  expect((await fetch(url)).status).toBe(200);

  const a = await postForm(url, { email: known });
  const b = await postForm(url, { email: unknown });
  expect(a.status).toBe(200);
  expect(b.status).toBe(200);
  expect(await a.text()).toBe(await b.text());

  const mail = await waitForMail(app.smtp, known, /Your link to manage/);
  const link = await linkIn(mail, 'preferences');
  expect((await fetch(link)).status).toBe(200);
  await queueIdle(app.queues);
  expect(await mailsTo(app.smtp, unknown)).toHaveLength(0);

  const invalid = await postForm(url, { email: 'nope' });
  expect(invalid.status).toBe(400);
  expect(await invalid.text()).toContain('Enter a valid email address');
});

test('delete me: asks first, then erases the person and keeps only a hash of the address', async () => {
  const email = address('delete');
  const { id } = await activeSubscriber(email);
  const token = signToken(app.config.secretKeys, 'preferences', id);

  const ask = await postForm(`${app.baseUrl}/preferences/delete`, { token });
  expect(ask.status).toBe(200);
  expect(await ask.text()).toContain('Yes, delete everything');
  expect(await subscriptionOf(email)).toBeDefined();

  const done = await postForm(`${app.baseUrl}/preferences/delete`, { token, confirm: 'yes' });
  expect(done.status).toBe(200);
  expect(await done.text()).toContain('Your data is deleted');
  expect(await subscriptionOf(email)).toBeUndefined();
  expect(
    await app.test.db
      .selectFrom('subscribers')
      .where(sql<string>`lower(email)`, '=', email)
      .selectAll()
      .executeTakeFirst(),
  ).toBeUndefined();
  expect(await app.test.db.selectFrom('subscription_events').where('subscription_id', '=', id).selectAll().execute()).toEqual([]);
  expect(await app.test.db.selectFrom('forgotten_emails').where('email_hash', '=', emailHash(email)).selectAll().executeTakeFirst()).toBeDefined();

  // The link now points at nothing.
  expect((await fetch(`${app.baseUrl}/preferences/${token}`)).status).toBe(404);
  expect((await fetch(`${app.baseUrl}/unsubscribe/${signToken(app.config.secretKeys, 'unsubscribe', id)}`, { method: 'POST' })).status).toBe(404);
});

test('a list in Chinese gets Chinese pages and emails', async () => {
  const email = address('zh');
  const form = await fetch(`${app.baseUrl}/lists/zh-weekly/subscribe`);
  const html = await form.text();
  expect(html).toContain('<html lang="zh-CN"');
  expect(html).toContain('订阅「机器学习周报」');
  const res = await postForm(subscribeUrl(zh), { email });
  expect(await res.text()).toContain('请查收邮件');
  const mail = await parseMail(await waitForMail(app.smtp, email, /确认/));
  expect(mail.subject).toBe('请确认订阅「机器学习周报」');
  expect(mail.html).toContain('<html lang="zh-CN"');
  expect(mail.text).toContain('链接 7 天内有效。');
});

test('a confirmation email refused with 5xx marks the subscription bounced and is not retried', async () => {
  // This world's SMTP server answers 550 for nobody-… (see beforeAll).
  const b = await app.createList('b');
  const email = address('nobody');
  await postForm(`${app.baseUrl}/lists/b/subscribe`, { email });
  const status = await eventually(async () => {
    const row = await subscriptionOf(email, b);
    return row?.status === 'bounced' && row.status;
  });
  expect(status).toBe('bounced');
  // Its job, once it has left the worker: gone (finished jobs are removed), not waiting for a retry.
  const id = (await subscriptionOf(email, b))!.id;
  const state = await eventually(async () => {
    const job = await app.queues.systemMail.getJob(`confirm:${id}`);
    const now = job ? await job.getState() : 'removed';
    return now !== 'active' && now !== 'waiting' && now;
  });
  expect(state).toBe('removed');
});

test('bodies over 100 KB get 413; malformed JSON gets 400 with a message', async () => {
  const big = await fetch(subscribeUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: address('big'), name: 'x'.repeat(101 * 1024) }),
  });
  expect(big.status).toBe(413);
  expect(await big.json()).toEqual({ error: { code: 'payload_too_large', message: expect.any(String) } });

  const bigForm = await postForm(subscribeUrl(), { email: address('big'), name: 'x'.repeat(101 * 1024) });
  expect(bigForm.status).toBe(413);

  const malformed = await fetch(subscribeUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email": "a@example.org",' });
  expect(malformed.status).toBe(400);
  const json = (await malformed.json()) as { error: { code: string; message: string } };
  expect(json.error.code).toBe('invalid_input');
  expect(json.error.message).toMatch(/malformed JSON/);
});

test('unknown lists and paths get a friendly 404 page, without a stack trace', async () => {
  const res = await fetch(`${app.baseUrl}/lists/nope`, { headers: { accept: 'text/html' } });
  expect(res.status).toBe(404);
  const text = await res.text();
  expect(text).toContain('<html lang="en"');
  expect(text).toContain('Nothing here');
  const zhRes = await fetch(`${app.baseUrl}/confirm/garbage`, { headers: { 'accept-language': 'zh-CN,zh;q=0.9' } });
  expect(zhRes.status).toBe(400);
  expect(await zhRes.text()).toContain('这个链接无效');
});
