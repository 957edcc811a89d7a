import type { Browser, Page } from 'playwright-core';
import { compilePersonalization } from '../../src/issues/personalize';
import { renderIssue } from '../../src/issues/render';
import { loadTemplates } from '../../src/issues/templates';
import { goldenContext, loadGolden } from '../fixtures/golden';
import { blockRemoteRequests, hasChromium, launchBrowser } from '../helpers/browser';

let browser: Browser;
let html: string;

beforeAll(async () => {
  if (!hasChromium()) throw new Error('Chromium is missing at /usr/bin/chromium (apt-get install chromium)');
  const issue = loadGolden();
  const rendered = await renderIssue(issue, goldenContext(issue), loadTemplates());
  html = compilePersonalization(rendered.html).fill(
    {
      name: 'Anna',
      preferences_url: 'http://localhost:3000/preferences/t',
      unsubscribe_url: 'http://localhost:3000/unsubscribe/t',
      web_url: 'http://localhost:3000/lists/ml-news/archive/x',
    },
    'html',
  );
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
});

async function open(width: number, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 900 }, colorScheme });
  // Images are remote (or on a localhost nobody serves): their width/height attributes hold
  // the layout either way, and the test never waits on the network.
  await blockRemoteRequests(page);
  await page.setContent(html, { waitUntil: 'load' });
  return page;
}

type Box = { x: number; y: number; width: number; height: number };

/** The first item with an image: the image's box and the box of the item's text beside it. */
async function firstMediaItem(page: Page): Promise<{ image: Box; text: Box }> {
  const boxes = await page.evaluate(() => {
    const img = document.querySelector('.bs-media-img img');
    const text = document.querySelector('.bs-media-img + .bs-media-text');
    const box = (el: Element | null) => {
      if (!el) return null;
      const r = el.getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    };
    return { image: box(img), text: box(text) };
  });
  if (!boxes.image || !boxes.text) throw new Error('no item with an image in the rendered issue');
  return { image: boxes.image, text: boxes.text };
}

describe('the golden issue in Chromium', () => {
  it('fits a 375 px phone without horizontal scrolling, and every image has alt text', async () => {
    const page = await open(375);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    const alts = await page.$$eval('img', (imgs) => imgs.map((img) => img.getAttribute('alt')));
    expect(alts.length).toBeGreaterThan(0);
    for (const alt of alts) expect(alt).not.toBeNull();
    await page.close();
  });

  it('puts the image beside the item text on a wide screen', async () => {
    const page = await open(700);
    const { image, text } = await firstMediaItem(page);
    expect(image.width).toBeGreaterThan(150);
    expect(image.x + image.width).toBeLessThanOrEqual(text.x); // left of the text
    expect(image.y).toBeLessThan(text.y + text.height); // and on the same row
    expect(text.y).toBeLessThan(image.y + image.height);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(700);
    await page.close();
  });

  it('stacks the image above the item text on a phone, at the full width', async () => {
    const page = await open(375);
    const { image, text } = await firstMediaItem(page);
    expect(image.y + image.height).toBeLessThanOrEqual(text.y);
    expect(image.width).toBeGreaterThan(300);
    expect(Math.abs(image.x - text.x)).toBeLessThan(1);
    await page.close();
  });

  it('keeps every text at 13 px or more and the body at 16 px with a line height of at least 1.6', async () => {
    const page = await open(700);
    const { smallest, body } = await page.evaluate(() => {
      let min = Infinity;
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const el = node.parentElement;
        if (!el || !node.textContent?.trim() || el.closest('[style*="display:none"]')) continue;
        min = Math.min(min, parseFloat(getComputedStyle(el).fontSize));
      }
      const p = document.querySelector('.bs-media-text p:last-child') as HTMLElement;
      const style = getComputedStyle(p);
      return { smallest: min, body: { size: parseFloat(style.fontSize), lineHeight: parseFloat(style.lineHeight) } };
    });
    expect(smallest).toBeGreaterThanOrEqual(13);
    expect(body.size).toBe(16);
    expect(body.lineHeight / body.size).toBeGreaterThanOrEqual(1.6);
    await page.close();
  });

  it('switches to dark colours when the reader prefers them', async () => {
    const page = await open(700, 'dark');
    const colours = await page.evaluate(() => {
      const card = document.querySelector('.bs-card') as HTMLElement;
      const h1 = document.querySelector('h1') as HTMLElement;
      return { card: getComputedStyle(card).backgroundColor, h1: getComputedStyle(h1).color };
    });
    expect(colours.card).toBe('rgb(29, 30, 34)');
    expect(colours.h1).toBe('rgb(232, 230, 225)');
    await page.close();
  });
});
