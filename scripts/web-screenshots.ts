// Screenshots of the web app for docs/: `npx tsx scripts/web-screenshots.ts`. Runs `unmask serve` and
// Debian's headless chromium (apt-get install chromium) on the default embedded model: generates,
// inpaints a box (the striped mask and the history in view), opens a result beside its source, and
// captures a phone-width page with its mask painted by touch.
import type { Page } from 'playwright-core';
import { NEWEST, drag, ready, runTask, settings } from '../test/helpers/app.ts';
import { launchChromium, startServe } from '../test/helpers/serve.ts';

const DOCS = new URL('../docs/', import.meta.url).pathname;

async function generate(page: Page, seed: number): Promise<void> {
  await ready(page);
  await settings(page, { seed, steps: 16, count: 4 });
  await runTask(page, 180_000);
}

const server = await startServe();
const browser = await launchChromium();
try {
  const desktop = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  await desktop.goto(server.url);
  await generate(desktop, 3);
  await desktop.screenshot({ path: `${DOCS}web-app-generate.png` });

  await desktop.getByRole('button', { name: 'Edit image 3 of run 1' }).click();
  await desktop.check('input[name=tool][value=box]', { force: true });
  await drag(desktop, [0.25, 0.5], [0.8, 0.95]);
  await runTask(desktop, 180_000);
  await desktop.screenshot({ path: `${DOCS}web-app-inpaint.png` });

  await desktop.getByRole('button', { name: 'Enlarge image 2 of run 2' }).click();
  await desktop.waitForSelector('#viewer[open]');
  await desktop.screenshot({ path: `${DOCS}web-app-compare.png` });
  await desktop.keyboard.press('Escape');

  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await phone.goto(server.url);
  await generate(phone, 5);
  await phone.getByRole('button', { name: 'Edit image 1 of run 1' }).click();
  await phone.check('input[name=tool][value=box]', { force: true });
  await drag(phone, [0.1, 0.1], [0.6, 0.6]);
  await phone.evaluate(() => window.scrollTo(0, 0));
  await phone.screenshot({ path: `${DOCS}web-app-phone.png` });
  process.stderr.write(`wrote ${DOCS}web-app-{generate,inpaint,compare,phone}.png (newest run: ${await desktop.getAttribute(NEWEST, 'data-run')})\n`);
} finally {
  await browser.close();
  await server.stop();
}
