import fs from 'node:fs';
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core';

/** Debian's Chromium; playwright-core never downloads a browser here. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function hasChromium(): boolean {
  return fs.existsSync(CHROMIUM_PATH);
}

/** Without the network chatter of a first run (no sync, no component updates, no QUIC probes), so tests are quiet and do not hang offline. */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Where the browser tier's one Chromium listens (tests/browser/global-setup.ts sets it): its
 * files connect to it instead of each starting and stopping a Chromium of their own (half a
 * second each on a busy machine). Each file still makes its own contexts, so no cookie, cache
 * or page is shared between files.
 */
export const SHARED_CHROMIUM_ENV = 'BROADSHEET_CHROMIUM_WS';

/** Real Chromium for browser tests: the tier's shared one when there is one, else one of its own. */
export async function launchBrowser(): Promise<Browser> {
  const shared = process.env[SHARED_CHROMIUM_ENV];
  if (shared) return chromium.connect(shared);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS });
}

/** A Chromium that test processes connect to (the browser tier's global setup). */
export function launchBrowserServer(): Promise<BrowserServer> {
  return chromium.launchServer({ executablePath: CHROMIUM_PATH, args: ARGS });
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
