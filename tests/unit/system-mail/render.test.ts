import type { List, Subscription } from '../../../src/db/schema';
import { SYSTEM_MAILS, type SystemMailKind } from '../../../src/system-mail/kinds';
import { renderSystemMail } from '../../../src/system-mail/render';
import { verifyToken, type TokenPurpose } from '../../../src/subscribers/tokens';

const config = { publicUrl: 'https://news.example.org', secretKeys: ['unit-test-secret-key-0001'] };
const now = new Date('2026-03-01T10:00:00Z');
const SUBSCRIPTION_ID = '5f0c1a9e-8d1b-4c3e-9a57-3b2f4f6d7e81';

function list(overrides: Partial<List> = {}): List {
  return {
    id: 'c2a4b6d8-0000-4000-8000-000000000001',
    slug: 'ml-news',
    name: 'ML <News> & more',
    from_address: 'ML News <news@example.org>',
    reply_to: null,
    language: 'en',
    timezone: 'UTC',
    weekly_slot: null,
    monthly_slot: null,
    sections: [],
    contact: 'Example Press · 1 Main Street',
    welcome_email: true,
    digest_title: null,
    digest_preheader: null,
    description: null,
    weekly_description: null,
    monthly_description: null,
    created_at: now,
    ...overrides,
  };
}

function subscription(overrides: Partial<Subscription> = {}): Subscription {
  return {
    id: SUBSCRIPTION_ID,
    list_id: list().id,
    subscriber_id: 'a1b2c3d4-0000-4000-8000-000000000002',
    status: 'active',
    cadence: 'monthly',
    excluded_sections: [],
    paused: false,
    consent_at: now,
    consent_ip: null,
    consent_user_agent: null,
    consent_source: 'form',
    confirmed_at: now,
    unsubscribed_at: null,
    created_at: now,
    updated_at: now,
    ...overrides,
  };
}

function render(kind: SystemMailKind, listOverrides: Partial<List> = {}) {
  return renderSystemMail(kind, { list: list(listOverrides), subscription: subscription(), config, now });
}

/** The links of one purpose in a text part, checked to be signed for this subscription. */
function links(text: string, purpose: TokenPurpose): string[] {
  const found = [...text.matchAll(new RegExp(`https://news\\.example\\.org/${purpose}/(\\S+)`, 'g'))];
  for (const [, token] of found) {
    expect(verifyToken(config.secretKeys, token, purpose, now)).toMatchObject({ ok: true, subscriptionId: SUBSCRIPTION_ID });
  }
  return found.map((m) => m[0]);
}

describe('renderSystemMail', () => {
  it('confirm: the 7-day confirmation link in both parts, the list name escaped in HTML', async () => {
    const mail = await render('confirm');
    expect(mail.subject).toBe('Confirm your subscription to ML <News> & more');
    const [url] = links(mail.text, 'confirm');
    expect(url).toBeDefined();
    expect(mail.html).toContain(`href="${url}"`);
    expect(mail.html).toContain('ML &lt;News&gt; &amp; more');
    expect(mail.html).not.toContain('ML <News>');
    expect(mail.text).toContain('The link is valid for 7 days.');
    expect(mail.text).toContain('Example Press · 1 Main Street');
    expect(mail.headers).toEqual({});
  });

  it('reminder: a fresh confirmation link in both parts, said to be the only reminder', async () => {
    const mail = await render('reminder');
    expect(mail.subject).toBe('Reminder: confirm your subscription to ML <News> & more');
    const [url] = links(mail.text, 'confirm');
    expect(url).toBeDefined();
    expect(mail.html).toContain(`href="${url}"`);
    expect(mail.html).toContain('Still want ML &lt;News&gt; &amp; more?');
    expect(mail.text).toContain('This is the only reminder we send.');
    // Like the confirmation: no unsubscribe, since there is nothing to leave yet.
    expect(links(mail.text, 'unsubscribe')).toEqual([]);
    expect(mail.headers).toEqual({});
  });

  it('welcome: the cadence sentence, preferences and one-click unsubscribe, as a newsletter has', async () => {
    const mail = await render('welcome');
    expect(mail.text).toContain('You’ll receive one digest a month.');
    const [unsubscribe] = links(mail.text, 'unsubscribe');
    expect(links(mail.text, 'preferences').length).toBeGreaterThan(0);
    const token = unsubscribe!.slice(unsubscribe!.lastIndexOf('/') + 1);
    expect(mail.headers).toEqual({
      'List-Unsubscribe': `<${unsubscribe}>, <mailto:news@example.org?subject=unsubscribe%20${token}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
  });

  it('preferences: the preferences link, and nothing that downloads data', async () => {
    const mail = await render('preferences');
    expect(mail.subject).toBe('Your link to manage ML <News> & more');
    expect(links(mail.text, 'preferences').length).toBeGreaterThan(0);
    expect(mail.text).not.toContain('/export/');
  });

  it('export: a data link that lasts one hour, in both parts', async () => {
    const mail = await render('export');
    expect(mail.subject).toBe('Your data from ML <News> & more');
    const [url] = links(mail.text, 'export');
    expect(mail.html).toContain(`href="${url}"`);
    const check = verifyToken(config.secretKeys, url!.split('/').pop(), 'export', now);
    expect(check.ok && check.expiresAt?.getTime()).toBe(now.getTime() + 60 * 60_000);
  });

  it('speaks the list’s language', async () => {
    const mail = await render('export', { language: 'zh-CN', name: '机器学习周报' });
    expect(mail.subject).toBe('你在「机器学习周报」的数据');
    expect(mail.html).toContain('<html lang="zh-CN"');
    expect(mail.text).toContain('一小时内有效');
  });

  it('renders every kind of the table in every language with no placeholder left', async () => {
    for (const kind of Object.keys(SYSTEM_MAILS) as SystemMailKind[]) {
      for (const language of ['en', 'zh-CN']) {
        const mail = await render(kind, { language, name: 'Plain {list} {{url}}' });
        expect(mail.subject).not.toBe('');
        // The list's own name may spell a placeholder: it is filled once, never expanded again.
        expect(mail.html.replaceAll('Plain {list} {{url}}', '')).not.toMatch(/\{\{|\{[a-z_]+\}|%%/);
        expect(mail.text.replaceAll('Plain {list} {{url}}', '')).not.toMatch(/\{\{|\{[a-z_]+\}|email\./);
        expect(mail.text).toContain('\n-- \n');
        expect(mail.html).toContain('Plain {list} {{url}}');
      }
    }
  });
});
