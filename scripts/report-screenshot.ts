/**
 * Screenshot of a report.html as Chromium renders it offline (for the README's docs/report.png):
 *   node --import tsx scripts/report-screenshot.ts OUT/report.html docs/report.png [width] [--full]
 */
import { openOffline } from '../test/report/offline-page.js';

const [file, png, width = '900'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!file || !png) throw new Error('usage: report-screenshot.ts REPORT.html OUT.png [width] [--full]');
const { browser, page, network, errors } = await openOffline(file, { width: Number(width), height: Math.round(Number(width) * 1.25) });
try {
  await page.screenshot({ path: png, fullPage: process.argv.includes('--full') });
  console.log(`${png}: ${network.length} network request(s), ${errors.length} console error(s)`);
  for (const line of [...network, ...errors]) console.log(`  ${line}`);
} finally {
  await browser.close();
}
