import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { eventually } from '../helpers/eventually';
import { GOLDEN_DIR, loadGolden } from '../fixtures/golden';
import { insertIssue, smallIssue, startWorld, waitForMail, type World } from '../helpers/world';
import { launchBrowser } from '../helpers/browser';

/**
 * The pages that should win readers, in real Chromium on a phone (375 px) and a desktop
 * (1280 px): the home page, the subscribe page, the archive and the web version of the golden
 * issue (the Chinese seed newsletter). No horizontal overflow, no console error or warning (a
 * CSP violation or a failed image would be one), and a subscription made from the home page
 * with the keyboard alone. With SCREENSHOT_DIR set, full-page screenshots go there (docs/ for
 * the README: `SCREENSHOT_DIR=docs npx jest tests/browser/front-door.test.ts`); without it none
 * are taken (nobody looks at them, and they were a tenth of the file's time).
 *
 * One page a width, shared by the tests at that width: the pages are read, not changed, and a
 * new page costs a renderer process. Routing is on, which turns Chromium's cache off, so every
 * test still loads every byte of its page afresh.
 */
const SHOTS = process.env.SCREENSHOT_DIR ? path.resolve(process.env.SCREENSHOT_DIR) : undefined;
const WIDTHS = [375, 1280] as const;
const PAGES = [
  ['home', '/'],
  ['subscribe', '/lists/ml-news'],
  ['archive', '/lists/ml-news/archive'],
  ['web-version', '/lists/ml-news/archive/golden'],
] as const;

let app: World;
let browser: Browser;

beforeAll(async () => {
  app = await startWorld({ app: true, list: false });
  const list = await app.createList('ml-news', { language: 'zh-CN', name: '机器学习月报' });
  await app.test.db
    .updateTable('lists')
    .set({
      description: '每月精选**机器学习**领域值得一读的论文和文章：新模型、新方法，以及它们为什么重要。每期附原文链接。',
      weekly_description: '每周一期：本周最值得读的论文，每篇附一段点评',
      monthly_description: '每月一封：整月精华，忙的时候只看这一封',
      timezone: 'Asia/Shanghai',
      weekly_slot: 'mon 09:00',
      monthly_slot: '1 09:00',
    })
    .where('id', '=', list.id)
    .execute();
  const plain = await app.createList('field-notes', { name: 'Field Notes' });
  await app.test.db
    .updateTable('lists')
    .set({ description: 'Short notes from the lab, *every week*.', weekly_slot: 'fri 17:30', timezone: 'Europe/Berlin' })
    .where('id', '=', plain.id)
    .execute();
  await insertIssue(app.test.db, list.id, { ...loadGolden(), slug: 'golden' }, 'done', new Date('2021-02-28T01:00:00Z'));
  await insertIssue(
    app.test.db,
    list.id,
    smallIssue('w1', '2021-02-01', {
      language: 'zh-CN',
      title: '第 5 周：视觉 Transformer 的新进展',
      preheader: 'ViT 之后的三篇论文，以及它们各自解决了什么问题。',
    }),
    'done',
    new Date('2021-02-01T01:00:00Z'),
  );
  await insertIssue(
    app.test.db,
    list.id,
    smallIssue('w2', '2021-02-08', { language: 'zh-CN', title: '第 6 周：不用批量归一化的 NFNet', preheader: '没有批量归一化，图像分类也能又快又准。' }),
    'done',
    new Date('2021-02-08T01:00:00Z'),
  );
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

/** What went wrong in the running test: a remote request, a console error or warning, an uncaught error. */
let problems: string[] = [];
beforeEach(() => {
  problems = [];
});

/** A page, and which of its requests have not finished yet. */
interface Tab {
  page: Page;
  inFlight: Set<Request>;
}

const tabs = new Map<number, Promise<Tab>>();

/**
 * The page at one width (made at first use, then shared); the issue's images come from the
 * golden folder, anything remote is refused and reported.
 */
function tabAt(width: number): Promise<Tab> {
  let tab = tabs.get(width);
  if (!tab) {
    tab = (async () => {
      const context = await contextAt(width);
      const page = await context.newPage();
      const inFlight = new Set<Request>();
      page.on('request', (r) => inFlight.add(r));
      page.on('requestfinished', (r) => inFlight.delete(r));
      page.on('requestfailed', (r) => inFlight.delete(r));
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      return { page, inFlight };
    })();
    tabs.set(width, tab);
  }
  return tab;
}

async function contextAt(width: number): Promise<BrowserContext> {
  const phone = width < 600;
  const context = await browser.newContext({
    viewport: { width, height: phone ? 740 : 900 },
    deviceScaleFactor: phone ? 2 : 1,
    isMobile: phone,
    hasTouch: phone,
  });
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
  return context;
}

/**
 * Opens `url` at `width` and waits until everything it asked for has come. These pages have no
 * script: once the load event has fired and no request is in flight, nothing more will come,
 * which is what 'networkidle' waited for with half a second of silence on every page. A page
 * with a script (none today) still gets that wait.
 */
async function open(width: number, url: string): Promise<Page> {
  const { page, inFlight } = await tabAt(width);
  const res = await page.goto(url);
  expect(res?.status()).toBe(200);
  await eventually(() => inFlight.size === 0, { what: `every request of ${url} finished`, everyMs: 10 });
  if (await page.evaluate(() => document.scripts.length > 0)) await page.waitForLoadState('networkidle');
  return page;
}

describe.each(WIDTHS)('at %i px', (width) => {
  test.each(PAGES)('the %s page fits and says nothing in the console (screenshotted with SCREENSHOT_DIR)', async (name, url) => {
    const page = await open(width, `${app.baseUrl}${url}`);
    const overflow = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    expect(overflow.scroll).toBeLessThanOrEqual(overflow.client);
    // Every image that is there has loaded (a broken image is a blank box on the card).
    const broken = await page.evaluate(() => [...document.images].filter((img) => !img.complete || img.naturalWidth === 0).map((img) => img.src));
    expect(broken).toEqual([]);
    if (name === 'web-version') {
      // The whole issue is metres long: its foot is the subscribe call, then the forward link.
      const from = await page.locator('#subscribe').boundingBox();
      const to = await page.locator('aside[aria-labelledby="forward-title"]').boundingBox();
      expect(from && to && to.y + to.height > from.y).toBe(true);
      if (SHOTS) {
        // Its top, and its foot.
        await page.screenshot({ path: path.join(SHOTS, `front-${name}-${width}.png`) });
        await page.screenshot({
          path: path.join(SHOTS, `front-${name}-foot-${width}.png`),
          fullPage: true,
          clip: { x: 0, y: from!.y, width, height: to!.y + to!.height - from!.y },
        });
      }
    } else if (SHOTS) {
      await page.screenshot({ path: path.join(SHOTS, `front-${name}-${width}.png`), fullPage: true });
    }
    expect(problems).toEqual([]);
  });
});

test('the home page shows each list with what it is, how often it comes, its latest issue and a form', async () => {
  const page = await open(375, `${app.baseUrl}/`);
  const ml = page.locator('section[lang="zh-CN"]');
  await expect(ml.locator('h2').textContent()).resolves.toBe('机器学习月报');
  const text = (await ml.textContent()) ?? '';
  expect(text).toContain('每星期一 09:00（中国标准时间）');
  expect(text).toContain('每月 1 日 09:00（中国标准时间）');
  expect(text).toContain('机器学习总结；2021 年 2 月');
  expect(await page.locator('section[lang="en"] h2').textContent()).toBe('Field Notes');
  expect(await page.locator('section[lang="en"]').textContent()).toContain('Every Friday at 17:30 (Central European Time)');
  expect(problems).toEqual([]);
});

test('subscribing from the home page with the keyboard alone', async () => {
  const page = await open(375, `${app.baseUrl}/`);
  const email = `keyboard-${Date.now()}@example.org`;
  // Tab from the top of the page until the first list's address field has the focus.
  let tabs = 0;
  while ((await page.evaluate(() => document.activeElement?.id)) !== 'field-notes-email') {
    await page.keyboard.press('Tab');
    if (++tabs > 40) throw new Error('the address field is not reachable with Tab');
  }
  // The lists are in slug order: field-notes first. Go on to machine learning's form instead.
  while ((await page.evaluate(() => document.activeElement?.id)) !== 'ml-news-email') {
    await page.keyboard.press('Tab');
    if (++tabs > 80) throw new Error("the second list's address field is not reachable with Tab");
  }
  // Focus is visible where it is: the field has an outline.
  expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe('none');
  await page.keyboard.type(email);
  await page.keyboard.press('Tab'); // to the cadence radios (weekly is checked)
  expect(await page.evaluate(() => document.activeElement?.id)).toBe('ml-news-cadence-weekly');
  await page.keyboard.press('ArrowDown'); // monthly
  expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).value)).toBe('monthly');
  await page.keyboard.press('Tab'); // past the hidden honeypot, to the button
  expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('BUTTON');
  await Promise.all([page.waitForURL(`${app.baseUrl}/lists/ml-news/subscribe`), page.keyboard.press('Enter')]);
  expect(await page.locator('h1').textContent()).toBe('请查收邮件');
  await waitForMail(app.smtp, email, /确认/);
  const row = await app.test.db
    .selectFrom('subscriptions as s')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .innerJoin('lists as l', 'l.id', 's.list_id')
    .select(['s.status', 's.cadence', 'l.slug'])
    .where('p.email', '=', email)
    .executeTakeFirstOrThrow();
  expect(row).toEqual({ status: 'pending', cadence: 'monthly', slug: 'ml-news' });
  expect(problems).toEqual([]);
});
