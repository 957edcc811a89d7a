/**
 * `npm run screenshots`: the golden issue as a reader sees it, at phone (375 px) and desktop
 * (700 px) width, in Debian's Chromium: docs/email-375.png and docs/email-700.png, shown in the
 * README. The top of the email: masthead, title, highlights, contents and the first items.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { emailHtml, serveImages } from '../tests/fixtures/email-page';
import { GOLDEN_DIR, loadGolden } from '../tests/fixtures/golden';
import { launchBrowser } from '../tests/helpers/browser';

const HEIGHT = 2400;

async function main(): Promise<void> {
  // The golden issue is Chinese: without a CJK font, Chromium draws empty boxes.
  if (execFileSync('fc-list', [':lang=zh'], { encoding: 'utf8' }).trim() === '') {
    throw new Error('no Chinese font for Chromium: apt-get install fonts-noto-cjk');
  }
  const issue = loadGolden();
  const html = await emailHtml(issue);
  const browser = await launchBrowser();
  try {
    for (const width of [375, 700]) {
      const page = await browser.newPage({ viewport: { width, height: HEIGHT } });
      await serveImages(page, issue, GOLDEN_DIR);
      await page.setContent(html, { waitUntil: 'load' });
      const file = path.join(__dirname, '..', 'docs', `email-${width}.png`);
      await page.screenshot({ path: file, clip: { x: 0, y: 0, width, height: HEIGHT } });
      console.log(`wrote ${path.relative(process.cwd(), file)}`);
      await page.close();
    }
  } finally {
    await browser.close();
  }
}

void main();
