import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { GOLDEN_DIR, loadGolden } from '../fixtures/golden';
import { launchBrowser } from '../helpers/browser';
import { smallIssue, startWorld, type World } from '../helpers/world';

/**
 * The archive in real Chromium at phone width: the list of past issues, the web version of the
 * golden issue (the whole seed newsletter) and the home page, with no console errors (a CSP
 * violation or a failed image would be one) and nothing wider than the phone.
 *
 * One page for the file, each step a fresh navigation of it (a new page is a renderer
 * process). Routing is on, which turns Chromium's cache off: every visit loads every byte.
 */
describe('archive pages in Chromium at 375 px', () => {
  let app: World;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    app = await startWorld({ app: true, workers: false });
    await app.addIssue({ ...loadGolden(), slug: 'golden' }, 'done', new Date('2021-02-28T01:00:00Z'));
    await app.addIssue(smallIssue('w1', '2021-02-01'), 'done', new Date('2021-02-01T01:00:00Z'));
    await app.addIssue(smallIssue('draft', '2021-02-02'), 'draft');
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    // The asset store is the sender's part (it serves DATA_DIR/assets); here the issue's own
    // image files stand in for it. Anything else not on this machine is refused and reported.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.origin === app.baseUrl && url.pathname.startsWith('/assets/ml-news/golden/')) {
        const file = path.join(GOLDEN_DIR, decodeURIComponent(url.pathname.slice('/assets/ml-news/golden/'.length)));
        return route.fulfill({ status: 200, contentType: 'image/png', body: fs.readFileSync(file) });
      }
      if (url.origin === app.baseUrl || url.protocol === 'data:') return route.continue();
      problems.push(`remote request: ${url.href}`);
      return route.abort();
    });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
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

  async function open(url: string, status = 200): Promise<Page> {
    const res = await page.goto(url);
    expect(res?.status()).toBe(status);
    return page;
  }

  async function expectFitsPhone(page: Page) {
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  }

  test('the archive lists the sent issues and leads to the web version', async () => {
    const page = await open(`${app.baseUrl}/lists/ml-news/archive`);
    await expectFitsPhone(page);
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    expect(await page.locator('[role=listitem] h2 a').allTextContents()).toEqual(['机器学习总结；2021 年 2 月', 'Issue w1 <b>& co</b>']);
    await page.locator('[role=listitem] h2 a').first().click();
    await page.waitForURL(/\/archive\/golden$/);
    expect(await page.title()).toBe('机器学习总结；2021 年 2 月');
  });

  test('the web version shows the whole issue, its images and a subscribe form that fits', async () => {
    const page = await open(`${app.baseUrl}/lists/ml-news/archive/golden`);
    await expectFitsPhone(page);
    await page.waitForLoadState('load');
    const images = await page.evaluate(() =>
      [...document.images].filter((img) => img.src.includes('/assets/')).map((img) => ({ src: img.src, loaded: img.complete && img.naturalWidth > 0 })),
    );
    expect(images.length).toBeGreaterThan(10);
    expect(images.filter((i) => !i.loaded)).toEqual([]);
    const form = page.locator('form[action="/lists/ml-news/subscribe"]');
    await form.scrollIntoViewIfNeeded();
    expect(await form.isVisible()).toBe(true);
    const button = await form.locator('button[type=submit]').boundingBox();
    expect(button!.height).toBeGreaterThanOrEqual(44);
    expect(button!.x + button!.width).toBeLessThanOrEqual(375);
    // Back to the archive from the top of the page.
    await page.locator('nav a').first().click();
    await page.waitForURL(/\/archive$/);
  });

  test('a draft is a 404 page, and the home page lists the list', async () => {
    const missing = await open(`${app.baseUrl}/lists/ml-news/archive/draft`, 404);
    await expectFitsPhone(missing);
    // The 404 response itself is logged by Chromium as a console error: expected here, only here.
    problems = problems.filter((p) => !/status of 404/.test(p));
    const home = await open(`${app.baseUrl}/`);
    await expectFitsPhone(home);
    expect(await home.locator('a[href="/lists/ml-news/archive"]').count()).toBe(1);
  });
});
