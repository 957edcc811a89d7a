import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium; playwright-core never downloads a browser here. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function hasChromium(): boolean {
  return fs.existsSync(CHROMIUM_PATH);
}

/**
 * Real Chromium for browser tests, without the network chatter of a first run (no sync,
 * no component updates, no QUIC probes), so tests are quiet and do not hang offline.
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Requests to anything but localhost / 127.0.0.1 are aborted: a test page that references remote
 * images (an email does) must neither hang on nor depend on the internet.
 */
export async function blockRemoteRequests(page: Page): Promise<void> {
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    const local = url.protocol === 'data:' || url.protocol === 'about:' || ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    return local ? route.continue() : route.abort();
  });
}
