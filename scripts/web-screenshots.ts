// Screenshots of the web app for docs/: `npx tsx scripts/web-screenshots.ts`. Runs `unmask serve` and
// Debian's headless chromium (apt-get install chromium), generates with the default embedded model,
// inpaints a box, and captures the desktop layout and a phone-width one.
import type { Page } from 'playwright-core';
import { launchChromium, startServe } from '../test/helpers/serve.ts';

const DOCS = new URL('../docs/', import.meta.url).pathname;

async function setValue(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(selector, (el, v) => {
    (el as HTMLInputElement).value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

async function generate(page: Page, seed: string): Promise<void> {
  await page.waitForSelector('body[data-state=ready]', { timeout: 60_000 });
  await page.uncheck('#new-seed');
  await page.fill('#seed', seed);
  await setValue(page, '#steps', '16');
  await run(page);
}

async function run(page: Page): Promise<void> {
  await page.click('#run');
  await page.waitForFunction(() => document.body.dataset.state === 'ready', undefined, { timeout: 120_000 });
}

const server = await startServe();
const browser = await launchChromium();
try {
  const desktop = await browser.newPage({ viewport: { width: 1100, height: 680 } });
  await desktop.goto(server.url);
  await generate(desktop, '3');
  await desktop.screenshot({ path: `${DOCS}web-app-generate.png` });

  await desktop.click('.result >> nth=2 >> button:has-text("Edit")');
  await desktop.check('input[name=tool][value=box]', { force: true });
  const box = (await desktop.locator('#source-a canvas.overlay').boundingBox())!;
  await desktop.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.5);
  await desktop.mouse.down();
  await desktop.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.95, { steps: 5 });
  await desktop.mouse.up();
  await run(desktop);
  await desktop.screenshot({ path: `${DOCS}web-app-inpaint.png`, fullPage: true });

  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await phone.goto(server.url);
  await generate(phone, '5');
  await phone.screenshot({ path: `${DOCS}web-app-phone.png`, fullPage: true });
  process.stderr.write(`wrote ${DOCS}web-app-{generate,inpaint,phone}.png\n`);
} finally {
  await browser.close();
  await server.stop();
}
