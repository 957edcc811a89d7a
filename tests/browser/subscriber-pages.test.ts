import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { signToken } from '../../src/subscribers/tokens';
import { CHROMIUM_PATH, hasChromium, launchBrowser } from '../helpers/browser';
import { address, linkIn, postForm, startWorld, waitForMail, type World } from '../helpers/world';

/**
 * The reader's pages in real Chromium at phone width (375 px), used with the keyboard only,
 * with no console errors (a CSP violation would be one). With SCREENSHOT_DIR set, full-page
 * screenshots of every step are written there for a human to look at (about a second each,
 * so not by default).
 *
 * One page for the file, each step a fresh navigation of it: a new page costs a renderer
 * process, and nothing of one page's visit outlives the next navigation (these pages set no
 * cookie, and the focus starts from the top of each new document).
 */

const SHOTS = process.env.SCREENSHOT_DIR;

describe('subscriber pages in Chromium', () => {
  let app: World;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    // A missing browser fails the run: a skipped browser test would pass without testing anything.
    if (!hasChromium()) throw new Error(`Chromium is missing at ${CHROMIUM_PATH} (apt-get install chromium)`);
    if (SHOTS) fs.mkdirSync(SHOTS, { recursive: true });
    app = await startWorld({ app: true, list: false });
    await app.createList('ml-news', {
      name: 'ML Monthly Summary',
      sections: [
        { id: 'papers', title: 'Papers' },
        { id: 'tools', title: 'Tools and libraries' },
        { id: 'events', title: 'Events' },
      ],
    });
    await app.createList('zh-weekly', { name: '机器学习周报', language: 'zh-CN' });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 500) problems.push(`${r.status()} ${r.url()}`);
    });
  });

  beforeEach(() => {
    problems = [];
  });

  afterEach(() => {
    expect(problems).toEqual([]);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await app?.close();
  });

  async function open(url: string): Promise<Page> {
    await page.goto(url);
    return page;
  }

  /** Nothing wider than the phone: no sideways scrolling. */
  async function expectFitsPhone(page: Page) {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(375);
  }

  async function focused(page: Page): Promise<string> {
    return page.evaluate(() => {
      const el = document.activeElement as HTMLInputElement | HTMLButtonElement | null;
      if (!el) return '';
      return `${el.tagName.toLowerCase()}#${el.id || ''}[${(el as HTMLInputElement).type || ''}]${el.textContent?.trim() ? ` ${el.textContent.trim()}` : ''}`;
    });
  }

  async function shot(page: Page, name: string) {
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  }

  test('subscribe with the keyboard only, then confirm from the email', async () => {
    const email = address('kbd');
    const page = await open(`${app.baseUrl}/lists/ml-news`);
    await expectFitsPhone(page);
    await shot(page, '1-subscribe');
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    expect(await page.title()).toBe('Subscribe to ML Monthly Summary');

    // Tab order: email, name, the cadence group, the button; the honeypot is skipped.
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('input#email[email]');
    await page.keyboard.type('not an address');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('input#name[text]');
    await page.keyboard.type('Ada');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('input#cadence-weekly[radio]');
    await page.keyboard.press('ArrowDown');
    expect(await page.locator('#cadence-monthly').isChecked()).toBe(true);
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('button#[submit] Subscribe');
    await page.keyboard.press('Enter');

    // A wrong address: the form comes back, the field says why and has the focus.
    await page.waitForSelector('#email-error');
    expect(await focused(page)).toBe('input#email[email]');
    expect(await page.locator('#email').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#email-error').innerText()).toContain('Enter a valid email address');
    expect(await page.locator('#name').inputValue()).toBe('Ada');
    expect(await page.locator('#cadence-monthly').isChecked()).toBe(true);
    await shot(page, '2-subscribe-error');
    problems = problems.filter((p) => !p.includes('400')); // the 400 answer itself is expected

    await page.keyboard.press('Control+A');
    await page.keyboard.type(email);
    await page.keyboard.press('Enter');
    await page.waitForSelector('text=Check your inbox');
    await expectFitsPhone(page);
    await shot(page, '3-check-inbox');

    const link = await linkIn(await waitForMail(app.smtp, email, /Confirm/), 'confirm');
    const confirm = await open(link);
    await expectFitsPhone(confirm);
    await shot(confirm, '4-confirm');
    // The button has the focus: Enter confirms.
    expect(await focused(confirm)).toBe('button#[submit] Confirm my subscription');
    await confirm.keyboard.press('Enter');
    await confirm.waitForSelector('text=You’re subscribed');
    await shot(confirm, '5-confirmed');
    const sub = await app.test.db.selectFrom('subscriptions').selectAll().where('consent_user_agent', 'like', '%Chrom%').executeTakeFirstOrThrow();
    expect(sub).toMatchObject({ status: 'active', cadence: 'monthly' });
  });

  async function activeSubscription(): Promise<{ id: string; email: string }> {
    const email = address('prefs');
    await postForm(`${app.baseUrl}/lists/ml-news/subscribe`, { email });
    const link = await linkIn(await waitForMail(app.smtp, email, /Confirm/), 'confirm');
    await fetch(link, { method: 'POST' });
    const row = await app.test.db
      .selectFrom('subscriptions as s')
      .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
      .select('s.id')
      .where('p.email', '=', email)
      .executeTakeFirstOrThrow();
    return { id: row.id, email };
  }

  test('preferences: change cadence and sections, then pause, with the keyboard only', async () => {
    const { id } = await activeSubscription();
    const page = await open(`${app.baseUrl}/preferences/${signToken(app.config.secretKeys, 'preferences', id)}`);
    await expectFitsPhone(page);
    await shot(page, '6-preferences');

    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('input#name[text]');
    await page.keyboard.type('Grace');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('input#cadence-weekly[radio]');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('input#section-0[checkbox]');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('input#section-1[checkbox]');
    await page.keyboard.press('Space');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('button#[submit] Save preferences');
    await page.keyboard.press('Enter');
    await page.waitForSelector('text=Your preferences are saved.');
    await shot(page, '7-preferences-saved');

    const row = await app.test.db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ cadence: 'monthly', excluded_sections: ['tools'] });

    await page.getByRole('button', { name: 'Pause delivery' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('text=Delivery is paused.');
    expect((await app.test.db.selectFrom('subscriptions').select('paused').where('id', '=', id).executeTakeFirstOrThrow()).paused).toBe(true);
    await expectFitsPhone(page);
  });

  test('unsubscribe: one button, reached and pressed with the keyboard', async () => {
    const { id } = await activeSubscription();
    const page = await open(`${app.baseUrl}/unsubscribe/${signToken(app.config.secretKeys, 'unsubscribe', id)}`);
    await expectFitsPhone(page);
    await shot(page, '8-unsubscribe');
    expect(await page.locator('button').count()).toBe(1);
    expect((await app.test.db.selectFrom('subscriptions').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('active');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('button#[submit] Unsubscribe');
    await page.keyboard.press('Enter');
    await page.waitForSelector('text=You’re unsubscribed');
    await shot(page, '9-unsubscribed');
    expect((await app.test.db.selectFrom('subscriptions').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('unsubscribed');
  });

  test('a Chinese list and a broken link render well on a phone too', async () => {
    const zh = await open(`${app.baseUrl}/lists/zh-weekly/subscribe`);
    expect(await zh.locator('html').getAttribute('lang')).toBe('zh-CN');
    expect(await zh.locator('h1').innerText()).toBe('订阅「机器学习周报」');
    await expectFitsPhone(zh);
    await shot(zh, '10-subscribe-zh');

    const broken = page;
    const res = await broken.goto(`${app.baseUrl}/preferences/preferences.broken-link`);
    expect(res?.status()).toBe(400);
    // Chromium logs the 400 answer itself as a console error: expected here, only here.
    problems = problems.filter((p) => !/status of 400/.test(p));
    expect(await broken.locator('h1').innerText()).toBe('This link isn’t valid');
    await shot(broken, '11-invalid-link');
  });
});
