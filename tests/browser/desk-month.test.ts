import fs from 'node:fs';
import path from 'node:path';
import { DateTime } from 'luxon';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { addEditor } from '../../src/editors/service';
import { parseMail } from '../../src/mail/capture';
import { GOLDEN_DIR, GOLDEN_FILE } from '../fixtures/golden';
import { CHROMIUM_PATH, hasChromium, launchBrowser } from '../helpers/browser';
import { startWorld, type World } from '../helpers/world';
import { eventually } from '../helpers/eventually';

/**
 * An editor's month on the desk, in real Chromium, with the real app, workers, scheduler and
 * an SMTP server: sign in by link, create the list on the desk's form (a mistake first), import
 * readers, upload an issue with a mistake, see it, fix it, preview it as a monthly reader, send
 * a test, schedule it two minutes ahead, watch it go out live, read its report, find a reader
 * and unsubscribe them, see the coming digest. At 1280 px, then the pages again at 375 px; no
 * console error or warning of any kind (a 4xx page is one), no CSP violation, no page wider
 * than the screen. Signing in, the list form, scheduling and finding a reader are done with the
 * keyboard alone (Tab to reach, type, Space and Enter to act), so that each is proven usable
 * without a mouse.
 *
 * Time: the app and the scheduler share a clock the test moves forward, so "two minutes ahead"
 * comes in a second; the scheduler ticks every 200 ms and the send's page hears its numbers
 * every 100 ms (PROGRESS_EVENTS_MS). The send is planned and sent by the real workers; to be
 * watched mid-way without waiting out a slow SEND_RATE, the SMTP server holds its answer to
 * the first reader until the page shows the send live (so it starts from 0), and to reader
 * HOLD_AT until the page has shown a number between (so there is one to see, however slow the
 * machine).
 *
 * With DESK_SCREENSHOTS=1 (npm run screenshots:desk) the pages are saved to docs/.
 */

const SHOTS = process.env.DESK_SCREENSHOTS ? path.join(__dirname, '../../docs') : undefined;
const ZONE = 'Europe/Berlin';
const READERS = 40;
const MONTHLY = 5;
const HOLD_AT = 21;

/** A promise the test settles: the SMTP server's answer to a reader waits for it. */
function gate(): { opened: Promise<void>; open(): void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}
const live = gate();
const midwayShown = gate();
let readersAsked = 0;

let offsetMs = 0;
const clock = () => new Date(Date.now() + offsetMs);

let app: World;
let browser: Browser;
let problems: string[];
const editorEmail = 'editor@example.org';

beforeAll(async () => {
  if (!hasChromium()) throw new Error(`Chromium is missing at ${CHROMIUM_PATH} (apt-get install chromium)`);
  app = await startWorld({
    app: true,
    list: false,
    clock,
    scheduler: { clock, intervalMs: 200, lateAfterMs: 10_000 },
    env: { SEND_BATCH_SIZE: '10', SEND_CONCURRENCY: '1', REPAIR_INTERVAL_SECONDS: '1', PROGRESS_EVENTS_MS: '100' },
    // One connection (SEND_CONCURRENCY 1): the readers are asked for one after another.
    onRcpt: async (address) => {
      if (!address.startsWith('reader-')) return undefined;
      const n = ++readersAsked;
      if (n === 1) await live.opened;
      if (n === HOLD_AT) await midwayShown.opened;
      return undefined;
    },
  });
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  // A test that failed half-way leaves no SMTP answer waiting.
  live.open();
  midwayShown.open();
  await browser?.close();
  await app?.close();
});

async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()} on ${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror on ${page.url()}: ${e.message}`));
  return page;
}

/** Nothing on the page is wider than the screen (a table may scroll inside its own region). */
async function fitsTheScreen(page: Page): Promise<void> {
  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: window.innerWidth }));
  expect([page.url(), widths.page]).toEqual([page.url(), widths.screen]);
}

/**
 * Every CSP violation of every frame, as a console error: Chromium reports most of them in the
 * console already, this makes sure none goes unseen (a blocked frame, a preview's iframe).
 */
async function watchCsp(context: BrowserContext): Promise<void> {
  await context.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`)),
  );
}

/**
 * Presses Tab until `target` has the focus (as a keyboard user reaches it); fails if it never
 * does. The presses that surely come before it go one after another without a question
 * between them (a round trip each, most of this test's time on a busy machine); from there on,
 * whether the focus has arrived is asked after every press, as before.
 */
async function tabTo(page: Page, target: Locator): Promise<void> {
  const element = await target.elementHandle();
  try {
    const ahead = await element.evaluate(tabStopsBefore);
    for (let i = 0; i < 80; i++) {
      if (i >= ahead && (await element.evaluate((el) => el === document.activeElement))) return;
      await page.keyboard.press('Tab');
    }
  } finally {
    await element.dispose();
  }
  throw new Error(`Tab never reached ${target.toString()} (focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))})`);
}

/**
 * How many Tab presses at least lie between the focus and `target`: the elements after the
 * focus and before the target in document order that are tab stops for certain (links,
 * buttons, fields that are shown, enabled and not taken out of the order). Anything in doubt
 * is not counted (radio buttons, frames, positive tabindex anywhere), so the count is never
 * more than the presses needed and the last ones are always asked about.
 */
function tabStopsBefore(target: Element): number {
  if (document.querySelector('[tabindex]:not([tabindex="0"]):not([tabindex^="-"])')) return 0;
  const from = document.activeElement && document.activeElement !== document.body ? document.activeElement : null;
  if (from && !(from.compareDocumentPosition(target) & Node.DOCUMENT_POSITION_FOLLOWING)) return 0;
  let n = 0;
  for (const el of document.querySelectorAll<HTMLElement>('a[href], button, input, select, textarea')) {
    if (el === target) return n;
    if (from && !(from.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING)) continue;
    const shown = el.getClientRects().length > 0 && getComputedStyle(el).visibility === 'visible';
    const skipped = el.matches(':disabled, [tabindex^="-"], input[type=hidden], input[type=radio]') || el.closest('[inert]');
    if (shown && !skipped) n++;
  }
  return 0;
}

/** Tabs to a text field, selects what is in it and types `text` over it. */
async function typeInto(page: Page, target: Locator, text: string): Promise<void> {
  await tabTo(page, target);
  await page.keyboard.press('Control+A');
  await page.keyboard.type(text);
}

async function visible(locator: Locator, timeout = 10_000): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout });
}

async function hasText(locator: Locator, text: string, timeout = 10_000): Promise<void> {
  await eventually(async () => (await locator.first().textContent())?.trim() === text, timeout).catch(async () => {
    throw new Error(`expected "${text}", found "${(await locator.first().textContent())?.trim()}"`);
  });
}

async function containsText(locator: Locator, text: string, timeout = 10_000): Promise<void> {
  await eventually(async () => (await locator.first().textContent())?.includes(text), timeout).catch(async () => {
    throw new Error(`expected to contain "${text}": "${(await locator.first().textContent())?.slice(0, 300)}"`);
  });
}

async function shot(page: Page, name: string): Promise<void> {
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

test('an editor runs a month on the desk', async () => {
  problems = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  await watchCsp(context);
  const page = await newPage(context);
  const base = app.baseUrl;

  // Sign in by the link `broadsheet editors add` prints (and emails), by keyboard.
  const { link } = await addEditor({ db: app.test.db, config: app.config }, { email: editorEmail, role: 'owner' });
  await page.goto(link);
  await tabTo(page, page.getByRole('button', { name: 'Sign in' }));
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/admin`);

  // Create the list on the desk's form, by keyboard from the home's link on. A time zone with
  // a typo first: the form comes back with the problem next to its field, and what was typed.
  const list = 'desk-news';
  await tabTo(page, page.getByRole('link', { name: 'Create the first one' }));
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/admin/lists/new`);
  await typeInto(page, page.locator('#slug'), list);
  await typeInto(page, page.locator('#name'), 'Desk <News> & Co');
  await typeInto(page, page.locator('#from'), 'Desk News <news@example.org>');
  await typeInto(page, page.locator('#timezone'), 'Europe/Berlim');
  await typeInto(page, page.locator('#weekly'), 'mon 09:00');
  await typeInto(page, page.locator('#monthly'), '1 09:00');
  await typeInto(page, page.locator('#contact'), 'Example Press · 1 Main Street · Berlin');
  await tabTo(page, page.getByRole('button', { name: 'Create the list' }));
  await page.keyboard.press('Enter');
  await containsText(page.locator('#timezone-error'), 'Europe/Berlim');
  expect(await page.locator('#timezone').getAttribute('aria-describedby')).toContain('timezone-error');
  expect(await page.inputValue('#name')).toBe('Desk <News> & Co');
  await typeInto(page, page.locator('#timezone'), ZONE);
  await page.keyboard.press('Enter'); // Enter in a field submits its form
  await page.waitForURL(`${base}/admin/lists/${list}`);
  await hasText(page.getByRole('heading', { level: 1 }), 'Desk <News> & Co');
  const made = await app.test.db.selectFrom('lists').selectAll().where('slug', '=', list).executeTakeFirstOrThrow();
  expect(made).toMatchObject({ timezone: ZONE, weekly_slot: 'mon 09:00', monthly_slot: '1 09:00', from_address: 'Desk News <news@example.org>' });

  // Readers, by the desk's CSV import.
  const csv = [
    'email,name,cadence',
    ...Array.from({ length: READERS }, (_, i) => `reader-${i + 1}@example.org,Reader ${i + 1},weekly`),
    ...Array.from({ length: MONTHLY }, (_, i) => `monthly-${i + 1}@example.org,,monthly`),
  ].join('\n');
  await page.goto(`${base}/admin/lists/${list}/subscribers/import`);
  await page.setInputFiles('#file', { name: 'readers.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.check('#confirmed');
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await visible(page.getByText('Finished.'), 20_000);
  expect(await page.locator('pre').textContent()).toContain(`imported ${READERS + MONTHLY}`);

  // An issue with a mistake, its JSON and images picked as files.
  const issue = JSON.parse(fs.readFileSync(GOLDEN_FILE, 'utf8'));
  issue.list = list;
  issue.slug = 'first-week';
  issue.date = DateTime.fromJSDate(clock(), { zone: ZONE }).toISODate();
  issue.title = 'First <week> & more';
  issue.sections[1].items[0].url = 'not a link';
  const broken = JSON.stringify(issue, null, 2);
  const images = [...new Set<string>(issue.sections.flatMap((s: any) => s.items.map((i: any) => i.image?.src)).filter(Boolean))];
  await page.goto(`${base}/admin/lists/${list}/issues`);
  await page.setInputFiles('#files', [
    { name: 'issue.json', mimeType: 'application/json', buffer: Buffer.from(broken) },
    ...images.map((src) => ({ name: path.basename(src), mimeType: 'image/png', buffer: fs.readFileSync(path.join(GOLDEN_DIR, src)) })),
  ]);
  await page.locator('form[enctype="multipart/form-data"] button[type=submit]').click();
  const problem = page.locator('table tbody tr').filter({ hasText: '/sections/1/items/0/url' });
  await visible(problem);
  const line = broken.split('\n').findIndex((l) => l.includes('"not a link"')) + 1;
  await hasText(problem.locator('td').first(), String(line));

  // Fix it on the page; the images uploaded with it are kept.
  await page.fill('#json', broken.replace('"not a link"', '"https://example.org/fixed"'));
  await page.getByRole('button', { name: 'Check and store' }).click();
  await visible(page.getByText('The issue is stored.'));
  await hasText(page.getByRole('heading', { level: 1 }), 'First <week> & more');
  const issuePage = page.url();

  // Preview as a monthly reader, at phone and desktop width.
  await page.selectOption('#cadence', 'monthly');
  await page.getByRole('button', { name: 'Preview', exact: true }).click();
  await hasText(page.getByRole('heading', { level: 1 }), 'Preview as a monthly reader');
  await visible(page.frameLocator('iframe.phone').getByText('First <week> & more').first());
  await visible(page.frameLocator('iframe.desktop').getByText('First <week> & more').first());

  // A test email to the editor, through the worker.
  await page.goto(issuePage);
  await page.getByRole('button', { name: 'Send me a test' }).click();
  await visible(page.getByText('The test email is sent to your address.'), 30_000);
  const test = app.smtp.messages().find((m) => m.envelope.to.includes(editorEmail));
  expect((await parseMail(test!)).subject).toMatch(/^\[TEST\] /);

  // Schedule it two minutes ahead, in the list's zone, by keyboard: Tab reaches the radio group
  // on its checked choice and the arrow keys choose; the date and time are typed into the
  // field's parts (month, day, year, hour, minute, AM/PM in en-US).
  const at = DateTime.fromJSDate(clock(), { zone: ZONE }).plus({ minutes: 2 }).startOf('minute').plus({ minutes: 1 });
  await tabTo(page, page.locator('input[name=when]:checked'));
  for (let i = 0; i < 3 && !(await page.isChecked('#when-at')); i++) await page.keyboard.press('ArrowDown');
  expect(await page.isChecked('#when-at')).toBe(true);
  await tabTo(page, page.locator('#at'));
  // One key press a character (the field's parts take key events, not typed text), and an
  // arrow out of the year, which takes up to six digits.
  const keys = [...at.toFormat('LLddyyyy'), 'ArrowRight', ...at.toFormat('hhmm'), at.toFormat('a').charAt(0)];
  for (const key of keys) await page.keyboard.press(key);
  expect(await page.inputValue('#at')).toBe(at.toFormat("yyyy-LL-dd'T'HH:mm"));
  await tabTo(page, page.getByRole('button', { name: 'Schedule', exact: true }));
  await page.keyboard.press('Enter');
  await visible(page.getByText('Scheduled.'));
  await visible(page.getByText(`${at.toFormat('yyyy-LL-dd HH:mm')} ${ZONE}`).first());
  await shot(page, 'desk-issue');

  // The send's page, live: nothing moves until the (moved) clock passes the time.
  await page.getByRole('link', { name: /live progress/ }).click();
  await hasText(page.locator('[data-field=status]'), 'scheduled');
  // Move the clock to a second past the scheduled time (the scheduler sees it at its next tick).
  offsetMs += at.toMillis() - clock().getTime() + 1000;
  // The page reloads itself once the send starts (its controls change), then the numbers come
  // by Server-Sent Events into the same page: seen growing mid-way without a reload.
  // It may reload while the send is still being planned: 'planning' shows the same controls as
  // 'sending', so the page does not reload again when planning ends (send-progress.js).
  await page.locator('#live[data-status=planning], #live[data-status=sending]').waitFor({ timeout: 30_000 });
  await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));
  const sentNow = async () =>
    Number(
      (await page
        .locator('[data-field=sent]')
        .textContent()
        .catch(() => '')) || '0',
    );
  const first = await sentNow();
  live.open(); // the first reader's answer, held until now
  const midway = await eventually(async () => {
    const sent = await sentNow();
    const stayed = await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed === true).catch(() => false);
    return sent > first && sent < READERS && stayed ? sent : undefined;
  }, 30_000);
  expect(midway).toBeGreaterThan(first);
  await visible(page.getByRole('button', { name: 'Pause', exact: true }));
  await shot(page, 'desk-send');
  midwayShown.open(); // reader HOLD_AT's answer, and with it the rest of the send
  // When it is done the page reloads itself and shows the report.
  await visible(page.getByRole('heading', { name: 'Report' }), 30_000);
  await hasText(page.locator('tr').filter({ hasText: 'Delivered' }).locator('td'), String(READERS));
  await hasText(page.locator('[data-field=status]'), 'done');
  const sendPage = page.url();

  // Find a reader, with the keyboard alone, and unsubscribe them.
  await page.goto(`${base}/admin/subscribers`);
  for (let i = 0; i < 30 && (await page.evaluate(() => document.activeElement?.id)) !== 'q'; i++) await page.keyboard.press('Tab');
  await page.keyboard.type('READER-1');
  await page.keyboard.press('Enter');
  await page.waitForURL(/q=READER-1/);
  const hit = page.getByRole('link', { name: 'reader-1@example.org', exact: true });
  await hit.focus();
  await page.keyboard.press('Enter');
  await hasText(page.getByRole('heading', { level: 1 }), 'reader-1@example.org');
  await page.getByRole('button', { name: 'Unsubscribe', exact: true }).click();
  await visible(page.getByText('Unsubscribed.'));
  await containsText(page.locator('table').filter({ hasText: 'When' }).first(), 'unsubscribed');
  await shot(page, 'desk-subscriber');
  const subscriberPage = page.url();

  // The coming digest: this month's weeklies, as it would go on the 1st.
  await page.goto(`${base}/admin/lists/${list}/digest`);
  await visible(page.getByText('generated from 1 sent weekly issue'));
  await containsText(page.frameLocator('iframe.desktop').locator('body'), 'First <week> & more');

  await page.goto(`${base}/admin`);
  await shot(page, 'desk-home');
  await context.close();

  // The same pages on a phone.
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await watchCsp(phone);
  const small = await newPage(phone);
  // A second sign-in (a new browser): by a fresh link, as the editor would.
  const again = await addEditor({ db: app.test.db, config: app.config }, { email: 'phone-editor@example.org', role: 'editor' });
  await small.goto(again.link);
  await small.getByRole('button', { name: 'Sign in' }).click();
  await small.waitForURL(`${base}/admin`);
  for (const [url, name] of [
    [`${base}/admin`, 'desk-home-375'],
    [issuePage, 'desk-issue-375'],
    [sendPage, 'desk-send-375'],
    [subscriberPage, 'desk-subscriber-375'],
    [`${base}/admin/lists/${list}/issues`, ''],
    [`${base}/admin/lists/${list}/digest`, ''],
    [`${base}/admin/subscribers?q=reader`, ''],
  ] as const) {
    await small.goto(url);
    await fitsTheScreen(small);
    if (url === sendPage) {
      // The report's numbers are read without scrolling sideways (a row label with its hint
      // that did not wrap pushed them out of the table's view).
      const delivered = small.locator('tr').filter({ hasText: 'Delivered' }).locator('td');
      await hasText(delivered, String(READERS));
      const box = (await delivered.boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(375);
    }
    if (name) await shot(small, name);
  }
  expect(problems).toEqual([]);

  // And the watch itself works: an inline script put into a desk page is refused and reported.
  await small.evaluate(() => document.body.append(Object.assign(document.createElement('script'), { textContent: 'void 0' })));
  await eventually(async () => problems.some((p) => p.includes('CSP violation: script-src')), 5_000);
  await phone.close();
}, 180_000);
