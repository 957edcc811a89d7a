import type { BrowserServer } from 'playwright-core';
import { hasChromium, launchBrowserServer, SHARED_CHROMIUM_ENV } from '../helpers/browser';

/**
 * One Chromium for the whole browser tier (jest runs this only when a browser test is among
 * those run): the files connect to it (tests/helpers/browser.ts). The test processes are
 * started after this and inherit the address from the environment.
 */
export default async function startSharedChromium(): Promise<void> {
  // Without one, each browser test file fails on its own, saying so; the other tiers still run.
  if (!hasChromium()) return;
  const server = await launchBrowserServer();
  (globalThis as { sharedChromium?: BrowserServer }).sharedChromium = server;
  process.env[SHARED_CHROMIUM_ENV] = server.wsEndpoint();
}
