/** Opens a file:// page in Debian's Chromium with every non-file, non-data request refused and recorded, console errors collected. */
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
// Without these Chromium tries to reach Google services and stalls on this closed network.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface OfflinePage {
  browser: Browser;
  page: Page;
  /** URLs the page tried to reach that are neither file: nor data: (all were refused). */
  network: string[];
  /** console.error messages and uncaught page errors. */
  errors: string[];
}

export async function openOffline(file: string, viewport = { width: 1100, height: 900 }): Promise<OfflinePage> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport });
  const network: string[] = [];
  const errors: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
    network.push(url);
    return route.abort();
  });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) network.push(r.url()); });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { browser, page, network, errors };
}
