import type { Browser, Page } from 'playwright-core';
import type { Issue } from '../../src/issues/types';
import { emailHtml, serveImages } from '../fixtures/email-page';
import { DIGEST_DIR, GOLDEN_DIR, loadDigest, loadGolden } from '../fixtures/golden';
import { hasChromium, launchBrowser } from '../helpers/browser';

let browser: Browser;
const fixtures: Record<'golden' | 'digest', { issue: Issue; dir: string; html: string }> = {} as never;

beforeAll(async () => {
  if (!hasChromium()) throw new Error('Chromium is missing at /usr/bin/chromium (apt-get install chromium)');
  const compile = async () => {
    for (const [name, issue, dir] of [
      ['golden', loadGolden(), GOLDEN_DIR],
      ['digest', loadDigest(), DIGEST_DIR],
    ] as const) {
      fixtures[name] = { issue, dir, html: await emailHtml(issue) };
    }
  };
  // Chromium starts while the issues compile.
  [browser] = await Promise.all([launchBrowser(), compile()]);
  emailPage = await browser.newPage({ viewport: { width: 700, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
});

/**
 * One page for the file, which the tests only read: a page is a renderer process, and the
 * seven this file had (one a width, scheme and fixture), starting at once, took most of its
 * time. Each fixture is loaded into it once (its tests come one after the other).
 */
let emailPage: Page;
let shown: 'golden' | 'digest' | undefined;

/**
 * The email laid out at this width and colour scheme, its images loaded from the fixture
 * (nothing from the internet). The page is resized for the test: the new size applies the
 * media queries as a page opened at that size does, and reading a box or a style lays it out anew.
 */
async function open(width: number, colorScheme: 'light' | 'dark' = 'light', fixture: 'golden' | 'digest' = 'golden'): Promise<Page> {
  if (shown !== fixture) {
    const { issue, dir, html } = fixtures[fixture];
    await emailPage.unrouteAll();
    await serveImages(emailPage, issue, dir);
    await emailPage.setContent(html, { waitUntil: 'load' });
    shown = fixture;
  }
  await emailPage.setViewportSize({ width, height: 900 });
  await emailPage.emulateMedia({ colorScheme });
  return emailPage;
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
  });

  it('puts the image beside the item text on a wide screen', async () => {
    const page = await open(700);
    const { image, text } = await firstMediaItem(page);
    expect(image.width).toBeGreaterThan(150);
    expect(image.x + image.width).toBeLessThanOrEqual(text.x); // left of the text
    expect(image.y).toBeLessThan(text.y + text.height); // and on the same row
    expect(text.y).toBeLessThan(image.y + image.height);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(700);
  });

  it('stacks the image above the item text on a phone, at the full width', async () => {
    const page = await open(375);
    const { image, text } = await firstMediaItem(page);
    expect(image.y + image.height).toBeLessThanOrEqual(text.y);
    expect(image.width).toBeGreaterThan(300);
    expect(Math.abs(image.x - text.x)).toBeLessThan(1);
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
  });
});

interface ImageBox {
  src: string;
  complete: boolean;
  natural: { width: number; height: number };
  shown: { width: number; height: number };
  attributes: { width: number; height: number | null };
}

describe.each(['golden', 'digest'] as const)('the %s issue at reader widths', (fixture) => {
  it.each([320, 375, 700])('at %i px: no horizontal overflow, no image above its natural size, aspect ratios kept', async (width) => {
    const page = await open(width, 'light', fixture);
    const overflow = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      // Any element reaching past the right edge, e.g. a long word that did not wrap.
      wide: [...document.body.querySelectorAll('*')]
        .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
        .map((el) => el.tagName),
    }));
    expect(overflow).toEqual({ page: width, wide: [] });

    const images: ImageBox[] = await page.$$eval('.bs-media-img img', (imgs) =>
      (imgs as HTMLImageElement[]).map((img) => {
        const r = img.getBoundingClientRect();
        return {
          src: img.src,
          complete: img.complete,
          natural: { width: img.naturalWidth, height: img.naturalHeight },
          shown: { width: r.width, height: r.height },
          attributes: { width: Number(img.getAttribute('width')), height: img.hasAttribute('height') ? Number(img.getAttribute('height')) : null },
        };
      }),
    );
    expect(images.length).toBeGreaterThan(fixture === 'golden' ? 10 : 3);
    for (const image of images) {
      expect([image.src, image.complete, image.natural.width > 0]).toEqual([image.src, true, true]);
      // Never scaled up: a 40x20 badge stays 40x20 on a phone.
      expect(image.shown.width).toBeLessThanOrEqual(image.natural.width + 0.5);
      // Never cropped or squeezed: the shown box has the image's own proportions.
      const ratio = image.natural.width / image.natural.height;
      expect(Math.abs(image.shown.width / image.shown.height - ratio) / ratio).toBeLessThan(0.02);
      // Outlook's attributes are the image's proportions too, at most its own size.
      expect(image.attributes.width).toBeLessThanOrEqual(image.natural.width);
      expect(image.attributes.height).not.toBeNull();
      expect(Math.abs(image.attributes.width / (image.attributes.height as number) - ratio) / ratio).toBeLessThan(0.02);
    }
    if (fixture === 'digest') {
      const badge = images.find((image) => image.src.endsWith('/badge.png'));
      expect(badge?.shown).toEqual({ width: 40, height: 20 });
    }
  });
});
