import type { BrowserServer } from 'playwright-core';
import { SHARED_CHROMIUM_ENV } from '../helpers/browser';

/** Stops the browser tier's Chromium (global-setup.ts). */
export default async function stopSharedChromium(): Promise<void> {
  const holder = globalThis as { sharedChromium?: BrowserServer };
  await holder.sharedChromium?.close();
  holder.sharedChromium = undefined;
  delete process.env[SHARED_CHROMIUM_ENV];
}
