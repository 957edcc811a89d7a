import fs from 'node:fs';
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core';

/** Debian's Chromium; playwright-core never downloads a browser here. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function hasChromium(): boolean {
  return fs.existsSync(CHROMIUM_PATH);
}

/**
 * The features playwright-core 1.65 turns off (its chromiumSwitches), then ours: Chromium 156
 * preloads its omnibox popup, a WebUI page in a renderer process of its own, in every window
 * (a context is one): 1-1.5 s of CPU a context, often more than the test's own page, for a
 * popup no test opens (10-12 s of a browser tier's run, sampled from /proc). Chromium reads
 * only the last --disable-features, so Playwright's list is repeated here; launchBrowserServer
 * checks that it still holds all of Playwright's.
 */
const DISABLED_FEATURES = [
  // playwright-core's
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'TcpPortRandomizationWin',
  'OptimizationHints',
  'NetworkTimeServiceQuerying',
  'AimEnabled',
  'PreconnectToSearch',
  'msForceBrowserSignIn',
  'msEdgeUpdateLaunchServicesPreferredVersion',
  // ours
  'WebUIOmniboxPopup',
  'WebUIOmniboxAimPopup',
];

/** Without the network chatter of a first run (no sync, no component updates, no QUIC probes), so tests are quiet and do not hang offline. */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  `--disable-features=${DISABLED_FEATURES.join(',')}`,
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

/**
 * A Chromium that test processes connect to (the browser tier's global setup). Fails if
 * Playwright turns off a feature that DISABLED_FEATURES, which replaces its list, lacks (a
 * newer playwright-core): read from the started browser's command line.
 */
export async function launchBrowserServer(): Promise<BrowserServer> {
  const server = await chromium.launchServer({ executablePath: CHROMIUM_PATH, args: ARGS });
  const commandLine = `/proc/${server.process().pid}/cmdline`;
  if (fs.existsSync(commandLine)) {
    const lists = fs
      .readFileSync(commandLine, 'utf8')
      .split('\0')
      .filter((arg) => arg.startsWith('--disable-features='));
    const missing = lists
      .slice(0, -1)
      .flatMap((arg) => arg.slice('--disable-features='.length).split(','))
      .filter((feature) => feature && !DISABLED_FEATURES.includes(feature));
    if (missing.length) {
      await server.close();
      throw new Error(`Playwright turns off ${missing.join(', ')}: add it to DISABLED_FEATURES (tests/helpers/browser.ts)`);
    }
  }
  return server;
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
